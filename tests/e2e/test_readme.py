"""The README stays true: its Quick start, its exit code table, its configuration table and
its HTTP flow."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import httpx
import pytest

from adapters.cli.output import CLI_KINDS
from adapters.kinds import all_kinds
from tests.e2e.conftest import ROOT, cli_env
from workflow import Settings

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_quick_start_is_the_two_commands() -> None:
    """The Quick start block holds exactly the install-and-demo and install-and-test commands."""
    block = re.search(r"## Quick start\s+```bash\n(.*?)```", README, re.S)
    assert block is not None
    assert block.group(1).strip().splitlines() == [
        "pip install '.[cli]' && ecps demo", "pip install '.[test]' && pytest -q"]


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


def _http_client() -> str:
    """The README's Python client of the development server."""
    section = README.split("**A whole flow on a development server.**", 1)[1]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block is not None
    return block.group(1)


@pytest.fixture
def dev_server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """`ecps serve --dispatch-every 0` in `tmp_path` on a free port: its port and environment,
    with an `ecps` on the PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ecps").write_text(f"#!/bin/sh\nexec {sys.executable} -m adapters.cli \"$@\"\n")
    (bin_dir / "ecps").chmod(0o755)
    env = cli_env()
    env["PATH"] = f"{bin_dir}:{env.get('PATH', '')}"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    server = subprocess.Popen([sys.executable, "-m", "adapters.cli", "serve", "--port", port,
                               "--dispatch-every", "0", "--log-level", "warning"], cwd=tmp_path,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(600):  # up to a minute for the server to answer
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                time.sleep(0.1)
        yield port, env
    finally:
        server.terminate()
        server.communicate(timeout=30)  # waits, and closes its pipe


def test_the_http_client_runs_a_whole_activation(dev_server: tuple[str, dict[str, str]],
                                                  tmp_path: Path) -> None:
    """The README's client activates an e-CPS against `ecps serve`, reading the mail and SMS files."""
    port, env = dev_server
    code = _http_client().replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "active"
    assert "'authenticated': True" in done.stdout
