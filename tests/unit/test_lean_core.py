"""The library installs and imports alone: the command line, the HTTP API, PostgreSQL and the
test kit are extras, and importing the core pulls none of them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
# import name -> distribution, for every package only an extra brings
OPTIONAL = {"pytest": "pytest", "_pytest": "pytest", "hypothesis": "hypothesis",
            "fastapi": "fastapi", "starlette": "fastapi", "uvicorn": "uvicorn",
            "psycopg": "psycopg", "zxingcpp": "zxing-cpp", "typer": "typer", "rich": "rich"}
OPPORTUNISTIC = {"rich"}  # httpx imports it when it happens to be installed, and does without
CORE_MODULES = ("workflow", "workflow.definition", "workflow.diagrams", "workflow.checker",
                "adapters.sql", "adapters.memory", "adapters.bootstrap", "adapters.files",
                "adapters.directory", "adapters.smtp", "adapters.sms_http", "adapters.webhook")


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[<>=!~ ;]", r, maxsplit=1)[0].lower() for r in requirements}


def test_importing_the_core_pulls_no_optional_package() -> None:
    """A fresh interpreter importing the engine and the SQL store loads no extra's package."""
    code = (f"import sys\nfor m in {CORE_MODULES!r}: __import__(m)\n"
            f"print(__import__('json').dumps(sorted(m for m in {sorted(set(OPTIONAL) - OPPORTUNISTIC)!r} "
            "if m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=True)
    assert json.loads(done.stdout) == []


def test_the_core_dependencies_hold_no_optional_package() -> None:
    """`pip install .` alone brings neither a test framework, a web server, psycopg nor zxing-cpp."""
    core = _names(PYPROJECT["project"]["dependencies"])
    assert core.isdisjoint(OPTIONAL.values()), core & set(OPTIONAL.values())


def test_the_extras_bring_the_rest() -> None:
    """Each extra names what it is for; `all` gathers them and `test` builds on `all`."""
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert {"typer", "rich", "zxing-cpp"} <= _names(extras["cli"])
    assert {"fastapi", "uvicorn"} <= _names(extras["http"])
    assert {"psycopg"} <= _names(extras["postgres"])
    assert {"hypothesis", "pytest"} <= _names(extras["testing"])
    assert extras["all"] == ["ecps-workflow[cli,http,postgres,testing]"]
    assert "ecps-workflow[all]" in extras["test"]
