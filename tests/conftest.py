"""Shared fixtures: fast settings, a fake clock, a service on memory adapters, PostgreSQL."""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest

from adapters.memory import MemoryMailer, MemorySms, MemoryStore, StaticDirectory
from workflow import ActivationService, Settings
from workflow.messages import DirectoryEntry
from workflow.ports import Mailer, SmsGateway, Store
from workflow.testing import FakeClock

NID = "899700366240"
NID2 = "810100000008"
PG_ADMIN_URL = os.environ.get("ECPS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def fast_settings(**overrides: object) -> Settings:
    """Settings with a test server key and a cheap PIN hash."""
    base: dict[str, object] = {"secret_key": "test-key-" + "k" * 32, "argon2_memory_kib": 64,
                               "argon2_time_cost": 1, "argon2_parallelism": 1}
    base.update(overrides)
    return Settings(**base)  # type: ignore[arg-type]


def people() -> list[DirectoryEntry]:
    """Fictional professionals known to the test directory."""
    return [
        DirectoryEntry(NID, "jane.doe@domain.fr", "0612345678", "Dr Jane Doe"),
        DirectoryEntry(NID2, "paul.martin@clinique.fr", "0798765432", "Paul Martin"),
    ]


def memory_service(clock: FakeClock, *, store: Store | None = None, mailer: Mailer | None = None,
                   sms: SmsGateway | None = None, **settings: object) -> ActivationService:
    """A service on memory adapters (any of them replaceable) knowing `people()`, with fast settings."""
    return ActivationService(store=MemoryStore() if store is None else store,
                             mailer=MemoryMailer() if mailer is None else mailer,
                             sms=MemorySms() if sms is None else sms, directory=StaticDirectory(people()),
                             clock=clock, settings=fast_settings(**settings))


@pytest.fixture
def settings() -> Settings:
    """Fast default settings."""
    return fast_settings()


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock at a fixed start."""
    return FakeClock()


@pytest.fixture
def mailer() -> MemoryMailer:
    """A recording mailer."""
    return MemoryMailer()


@pytest.fixture
def sms() -> MemorySms:
    """A recording SMS gateway."""
    return MemorySms()


@pytest.fixture
def store() -> MemoryStore:
    """An empty memory store."""
    return MemoryStore()


@pytest.fixture
def service(store: MemoryStore, mailer: MemoryMailer, sms: MemorySms, clock: FakeClock,
            settings: Settings) -> ActivationService:
    """A service on memory adapters with two known professionals."""
    return ActivationService(store=store, mailer=mailer, sms=sms,
                             directory=StaticDirectory(people()), clock=clock, settings=settings)


def _pg_reachable() -> str | None:
    """None when the server accepts a connection, else why not (a socket: no driver object left behind)."""
    where = urlsplit(PG_ADMIN_URL)
    try:
        socket.create_connection((where.hostname or "127.0.0.1", where.port or 5432), timeout=3).close()
        return None
    except OSError as exc:
        return f"PostgreSQL at {PG_ADMIN_URL} unreachable: {type(exc).__name__}"


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """The PostgreSQL URL; skips when unreachable, except under CI=true where it fails."""
    problem = _pg_reachable()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{problem} (CI=true: PostgreSQL tests must run)")
        pytest.skip(problem)
    return PG_ADMIN_URL


@pytest.fixture
def pg_url(pg_admin_url: str) -> Iterator[str]:
    """A SQLAlchemy URL to a fresh PostgreSQL schema, dropped after the test."""
    import psycopg

    schema = "t_" + secrets.token_hex(6)
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    base = pg_admin_url.replace("postgresql://", "postgresql+psycopg://", 1)
    yield f"{base}?options=-csearch_path%3D{schema}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


class Driver:
    """Moves activations of a memory-backed service along the main path, as the phone would."""

    def __init__(self, service: ActivationService, mailer: MemoryMailer, sms: MemorySms) -> None:
        self.service, self.mailer, self.sms = service, mailer, sms

    def payload(self, aid: str) -> str:
        """The payload of the newest activation e-mail sent for `aid`."""
        from workflow.testing import payload_from

        mails = [m for m in self.mailer.sent if f"a={aid}&" in m.text]
        return payload_from(mails[-1])

    def code(self) -> str:
        """The code of the newest SMS."""
        from workflow.testing import code_from

        return code_from(self.sms.sent[-1], self.service.settings.sms_code_digits)

    def reach(self, state: str, nid: str = NID, pin: str = "4821") -> str:
        """A new activation of `nid` brought to `state` along the main path; returns its id."""
        svc = self.service
        aid = svc.request(nid, device_id="phone-1").activation_id
        path = ["requested", "emailed", "scanned", "sms_verified", "pin_set", "active"]
        steps = [
            svc.dispatch,
            lambda: (svc.scan(aid, self.payload(aid)), svc.dispatch()),
            lambda: svc.verify_sms(aid, self.code()),
            lambda: svc.set_pin(aid, pin),
            lambda: svc.confirm_pin(aid, pin),
        ]
        for step in steps[: path.index(state)]:
            step()
        assert svc.status(aid).state == state
        return aid


@pytest.fixture
def driver(service: ActivationService, mailer: MemoryMailer, sms: MemorySms) -> Driver:
    """A driver for the memory-backed `service`."""
    return Driver(service, mailer, sms)


@contextmanager
def loopback(app: Any) -> Iterator[str]:
    """`app` served by uvicorn on a free 127.0.0.1 port, in a thread; its base URL, until the
    block ends (then the server stops)."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not (server.started and server.servers):
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
