"""The `ecps` application: the root command, its options, and `run()`, which turns every failure
into one line on stderr (or one JSON object with `--json`) and the exit code of its kind.

Each module registers one group of commands.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import TextIO

import typer

from adapters.cli import context, pressed_ctrl_c
from adapters.cli.context import Database, Json, StateDirOpt
from adapters.cli.output import USAGE, OneLine, Output, exit_codes_table, translated
from adapters.logs import redact
from workflow.errors import InvalidInput, WorkflowError

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
    "  ecps verify-sms <ID>                   submit the code of its last SMS\n"
    "  echo 4821 | ecps set-pin <ID>          then the same with confirm-pin\n"
    "  ecps status <ID> --json                state, history, deadline, attempts\n"
    "  ecps serve --port 8000                 the HTTP API (OpenAPI at /docs, console at /console)\n"
    "  ecps serve --dev                       and the phone simulator at /console/phone\n\n"
    "[bold]Exit codes[/] (an error prints one line on stderr; with --json, a JSON object)\n"
    + exit_codes_table()
)

app = typer.Typer(
    name="ecps", help=HELP, epilog=EPILOG, rich_markup_mode="rich", no_args_is_help=True,
    add_completion=True, pretty_exceptions_enable=False,
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
    from adapters.cli import db, demo, flow, history, login, ops

    demo.register(app)
    flow.register(app)
    history.register(app)
    db.register(app)
    ops.register(app)
    login.register(app)


_register()


def run(argv: list[str] | None = None) -> None:
    """Run `ecps ARGV`; exit with the code of the error kind when a command fails."""
    args = list(sys.argv[1:] if argv is None else argv)
    context.ROOT, context.CURRENT = context.Common(), context.Current()
    _one_line_logs()
    try:
        code = app(args=args, prog_name="ecps", standalone_mode=False)
    except typer.TyperException as exc:  # a usage error: an unknown option, a missing argument...
        if type(exc).__name__ == "NoArgsIsHelpError":  # `ecps` alone: the help
            ctx = getattr(exc, "ctx", None)
            typer.echo(ctx.get_help() if ctx is not None else "", err=True)
            sys.exit(USAGE.exit_code)
        sys.exit(_output(args).error(exc, USAGE))
    except (KeyboardInterrupt, typer.Abort) as exc:
        if isinstance(exc.__cause__, EOFError):  # a prompt met the end of standard input
            sys.exit(_output(args).error(InvalidInput(
                "standard input ended before a question was answered: answer at a terminal, "
                "or give one answer a line", "stdin")))
        code = INTERRUPTED
    except Exception as exc:  # a refusal, a configuration error, the database down...
        if not pressed_ctrl_c(exc):  # else Ctrl-C while a command imported what it needs
            if os.environ.get("ECPS_DEBUG") and not isinstance(exc, WorkflowError):
                raise
            sys.exit(_output(args).error(translated(exc)))
        code = INTERRUPTED
    if code == INTERRUPTED:  # Ctrl-C, raised or (at a prompt) returned by the command line
        _interrupted(_output(args))
    sys.exit(code if isinstance(code, int) else 0)


INTERRUPTED = 130


def _interrupted(out: Output) -> None:
    """Say that the command was interrupted: one line, or one JSON object with `--json`."""
    if out.json_mode:
        sys.stdout.write(json.dumps({"error": {"kind": "interrupted", "message": "interrupted",
                                               "exit_code": INTERRUPTED}}) + "\n")
    else:
        typer.echo("interrupted", err=True)


def _output(args: list[str]) -> Output:
    """The running command's output, or one that honours `--json` when none was made yet."""
    if context.CURRENT.started:
        return context.CURRENT.out
    given = args[: args.index("--")] if "--" in args else args
    return Output(json_mode="--json" in given)


def _one_line_logs() -> None:
    """Warnings of the engine and its adapters, and Python's warnings (a library's), as one
    line each on stderr, never a traceback nor a source line, masked."""
    root = logging.getLogger()
    if not any(isinstance(h, OneLine) for h in root.handlers):
        root.addHandler(OneLine(logging.WARNING))
    warnings.showwarning = _one_line_warning


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                      file: TextIO | None = None, line: str | None = None) -> None:
    (file or sys.stderr).write(f"warning: {redact(str(message))}\n")
