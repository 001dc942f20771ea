"""A store write begun inside another write of the same thread is refused at once, never a hang.

On SQLite the inner write would queue behind the outer one, which waits for the inner one to
return; on PostgreSQL it could wait for a row the outer one locked. Both backends refuse it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from adapters.sql import SqlStore
from tests.conftest import NID
from tests.integration.test_sql_outbox import Line
from workflow.errors import StorageError

INSIDE = "this thread is already inside a write of this store"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def line(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A service over a fresh SQLite file or PostgreSQL schema, with a table of its own."""
    url = (f"sqlite:///{tmp_path / 'ecps.db'}" if request.param == "sqlite"
           else request.getfixturevalue("pg_url"))
    with SqlStore(url) as store:
        with store.writing("make the table") as conn:
            conn.execute(text("CREATE TABLE counted (n INTEGER NOT NULL)"))
        yield Line(store)


def _count(store: SqlStore) -> int:
    with store.connection() as conn:
        return int(conn.execute(text("SELECT count(*) FROM counted")).scalar_one())


def _raised(call: Any) -> BaseException | None:
    """What `call` raised, if anything."""
    try:
        call()
    except BaseException as exc:
        return exc
    return None


def test_a_write_inside_a_write_is_refused_and_the_outer_one_commits(line: Any) -> None:
    store = line.store
    with store.writing("outer") as conn:
        conn.execute(text("INSERT INTO counted VALUES (1)"))
        with pytest.raises(StorageError, match=f"inner: {INSIDE}"), store.writing("inner"):
            pytest.fail("the inner write ran")
    assert _count(store) == 1
    with store.writing("after") as conn:  # the thread writes again once the outer one is over
        conn.execute(text("INSERT INTO counted VALUES (2)"))
    assert _count(store) == 2


def test_a_service_call_inside_a_write_is_refused_and_changes_nothing(line: Any) -> None:
    store = line.store
    with store.writing("outer"), pytest.raises(StorageError, match=INSIDE):
        line.svc.request(NID)
    assert store.list_activations() == []
    assert line.mail.sent == []
    assert line.svc.dispatch() == 0
    assert line.svc.request(NID).activation_id  # the same thread, after the block


def test_a_rider_that_writes_on_its_own_is_refused_and_its_transaction_rolled_back(
        line: Any) -> None:
    store = line.store

    def rider(conn: Any) -> None:
        conn.execute(text("INSERT INTO counted VALUES (1)"))
        with store.writing("the rider's own"):
            pytest.fail("the rider's own write ran")

    with store.along(rider) as ride, pytest.raises(StorageError, match=INSIDE):
        line.svc.request(NID)
    assert not ride.done
    assert store.list_activations() == []
    assert _count(store) == 0


def test_closing_the_store_inside_its_write_is_refused_and_closing_after_works(
        line: Any) -> None:
    store = line.store
    with store.writing("outer") as conn:
        conn.execute(text("INSERT INTO counted VALUES (1)"))
        with pytest.raises(StorageError, match="close the store after the write"):
            store.close()
    assert _count(store) == 1
    store.close()
    assert _count(store) == 1  # the store reconnects


def test_another_thread_writing_meanwhile_is_not_refused(line: Any) -> None:
    """The mark is the writing thread's own: another thread's write waits its turn, or goes on
    beside it, and is done."""
    store = line.store
    outcome: list[BaseException | None] = []
    worker = threading.Thread(target=lambda: outcome.append(_raised(lambda: line.svc.request(NID))))
    with store.writing("outer") as conn:
        conn.execute(text("INSERT INTO counted VALUES (1)"))
        worker.start()
    worker.join(60)
    assert outcome == [None]
    assert len(store.list_activations()) == 1
    assert _count(store) == 1
