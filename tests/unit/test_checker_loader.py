"""Where the checker's loader looks for a module: the current folder, first, added once."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.checker_zoo import SHORTCUT
from workflow.checker import load_definition

_MODULE = "flows_in_cwd"


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A current folder holding a module with a definition, on no import path yet."""
    (tmp_path / f"{_MODULE}.py").write_text(
        "from tests.unit.checker_zoo import SHORTCUT\nFLOW = SHORTCUT\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", os.getcwd())])
    yield Path(os.getcwd())
    sys.modules.pop(_MODULE, None)


def test_the_current_folder_is_searched_first_and_added_once(here: Path) -> None:
    """A module of the current folder is found; the folder goes first on the path, and only once."""
    assert load_definition(f"{_MODULE}:FLOW") is SHORTCUT
    assert sys.path[0] == str(here)
    sys.modules.pop(_MODULE)
    assert load_definition(f"{_MODULE}:FLOW") is SHORTCUT
    assert sys.path.count(str(here)) == 1


def test_an_empty_path_entry_already_stands_for_the_current_folder(here: Path) -> None:
    """With `""` on the path (as in `python -c`), the folder is found through it and not added."""
    sys.path.insert(0, "")
    assert load_definition(f"{_MODULE}:FLOW") is SHORTCUT
    assert str(here) not in sys.path
