"""How `ecps` prints: rich text for people, `--json` for scripts, one line per error."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Iterable
from datetime import datetime
from enum import Enum
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from adapters.kinds import all_kinds, kind_of
from workflow.domain import Step
from workflow.errors import TooManyRequests, TransitionNotAllowed, VerificationFailed

ARROW = "→"


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
        self.console = Console(highlight=False, soft_wrap=False)
        self.err = Console(stderr=True, highlight=False)

    def emit(self, data: object, render: Callable[[Console], None]) -> None:
        """Print `data` as JSON, or call `render` for people."""
        if self.json_mode:
            sys.stdout.write(json.dumps(jsonable(data), ensure_ascii=False, indent=2) + "\n")
            sys.stdout.flush()
        else:
            render(self.console)

    def note(self, message: str) -> None:
        """A hint for people (not printed with --json)."""
        if not self.json_mode:
            self.err.print(Text(message, style="dim"), soft_wrap=True)

    def error(self, error: BaseException) -> int:
        """Report `error` in one line (or as JSON) and return its exit code."""
        kind = kind_of(error)
        message = str(error) if kind.exit_code != 1 else f"{type(error).__name__}: {error}"
        if self.json_mode:
            detail: dict[str, object] = {"kind": kind.name, "message": message,
                                         "exit_code": kind.exit_code}
            if isinstance(error, VerificationFailed):
                detail["attempts_left"] = error.attempts_left
            if isinstance(error, TooManyRequests):
                detail["retry_after"] = error.retry_after
            if isinstance(error, TransitionNotAllowed):
                detail["state"], detail["event"] = error.state, error.event
            sys.stdout.write(json.dumps({"error": detail}, ensure_ascii=False) + "\n")
        else:
            line = Text.assemble(("error", "bold red"), f": {message} ",
                                 (f"[{kind.name}, exit {kind.exit_code}]", "dim"))
            self.err.print(line, soft_wrap=True)
        return kind.exit_code


def when(at: datetime | None) -> str:
    """A time for people: UTC, to the millisecond."""
    if at is None:
        return "-"
    return at.strftime("%Y-%m-%d %H:%M:%S.") + f"{at.microsecond // 1000:03d} UTC"


def steps_table(steps: Iterable[Step], title: str | None = None, numbered: bool = False) -> Table:
    """The transitions as a table: from → to, event, time."""
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    if numbered:
        table.add_column("#", justify="right", style="dim")
    table.add_column("from")
    table.add_column("", style="dim")
    table.add_column("to", style="bold")
    table.add_column("event", style="cyan")
    table.add_column("at (UTC)", style="dim")
    for i, s in enumerate(steps, start=1):
        row = [s.source or "(new)", ARROW, s.dest, s.event, when(s.at).removesuffix(" UTC")]
        table.add_row(*([str(i)] if numbered else []), *row)
    return table


def exit_codes_table() -> str:
    """The exit codes of `ecps`, as text for --help."""
    return "\n".join(f"  {k.exit_code:>2}  {k.name:<22} {k.meaning}" for k in all_kinds())
