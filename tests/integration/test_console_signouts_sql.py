"""A console session signed out on one server process is refused by every other one sharing
the database (the sign-outs live in the store's database), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.api.console.signouts import MemorySignOuts, SignOuts, SqlSignOuts
from adapters.sql import SqlStore
from tests.conftest import memory_service
from tests.e2e.console_client import console_client, csrf_of, sign_in
from workflow.testing import FakeClock


@pytest.fixture
def two_stores(url: str) -> Iterator[tuple[SqlStore, SqlStore]]:
    """Two stores over one database, as two server processes have."""
    one, two = SqlStore(url), SqlStore(url)
    one.ensure_schema()
    yield one, two
    one.close()
    two.close()


def test_a_session_signed_out_on_one_process_is_refused_by_the_other(
        two_stores: tuple[SqlStore, SqlStore]) -> None:
    clock = FakeClock()
    here, there = (console_client(memory_service(clock, store=s)) for s in two_stores)
    sign_in(here)
    cookie = here.cookies.get("ecps_console")
    assert cookie
    there.cookies.set("ecps_console", cookie)
    assert there.get("/console").status_code == 200  # the same session, on the other process
    assert here.post("/console/logout", data={"csrf": csrf_of(here)}).status_code == 303
    there.cookies.set("ecps_console", cookie)  # a copy kept by whoever had it
    refused = there.get("/console")
    assert refused.status_code == 303
    assert refused.headers["location"] == "/console/login"


@pytest.mark.parametrize("kind", ["memory", "sql"])
def test_a_sign_out_lasts_until_the_session_would_have_expired(
        kind: str, two_stores: tuple[SqlStore, SqlStore]) -> None:
    signouts: SignOuts = MemorySignOuts() if kind == "memory" else SqlSignOuts(two_stores[0])
    signouts.end("nonce-1", until=2000.0, now=1000.0)
    signouts.end("nonce-1", until=2000.0, now=1001.0)  # twice: still one, no error
    assert signouts.ended("nonce-1", now=1999.0)
    assert not signouts.ended("nonce-2", now=1999.0)
    assert not signouts.ended("nonce-1", now=2000.5)
