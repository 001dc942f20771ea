"""How `ecps` prints: rich text for people, `--json` for scripts, one line per error."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from enum import Enum
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from adapters.kinds import USAGE, Kind, all_kinds, kind_of
from adapters.logs import redact
from workflow.config import ConfigError
from workflow.domain import Step
from workflow.errors import (
    ActivationExpired,
    ActivationLocked,
    PinMismatch,
    StorageError,
    TooManyRequests,
    TransitionNotAllowed,
    VerificationFailed,
)

ARROW = "→"
PORT_BUSY = Kind("port_busy", 22, 0, "the port `ecps serve` should listen on is taken")
WORKER_FAILED = Kind("worker_failed", 23, 0, "an `ecps serve` worker process could not start")
CLI_KINDS = (PORT_BUSY, WORKER_FAILED)  # failures of the command line only: no HTTP status
EXTRAS = {"psycopg": "postgres", "fastapi": "http", "uvicorn": "http", "starlette": "http",
          "zxingcpp": "cli", "hypothesis": "testing", "pytest": "testing"}

__all__ = ["CLI_KINDS", "PORT_BUSY", "USAGE", "WORKER_FAILED", "MissingExtra", "Output", "PortBusy",
           "WorkerFailed", "exit_codes_table", "jsonable", "steps_table", "translated", "when"]


class PortBusy(OSError):
    """`ecps serve` cannot listen: another process holds the port."""


class WorkerFailed(Exception):
    """`ecps serve` stopped: a worker process could not start (its log line says why)."""


class MissingExtra(Exception):
    """An optional package is not installed; the message names the extra that brings it."""


def translated(error: BaseException) -> BaseException:
    """`error` as the failure a user can act on: a file problem is a storage problem, a missing
    optional package names its extra."""
    if isinstance(error, PortBusy | WorkerFailed):
        return error
    if isinstance(error, ModuleNotFoundError) and error.name and \
            (top := error.name.split(".")[0]) in EXTRAS:
        extra = EXTRAS[top]
        return MissingExtra(f"{top} is not installed: pip install 'ecps-workflow[{extra}]' "
                            f"(in a checkout: pip install '.[{extra}]')")
    if isinstance(error, OSError):
        where = f"{error.filename}: " if error.filename else ""
        return StorageError(f"{where}{error.strerror or type(error).__name__}")
    return error


_EXTRA = re.compile(r"(unexpected extra argument(?:s|\(s\))?) \(.*\)", re.DOTALL)
"""Click's usage error for arguments left over, which it would repeat."""


def kind_for(error: BaseException) -> Kind:
    """The kind of `error`, the command line's own kinds included."""
    if isinstance(error, PortBusy):
        return PORT_BUSY
    if isinstance(error, WorkerFailed):
        return WORKER_FAILED
    if isinstance(error, typer.TyperException):
        return USAGE
    return kind_of(error)


def message_of(error: BaseException, kind: Kind) -> str:
    """What went wrong, on one line."""
    if isinstance(error, ConfigError):
        return "invalid configuration: " + "; ".join(error.problems)
    if isinstance(error, typer.TyperException):
        where = getattr(error, "ctx", None)
        prefix = f"{where.command_path}: " if where is not None else ""
        text = _EXTRA.sub(r"\1 (not shown: they may be a PIN, a code or a token)",
                          str(getattr(error, "format_message", error.__str__)()))
        return f"{prefix}{' '.join(text.split())} (see --help)"
    plain = kind.exit_code != 1 or isinstance(error, MissingExtra)
    # an unforeseen failure's text was not written for people: masked as the logs are
    text = str(error) if plain else redact(f"{type(error).__name__}: {error}")
    return " ".join(text.split())


def id_arg(activation_id: str) -> str:
    """`activation_id` as typed after a command (after `--` when it begins with `-`)."""
    return f"-- {activation_id}" if activation_id.startswith("-") else activation_id


def next_step(error: BaseException, activation_id: str | None = None) -> str:
    """What the user can do next, for the refusals that leave a way forward (commands name
    `activation_id` when it is known, else `ID`)."""
    if isinstance(error, PinMismatch):
        left = _left(error.attempts_left)
        aid = id_arg(activation_id) if activation_id else "ID"
        return f"{left}choose the PIN again: `ecps set-pin {aid}`, then `ecps confirm-pin {aid}`"
    if isinstance(error, VerificationFailed):
        return f"{_left(error.attempts_left)}check it and try again".strip()
    if isinstance(error, ActivationLocked | ActivationExpired):
        return "this activation is over: ask for a new one with `ecps request NATIONAL_ID`"
    return ""


def _left(attempts: int | None) -> str:
    if attempts is None:
        return ""
    return f"{attempts} attempt{'s' if attempts != 1 else ''} left; "


def jsonable(value: object) -> Any:
    """`value` (dataclasses, enums, datetimes, tuples) as plain JSON data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


class Output:
    """Where a command's results and errors go (`json_mode`: one JSON document on stdout)."""

    def __init__(self, json_mode: bool = False) -> None:
        self.json_mode = json_mode
        self.activation_id: str | None = None  # the command's activation, named in next steps
        self.console = Console(highlight=False, soft_wrap=False)
        self.err = Console(stderr=True, highlight=False)

    def emit(self, data: object, render: Callable[[Console], None]) -> None:
        """Print `data` as JSON, or call `render` for people."""
        if self.json_mode:
            if not _written(json.dumps(jsonable(data), ensure_ascii=False, indent=2) + "\n"):
                raise OutputClosed("standard output cannot be written: the JSON answer was lost")
        else:
            render(self.console)

    def note(self, message: str) -> None:
        """A hint for people (not printed with --json)."""
        if not self.json_mode:
            self.err.print(Text(message, style="dim"), soft_wrap=True)

    def error(self, error: BaseException, kind: Kind | None = None) -> int:
        """Report `error` in one line (or as JSON) and return its exit code."""
        kind = kind or kind_for(error)
        message = message_of(error, kind)
        hint = next_step(error, self.activation_id)
        if self.json_mode:
            detail: dict[str, object] = {"kind": kind.name, "message": message,
                                         "exit_code": kind.exit_code}
            if isinstance(error, VerificationFailed):
                detail["attempts_left"] = error.attempts_left
            if isinstance(error, TooManyRequests):
                detail["retry_after"] = error.retry_after
            if isinstance(error, TransitionNotAllowed):
                detail["state"], detail["event"] = error.state, error.event
            if hint:
                detail["next"] = hint
            if _written(json.dumps({"error": detail}, ensure_ascii=False) + "\n"):
                return kind.exit_code
        line = Text.assemble(("error", "bold red"), f": {message}{f' ({hint})' if hint else ''} ",
                             (f"[{kind.name}, exit {kind.exit_code}]", "dim"))
        with suppress(OSError):  # standard error closed too: the exit code still tells
            self.err.print(line, soft_wrap=True)
        return kind.exit_code


class OutputClosed(Exception):
    """Standard output cannot be written (a closed pipe, a full disk)."""


def _written(text: str) -> bool:
    """Write `text` to standard output; False if it cannot be written, standard output then
    pointed at nothing (so that the interpreter's own flush at exit stays quiet)."""
    if _STDOUT_GONE:
        return False
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError:
        _STDOUT_GONE.append(True)
        with suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return False
    return True


_STDOUT_GONE: list[bool] = []  # once standard output failed, what follows goes to standard error


def when(at: datetime | None) -> str:
    """A time for people: UTC, to the millisecond."""
    if at is None:
        return "-"
    return at.strftime("%Y-%m-%d %H:%M:%S.") + f"{at.microsecond // 1000:03d} UTC"


def steps_table(steps: Iterable[Step], title: str | None = None, numbered: bool = False,
                outcomes: list[str] | None = None, first: int = 1) -> Table:
    """The transitions as a table: from → to, event, time (and each one's outcome if given);
    `numbered`, each with its number in the history, the first being `first`."""
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    if numbered:
        table.add_column("#", justify="right", style="dim")
    table.add_column("from")
    table.add_column("", style="dim")
    table.add_column("to", style="bold")
    table.add_column("event", style="cyan")
    if outcomes is not None:
        table.add_column("outcome")
    table.add_column("at (UTC)", style="dim")
    for i, s in enumerate(steps):
        row: list[str | Text] = [s.source or "(new)", ARROW, s.dest, s.event]
        if outcomes is not None:
            outcome = outcomes[i]
            row.append(Text(outcome, style="green" if outcome == "ok" else "bold red"))
        row.append(when(s.at).removesuffix(" UTC"))
        table.add_row(*([str(first + i)] if numbered else []), *row)
    return table


def exit_codes_table() -> str:
    """The exit codes of `ecps`, as text for --help."""
    return "\n".join(f"  {k.exit_code:>2}  {k.name:<22} {k.meaning}"
                     for k in [*all_kinds(), *CLI_KINDS])


class OneLine(logging.Handler):
    """A log record as one line on the current stderr, without its traceback (the CLI's)."""

    def emit(self, record: logging.LogRecord) -> None:
        # masked here, leaving the record as other handlers (a test's capture) see it
        sys.stderr.write(f"{record.levelname.lower()}: {redact(record.getMessage())}\n")


@contextmanager
def warnings_held() -> Iterator[list[str]]:
    """Within the block, the CLI's warning lines are held back (errors still shown); the list
    gets each held warning's masked text, for the one line that reports the outcome."""
    held: list[str] = []
    shown = [h for h in logging.getLogger().handlers if isinstance(h, OneLine)]
    keeper = _Keeper(held)
    root = logging.getLogger()
    for h in shown:
        h.setLevel(logging.ERROR)
    root.addHandler(keeper)
    try:
        yield held
    finally:
        root.removeHandler(keeper)
        for h in shown:
            h.setLevel(logging.WARNING)


class _Keeper(logging.Handler):
    def __init__(self, held: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.held = held

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno < logging.ERROR:
            self.held.append(redact(record.getMessage()))
