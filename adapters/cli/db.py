"""`ecps db upgrade`: bring the database to this release's schema (the Alembic migrations)."""

from __future__ import annotations

import typer
from rich.console import Console

from adapters.cli.context import Database, Json, StateDirOpt, env
from adapters.sql import SqlStore

db = typer.Typer(help="The database's schema.", no_args_is_help=True)


@db.command("upgrade")
def upgrade(database: Database = None, state_dir: StateDirOpt = None, json: Json = False) -> None:
    """Upgrade the database to this release's schema (an empty one is created); nothing is lost.

    The store also upgrades on first use; run this to do it at a time of your choosing.
    """
    e = env(database, state_dir, json)
    if e.database is None:
        e.state.create()  # the embedded database lives in the state folder
    with SqlStore(e.url) as store:
        before, after = store.ensure_schema()

    def render(c: Console) -> None:
        if before == after:
            c.print(f"{store.where}: schema already at revision {after}")
        else:
            c.print(f"{store.where}: schema upgraded from revision {before or '(empty)'} to {after}")
    e.out.emit({"database": store.where, "from": before, "to": after}, render)


def register(app: typer.Typer) -> None:
    """Add the `db` group to `app`."""
    app.add_typer(db, name="db", rich_help_panel="Operations")
