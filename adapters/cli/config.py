"""`ecps config show`: the effective settings of this environment, with secrets redacted."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from adapters.cli.context import Database, Json, StateDirOpt, env
from workflow.config import describe

config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)


@config_app.command("show")
def show(database: Database = None, state_dir: StateDirOpt = None, json: Json = False) -> None:
    """Print the effective settings (defaults, ECPS_* variables, server key), secrets redacted.

    Example: [bold]ECPS_PIN_LENGTH=6 ecps config show[/]   [bold]ecps config show --json[/]
    """
    e = env(database, state_dir, json)
    settings = e.service().settings
    rows = [("database", _without_password(e.url)), ("state_dir", str(e.state.root)),
            *describe(settings)]

    def render(c: Console) -> None:
        table = Table(show_edge=False, pad_edge=False)
        table.add_column("setting", style="cyan")
        table.add_column("value")
        for name, value in rows:
            table.add_row(name, value)
        c.print(table)

    e.out.emit(dict(rows), render)


def _without_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.rsplit("@", maxsplit=1)[-1]


def register(app: typer.Typer) -> None:
    """Add `ecps config` to `app`."""
    app.add_typer(config_app, name="config", rich_help_panel="Operations")
