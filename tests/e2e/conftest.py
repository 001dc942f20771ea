"""Helpers of the end-to-end tests: run `ecps` in a temporary folder, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FAST = {"ECPS_ARGON2_MEMORY_KIB": "64", "ECPS_ARGON2_TIME_COST": "1",
        "ECPS_ARGON2_PARALLELISM": "1"}

Ecps = Callable[..., subprocess.CompletedProcess[str]]


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of an `ecps` process: the checkout importable, cheap PIN hashing."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECPS_")}
    env.update({**FAST, "PYTHONPATH": str(ROOT), "COLUMNS": "120", "NO_COLOR": "1", **extra})
    return env


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh working folder, also the current one, with cheap PIN hashing in this process."""
    for key in [k for k in os.environ if k.startswith("ECPS_")]:
        monkeypatch.delenv(key)
    for key, value in FAST.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def ecps(workdir: Path) -> Ecps:
    """Run `ecps ARGS...` in a subprocess in the working folder (`input` feeds stdin)."""
    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "adapters.cli", *args], cwd=workdir,
                              env=cli_env(**(env or {})), input=input if input is not None else "",
                              capture_output=True, text=True, timeout=timeout, check=False)
    return run
