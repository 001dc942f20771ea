"""The README stays true: its Quick start, its exit code table, its configuration table and
its HTTP flow."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from adapters.cli.output import CLI_KINDS
from adapters.kinds import all_kinds
from tests.e2e.conftest import ROOT
from workflow import Settings

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_quick_start_is_the_two_commands() -> None:
    """The Quick start block holds exactly the install-and-demo and install-and-test commands."""
    block = re.search(r"## Quick start\s+```bash\n(.*?)```", README, re.S)
    assert block is not None
    assert block.group(1).strip().splitlines() == [
        "pip install '.[cli]' && ecps demo", "pip install -e '.[test]' && pytest -q -n auto"]


def test_exit_code_table_matches_the_cli() -> None:
    """Every error kind appears with its exit code and HTTP status, as the CLI and API use them."""
    rows = set(re.findall(r"^\| (\d+) \| `(\w+)` \| (\d+|—) \|", README, re.M))
    assert rows == {(str(k.exit_code), k.name, str(k.http_status)) for k in all_kinds()} | {
        (str(k.exit_code), k.name, "—") for k in CLI_KINDS}


def test_configuration_table_names_every_setting() -> None:
    """Each `Settings` field has a row in the configuration table."""
    table = README.split("## Configuration", 1)[1].split("## Security notes", 1)[0]
    for f in fields(Settings):
        assert f"`{f.name}`" in table, f.name


def test_the_composition_root_is_shown_with_every_argument() -> None:
    """The README's signature of `build_service` names every parameter it has, in order."""
    import inspect

    from adapters.bootstrap import build_service

    shown = README.split("`build_service(", 1)[1].split(")`", 1)[0]
    assert re.findall(r"(\w+)=", shown) == list(inspect.signature(build_service).parameters)


def test_the_embedding_example_runs_as_written(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The Python block of "Embedding it in a service" runs in an empty folder, the default
    adapters writing to ./.ecps/, and ends with an active e-CPS whose every step is in its history."""
    block = README.split("## Embedding it in a service", 1)[1].split("```python\n", 1)[1]
    code = block.split("```", 1)[0]
    scope: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), scope)
    svc, started = scope["svc"], scope["started"]
    assert svc.status(started.activation_id).state == "active"
    assert svc.authenticate(started.activation_id, "4821") is True
    assert started.activation_id in capsys.readouterr().out
    svc.store.close()
