"""The README's HTTP example runs as written against `ecps serve`: a whole flow with proofs."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import ROOT, cli_env
from tests.e2e.test_no_secrets import _free_port

README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.slow
def test_the_readme_http_script_activates_an_e_cps(workdir: Path) -> None:
    """The Python block of the HTTP section ends with `active` printed."""
    section = README.split("### HTTP", 1)[1].split("## The command line", 1)[0]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block is not None
    port = _free_port()
    script = block.group(1).replace("http://127.0.0.1:8000", f"http://127.0.0.1:{port}")
    server = subprocess.Popen(
        [sys.executable, "-m", "adapters.cli", "serve", "--port", str(port),
         "--dispatch-every", "0.05"], cwd=workdir, env=cli_env(),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        done = subprocess.run([sys.executable, "-c", script], cwd=workdir, env=cli_env(),
                              capture_output=True, text=True, timeout=120, check=False)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "active"
