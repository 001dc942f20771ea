"""Finding a definition by `package.module:NAME`, from the current folder too, valid or not."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from workflow.engine import Definition, Workflow, unvalidated
from workflow.errors import DefinitionError


def load_definition(spec: str) -> Definition[Any, Any]:
    """The `Definition` named by `"package.module:NAME"` (`NAME` defaults to `DEFINITION`).

    The module is looked up from the current folder too, and a definition that fails
    validation is still loaded, so that `check` can explain what is wrong with it.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not all(p.isidentifier() for p in module_name.split(".")):
        raise ValueError(f"expected 'package.module:NAME', got {spec!r}")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except DefinitionError:  # the failed import left nothing in sys.modules: import it again
        with unvalidated():
            module = importlib.import_module(module_name)
    attribute = attribute or "DEFINITION"
    try:
        found = getattr(module, attribute)
    except AttributeError:
        raise ValueError(f"module {module_name!r} has no attribute {attribute!r}") from None
    if isinstance(found, Workflow):
        found = found.definition
    if not isinstance(found, Definition):
        raise TypeError(f"{spec} is a {type(found).__name__}, not a workflow Definition")
    return found

