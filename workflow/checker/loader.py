"""Finding a definition by `package.module:NAME`, from the current folder too, valid or not."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from workflow.engine import Definition, Workflow, unvalidated
from workflow.errors import DefinitionError, InvalidInput


class DefinitionNotFound(InvalidInput, ImportError):
    """The module a definition spec names cannot be found."""


class NotADefinition(InvalidInput, TypeError):
    """What a definition spec names is not a workflow definition."""


def load_definition(spec: str) -> Definition[Any, Any]:
    """The `Definition` named by `"package.module:NAME"` (`NAME` defaults to `DEFINITION`).

    The module is looked up from the current folder too, and a definition that fails
    validation is still loaded, so that `check` can explain what is wrong with it.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not all(p.isidentifier() for p in module_name.split(".")):
        raise InvalidInput(f"expected 'package.module:NAME', got {spec!r}", "definition")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = _imported(module_name)
    except DefinitionError:  # the failed import left nothing in sys.modules: import it again
        with unvalidated():
            module = _imported(module_name)
    attribute = attribute or "DEFINITION"
    try:
        found = getattr(module, attribute)
    except AttributeError:
        raise InvalidInput(f"module {module_name!r} has no attribute {attribute!r}",
                           "definition") from None
    if isinstance(found, Workflow):
        found = found.definition
    if not isinstance(found, Definition):
        raise NotADefinition(f"{spec} is a {type(found).__name__}, not a workflow Definition",
                             "definition")
    return found


def _imported(module_name: str) -> Any:
    """The module; `DefinitionNotFound` if it (or a package above it) does not exist. A module
    missing inside it is the module's own error and goes up as it is."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise DefinitionNotFound(f"no module named {exc.name!r}, in the current folder or "
                                     "among the installed packages", "definition") from None
        raise

