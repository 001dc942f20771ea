"""`ecps`: the command line of the e-CPS activation engine (typer + rich).

`main()` is the console script; each module registers one group of commands.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from adapters.cli import context
from adapters.cli.context import Database, Json, StateDirOpt
from adapters.cli.output import exit_codes_table
from workflow.errors import WorkflowError

HELP = """Activate a health professional's e-CPS without a CPS card, from the shell.

[bold]ecps demo[/] runs one whole activation on embedded defaults: start here.

Every step is also a command of its own, against the state folder (./.ecps/) \
or the database given by --database or ECPS_DATABASE_URL.
"""

EPILOG = (
    "[bold]Examples[/]\n"
    "  ecps demo                              one whole activation, in seconds\n"
    "  ecps request 899700366240 --send       ask; the e-mail goes to .ecps/mail/\n"
    "  ecps scan --eml .ecps/mail/<file>.eml  the phone scans the QR code\n"
    "  ecps dispatch                          the SMS goes to .ecps/sms.txt\n"
    "  ecps verify-sms <ID>                   submit the code of the last SMS\n"
    "  echo 4821 | ecps set-pin <ID>          then the same with confirm-pin\n"
    "  ecps status <ID> --json                state, history, deadline, attempts\n"
    "  ecps serve --port 8000                 the HTTP API (OpenAPI at /docs)\n\n"
    "[bold]Exit codes[/] (an error prints one line on stderr; with --json, a JSON object)\n"
    + exit_codes_table()
)

app = typer.Typer(
    name="ecps", help=HELP, epilog=EPILOG, rich_markup_mode="rich", no_args_is_help=True,
    add_completion=False, pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"ecps-workflow {version('ecps-workflow')}")
        except PackageNotFoundError:
            typer.echo("ecps-workflow (not installed)")
        raise typer.Exit


@app.callback()
def root(
    database: Database = None, state_dir: StateDirOpt = None, json: Json = False,
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Options given before the command apply to it (a command's own options win)."""
    context.ROOT = context.Common(database, Path(state_dir) if state_dir else None, json)


def _register() -> None:
    from adapters.cli import db, demo, flow, history, ops

    demo.register(app)
    flow.register(app)
    history.register(app)
    db.register(app)
    ops.register(app)


_register()


def main(argv: list[str] | None = None) -> None:
    """Run `ecps`; exit with the code of the error kind when a command fails."""
    try:
        app(args=argv, prog_name="ecps")  # usage errors exit 2 here, with their message
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # a refusal, a configuration error, Graphviz missing...
        if os.environ.get("ECPS_DEBUG") and not isinstance(exc, WorkflowError):
            raise
        sys.exit(context.CURRENT.out.error(exc))
