"""Exhaustive model checker: explores a definition (states × counters × deadlines), proves its properties.

`check(definition)` returns a `Report`; a failing property carries its shortest counter-example.
`explore(definition)` gives the explored space itself, whose moves are values (the conformance
replay in `workflow.testing` walks it through a real service). The parts: `space` (the
exploration), `properties` (names and claims), `proofs` (one judge per property, registered by
name), `report`, `loader`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from typing import Any

from workflow.checker.loader import load_definition
from workflow.checker.proofs import PROOFS, Context, guarded
from workflow.checker.properties import CLAIMS, Property
from workflow.checker.report import Report, Result
from workflow.checker.space import CHECK_KEY, IDLE, PASSED, RUNNING, Config, Space, Step, explore
from workflow.engine import Definition, Workflow
from workflow.settings import Settings

__all__ = [
    "CLAIMS", "IDLE", "PASSED", "RUNNING", "Config", "Property", "Report", "Result", "Space", "Step",
    "check", "explore", "load_definition", "main",
]


def check(definition: Definition[Any, Any], workflow: Workflow[Any, Any] | None = None,
          settings: Any = None, *, reduce: bool = True) -> Report:
    """Explore `definition` exhaustively and judge every property.

    `workflow` is the built machine to compare (built from the definition when None);
    `settings` gives the counter bounds and deadline lengths (the defaults when None);
    `reduce` forgets counters no edge can read any more (sound; turn off to cross-check).
    """
    began = time.perf_counter()
    settings = settings or Settings(secret_key=CHECK_KEY)
    try:
        space = explore(definition, settings, reduce=reduce)
    except Exception as exc:  # judge what can be judged without the state space
        space = Space(None, broken=f"{type(exc).__name__}: {exc}")
    context = Context(definition, settings, space, workflow)
    results = [guarded(prop, PROOFS[prop], context) for prop in Property]
    return Report(str(definition.name), tuple(results), len(space.parent), space.transitions,
                  time.perf_counter() - began, str(getattr(definition, "initial", "")))


def main(argv: Iterable[str] | None = None) -> int:
    """`python -m workflow.checker [package.module:NAME]`: print the report, exit 0 or 1."""
    args = list(sys.argv[1:] if argv is None else argv)
    definition = load_definition(args[0]) if args else load_definition("workflow.definition")
    report = check(definition)
    print(report.render())
    return 0 if report.ok else 1

