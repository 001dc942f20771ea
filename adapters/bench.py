"""`ecps bench`: runs the benchmarks of a source checkout and returns their figures and ratios.

The benchmark code lives in the checkout's `benchmarks/` folder (not in the installed
package); this module finds it, runs the chosen benchmarks and holds the result values.
"""

from __future__ import annotations

import importlib
import os
import platform
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from workflow.errors import InvalidInput

BENCHMARKS: dict[str, str] = {
    "engine_memory": "the engine in memory against bare and per-activation state machines",
    "sqlite_durable": "events/s on SQLite (WAL) against raw sqlite3 and a naive SQLModel session",
    "postgres_workers": "events/s on PostgreSQL with 1, 2 and 4 worker processes against raw psycopg",
    "scale": "per-event latency and memory with few and with many stored activations (SQLite)",
    "costs": "production costs on their own: PIN hash, QR e-mail, model check",
    "qr_code": "the activation e-mail's QR PNG against the qrcode.make path it replaced",
    "outbox": "activation e-mails per (CPU) second, and the outbox under a sustained request rate",
    "http_server": "POST /activations of ecps serve against a bare FastAPI app, SQLite and PostgreSQL",
    "http_flow": "whole activations per second over HTTP with p50/p99, one and two worker processes",
    "login_cost": "login and status() after 10 and after 10,000 logins (append-only history, SQLite)",
    "outbox_claims": "outbox claims: one message per claim against one batch, few and many sent",
}


class BenchmarksUnavailable(InvalidInput):
    """The `benchmarks/` folder of a source checkout cannot be found (or lacks what is asked)."""


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured number."""

    name: str
    value: float
    unit: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class Target:
    """A ratio the project aims for, and whether this run reached it."""

    name: str
    measured: float
    bound: float
    at_most: bool
    unit: str = "x"

    @property
    def met(self) -> bool:
        """Whether the measured value is on the right side of the bound."""
        return self.measured <= self.bound if self.at_most else self.measured >= self.bound

    @property
    def goal(self) -> str:
        """The bound as text, e.g. `<= 3x`."""
        return f"{'<=' if self.at_most else '>='} {_number(self.bound)}{self.unit}"


@dataclass(frozen=True, slots=True)
class Result:
    """What one benchmark measured: figures, targets and what limits them."""

    name: str
    title: str
    figures: tuple[Figure, ...] = ()
    targets: tuple[Target, ...] = ()
    notes: tuple[str, ...] = ()
    skipped: str = ""
    params: Mapping[str, object] = field(default_factory=dict)

    def value(self, name: str) -> float:
        """The value of the figure called `name` (KeyError when absent)."""
        for f in self.figures:
            if f.name == name:
                return f.value
        raise KeyError(name)

    @property
    def met(self) -> bool:
        """Whether every target was reached (a skipped benchmark met nothing)."""
        return not self.skipped and all(t.met for t in self.targets)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form of the result."""
        return {
            "name": self.name, "title": self.title, "skipped": self.skipped,
            "params": dict(self.params),
            "figures": [{"name": f.name, "value": f.value, "unit": f.unit, "note": f.note}
                        for f in self.figures],
            "targets": [{"name": t.name, "measured": t.measured, "goal": t.goal, "met": t.met}
                        for t in self.targets],
            "notes": list(self.notes),
        }

    def table(self) -> str:
        """The result as a plain-text table."""
        lines = [f"== {self.name}: {self.title}"]
        if self.params:
            lines.append("   " + ", ".join(f"{k}={v}" for k, v in self.params.items()))
        if self.skipped:
            lines.append(f"   skipped: {self.skipped}")
            return "\n".join(lines)
        width = max([len(f.name) for f in self.figures] + [len(t.name) for t in self.targets] + [10])
        for f in self.figures:
            note = f"  ({f.note})" if f.note else ""
            lines.append(f"   {f.name:<{width}}  {_number(f.value):>12} {f.unit}{note}")
        if self.targets:
            lines.append("   targets:")
        for t in self.targets:
            verdict = "met" if t.met else "MISSED"
            lines.append(f"   {t.name:<{width}}  {_number(t.measured):>12}{t.unit}  "
                         f"target {t.goal:<10} {verdict}")
        lines.extend(f"   note: {n}" for n in self.notes)
        return "\n".join(lines)


def machine() -> dict[str, str]:
    """The machine and software the figures were measured on."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import sqlite3

    return {"nproc": str(os.cpu_count() or "?"), "cpu": model,
            "python": platform.python_version(), "platform": platform.platform(terse=True),
            "sqlite": sqlite3.sqlite_version}


def names(selected: Sequence[str] = ()) -> list[str]:
    """The benchmarks to run: `selected` checked against the known ones, or all of them."""
    unknown = [n for n in selected if n not in BENCHMARKS]
    if unknown:
        raise InvalidInput(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}",
                           "names")
    return list(dict.fromkeys(selected)) or list(BENCHMARKS)


def run(selected: Sequence[str] = (), quick: bool = False, *,
        options: Mapping[str, object] | None = None,
        progress: Callable[[str], None] | None = None) -> list[Result]:
    """Run the `selected` benchmarks (all when empty); `quick` uses tiny sizes.

    `options` go to every benchmark that takes them (e.g. `pg_url`); `progress` is told
    the name of each benchmark as it starts.
    """
    chosen = names(selected)
    results: list[Result] = []
    for name in chosen:
        if progress is not None:
            progress(name)
        module = _load(name)
        runner = getattr(module, "run", None)
        if not callable(runner):
            raise BenchmarksUnavailable(f"benchmarks.{name} has no run() function")
        result = runner(quick=quick, **_accepted(module, options or {}))
        if not isinstance(result, Result):
            raise TypeError(f"benchmarks.{name}.run() returned {type(result).__name__}, not Result")
        results.append(result)
    return results


def _accepted(module: ModuleType, options: Mapping[str, object]) -> dict[str, object]:
    wanted = getattr(module, "OPTIONS", ())
    return {k: v for k, v in options.items() if k in wanted}


def _load(name: str) -> ModuleType:
    try:
        return importlib.import_module(f"benchmarks.{name}")
    except ModuleNotFoundError as exc:
        if exc.name not in ("benchmarks", f"benchmarks.{name}"):
            raise
    checkout = _checkout()
    if checkout is None:
        raise BenchmarksUnavailable(
            "the benchmarks ship with the source tree of ecps-workflow, not with the installed "
            "package: run `ecps bench` (or `python -m benchmarks.<name>`) from a checkout, the "
            "folder that holds benchmarks/")
    sys.path.insert(0, str(checkout))
    return importlib.import_module(f"benchmarks.{name}")


def _checkout() -> Path | None:
    """The source tree holding `benchmarks/`: beside this package, or the working directory."""
    for root in (Path(__file__).resolve().parent.parent, Path.cwd()):
        if (root / "benchmarks" / "__init__.py").is_file():
            return root
    return None


def _number(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"
