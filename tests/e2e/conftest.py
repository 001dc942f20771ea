"""Helpers of the end-to-end tests: run `ecps` in a temporary folder, as a user would; serve the
API; the console's service, phone and signed-in client."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from adapters.api.console import PhoneInbox, PhoneKit
from adapters.api.settings import HttpSettings
from tests.conftest import loopback, memory_service
from tests.e2e.console_client import console_client, sign_in
from tests.e2e.http_device import OPERATOR_TOKEN, DeviceClient
from tests.e2e.phone import Phone
from workflow import ActivationService
from workflow.testing import FakeClock

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


@pytest.fixture
def ecps_here(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Ecps:
    """Run `ecps ARGS...` through `main()` in this process, in the working folder, with the
    environment `ecps` gets (`env` added); its exit code and outputs as a finished process's."""
    from adapters.cli import main

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        out, err = io.StringIO(), io.StringIO()
        with monkeypatch.context() as patched:
            for key, value in {"COLUMNS": "120", "NO_COLOR": "1", **(env or {})}.items():
                patched.setenv(key, value)
            patched.setattr(sys, "stdin", io.StringIO(""))
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    main(list(args))
                    code: object = 0
                except SystemExit as done:
                    code = done.code
        if isinstance(code, str):  # as the interpreter does: the message on stderr, exit 1
            err.write(code + "\n")
        status = code if isinstance(code, int) else 0 if code is None else 1
        return subprocess.CompletedProcess(["ecps", *args], status, out.getvalue(), err.getvalue())
    return run


@pytest.fixture
def phone(tmp_path: Path) -> Phone:
    """A fresh service on SQLite and its phone."""
    return Phone(tmp_path)


@pytest.fixture
def client(phone: Phone) -> Iterator[DeviceClient]:
    """The API over the phone's service, without the background dispatcher, as the phone."""
    c = phone.client(phone.app())
    with c.http:
        yield c


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Phone, str]]:
    """A uvicorn server on a free loopback port over a phone's service (SQLite file or
    PostgreSQL); (phone, base URL)."""
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    phone = Phone(tmp_path, url)
    rate = request.node.get_closest_marker("address_rate")
    app = phone.app(http=HttpSettings.with_token(OPERATOR_TOKEN, request_rate=rate.args[0])) \
        if rate else phone.app()
    with loopback(app) as base:
        yield phone, base


@pytest.fixture
def kit() -> PhoneKit:
    """A phone inbox and a fake clock the console's simulator may skip."""
    return PhoneKit(PhoneInbox(), FakeClock())


@pytest.fixture
def svc(kit: PhoneKit) -> ActivationService:
    """A memory service whose deliveries reach the phone's inbox."""
    assert isinstance(kit.clock, FakeClock)
    return memory_service(kit.clock, mailer=kit.inbox.mailer, sms=kit.inbox.sms)


@pytest.fixture
def signed_in(svc: ActivationService, kit: PhoneKit) -> Iterator[TestClient]:
    """A client signed in to the console (the simulator mounted, called from loopback)."""
    with console_client(svc, kit) as c:
        yield sign_in(c)
