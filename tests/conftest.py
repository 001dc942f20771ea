"""Shared fixtures: fast settings, a fake clock, a service on memory adapters, PostgreSQL."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest

from adapters.memory import MemoryMailer, MemorySms, MemoryStore, StaticDirectory
from workflow import ActivationService, Settings
from workflow.messages import DirectoryEntry
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
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return None
    except Exception as exc:
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
