"""`ecps db upgrade`: bring the database to this release's schema (the Alembic migrations), and
seal the rows written before seals that their trails vouch for."""

from __future__ import annotations

import typer
from rich.console import Console

from adapters.cli.context import Database, Json, StateDirOpt, env
from adapters.sql import SqlStore

db = typer.Typer(help="The database's schema.", no_args_is_help=True)


@db.command("upgrade")
def upgrade(database: Database = None, state_dir: StateDirOpt = None, json: Json = False) -> None:
    """Upgrade the database to this release's schema (an empty one is created); nothing is lost.

    The store also upgrades on first use; run this to do it at a time of your choosing. With
    the server key (configured, or in the state folder; none is made), the activations written
    before rows were sealed are sealed too, each once its audit trail vouches for it: the
    service refuses an unsealed row.
    """
    from workflow import config
    from workflow.definition import WORKFLOW
    from workflow.engine import Interpreter
    from workflow.security import Keyring
    from workflow.verification import Finding, seal_legacy

    e = env(database, state_dir, json)
    if e.database is None:
        e.state.create()  # the embedded database lives in the state folder
    with SqlStore(e.url) as store:
        before, after = store.ensure_schema()
        try:
            settings = e.existing_settings()
        except config.ConfigError:
            settings = None  # no key here: nothing can be sealed
        sealed, left = 0, list[Finding]()
        if settings is not None:
            sealed, left = seal_legacy(store, Keyring(settings), Interpreter(WORKFLOW, settings))

    def render(c: Console) -> None:
        if before == after:
            c.print(f"{store.where}: schema already at revision {after}")
        else:
            c.print(f"{store.where}: schema upgraded from revision {before or '(empty)'} to {after}")
        if settings is None:
            c.print("no server key here: rows written before seals, if any, stay unsealed (and "
                    "refused) until this runs with the key (--state-dir, ECPS_SECRET_KEY_FILE)")
        if sealed:
            c.print(f"sealed {sealed} activation(s) written before seals, each vouched for by its trail")
        if left:
            ids = len({f.activation_id for f in left})
            c.print(f"left {ids} unsealed activation(s) that disagree with their trails: "
                    "ecps audit verify names what differs")
    e.out.emit({"database": store.where, "from": before, "to": after, "sealed": sealed,
                "left_unsealed": len({f.activation_id for f in left}),
                "key": settings is not None}, render)


def register(app: typer.Typer) -> None:
    """Add the `db` group to `app`."""
    app.add_typer(db, name="db", rich_help_panel="Operations")
