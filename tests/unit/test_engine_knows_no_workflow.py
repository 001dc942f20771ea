"""Adding the login needed no change to the engine: it names neither workflow."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from workflow.definition import DEFINITION
from workflow.login import LOGIN_DEFINITION

ENGINE = Path(__file__).resolve().parents[2] / "workflow" / "engine"
MODULES = sorted(p for p in ENGINE.glob("*.py") if p.name != "__init__.py")


def _names_of(definition: object) -> set[str]:
    d = LOGIN_DEFINITION if definition is LOGIN_DEFINITION else DEFINITION
    return {str(s) for s in d.states} | {str(e) for e in d.events()} | {str(d.name)}


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_the_engine_imports_no_workflow(module: Path) -> None:
    """No engine module imports the activation's or the login's package."""
    tree = ast.parse(module.read_text(encoding="utf-8"))
    imported = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m for m in imported if m.startswith(("workflow.definition", "workflow.login",
                                                      "workflow.service", "adapters"))}


@pytest.mark.parametrize("definition", [DEFINITION, LOGIN_DEFINITION], ids=["activation", "login"])
def test_the_interpreter_names_no_state_or_event_of_either_workflow(definition: object) -> None:
    """The interpreter's source holds none of a workflow's own state or event names as a word."""
    source = (ENGINE / "interpreter.py").read_text(encoding="utf-8")
    words = set(re.findall(r"[a-z_]+", source))
    generic = {"expire", "cancel", "approve", "deny", "start", "request"}  # English, not a name here
    assert (_names_of(definition) - generic) & words == set()
