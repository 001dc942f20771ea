"""The store keeps its connections open between calls; one that broke is never used again."""

from __future__ import annotations

import multiprocessing
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import event

from adapters.sql import SqlStore, shown_url
from workflow.domain import Change, Write
from workflow.errors import StorageError
from workflow.testing.store_contract import sample_activation


@pytest.mark.postgres
def test_a_connection_the_server_closed_fails_one_call_and_is_replaced(
        pg_url: str, pg_admin_url: str) -> None:
    """The server ends the store's kept connection: the next call fails with `StorageError`,
    the one after it runs on a new connection, and nothing is lost."""
    name = "ecps-kept-" + secrets.token_hex(4)
    store = SqlStore(f"{pg_url}&application_name={name}")
    try:
        store.commit(Change((Write(sample_activation("kept-1"), None),)))  # the kept connection
        with psycopg.connect(pg_admin_url, autocommit=True) as admin:
            ended = admin.execute("SELECT count(*) FROM (SELECT pg_terminate_backend(pid) "
                                  "FROM pg_stat_activity WHERE application_name = %s) t",
                                  (name,)).fetchone()
        assert ended == (1,)
        with pytest.raises(StorageError):
            store.commit(Change((Write(sample_activation("kept-2"), None),)))
        store.commit(Change((Write(sample_activation("kept-3"), None),)))
        assert {a.id for a in store.list_activations()} == {"kept-1", "kept-3"}
    finally:
        store.close()


@pytest.mark.postgres
def test_closing_the_store_closes_what_it_kept(pg_url: str, pg_admin_url: str) -> None:
    """`close()` ends the kept connections: the server has none of the store's sessions left;
    used again, the store reconnects and finds everything."""
    name = "ecps-close-" + secrets.token_hex(4)
    store = SqlStore(f"{pg_url}&application_name={name}", pool_size=2)

    def sessions(settled: Callable[[int], bool]) -> int:
        """The server's sessions of the store once `settled` holds (a closed connection's
        session ends a moment after the client closed it), or after 60 s."""
        deadline = time.monotonic() + 60
        while True:
            with psycopg.connect(pg_admin_url, autocommit=True) as admin:
                found = admin.execute("SELECT count(*) FROM pg_stat_activity "
                                      "WHERE application_name = %s", (name,)).fetchone()
            count = int(found[0]) if found else -1
            if settled(count) or time.monotonic() > deadline:
                return count
            time.sleep(0.05)

    def change(n: int) -> None:
        store.commit(Change((Write(sample_activation(f"kept-{n}"), None),)))

    threads = [threading.Thread(target=change, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert 1 <= sessions(lambda n: n <= 2) <= 2  # at most pool_size stay open between calls
    store.close()
    assert sessions(lambda n: n == 0) == 0
    change(6)  # reconnects when used again
    assert len(store.list_activations()) == 7
    store.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def small_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    """A store of one pooled connection (three in use at most), on SQLite or PostgreSQL."""
    url = (request.getfixturevalue("pg_url") if request.param == "postgres"
           else f"sqlite:///{tmp_path / 'small.sqlite3'}")
    store = SqlStore(url, pool_size=1, busy_timeout=60)
    store.ensure_schema()
    yield store
    store.close()


def test_more_threads_than_connections_each_get_their_turn(small_store: SqlStore) -> None:
    """24 threads over 3 connections, each making 15 changes: all are made, no call times out,
    and no more than 3 connections were ever open at once."""
    open_now, most = [0], [0]
    lock = threading.Lock()

    def moved(by: int) -> None:
        with lock:
            open_now[0] += by
            most[0] = max(most[0], open_now[0])

    event.listen(small_store.engine, "connect", lambda *_: moved(1))
    event.listen(small_store.engine.pool, "close", lambda *_: moved(-1))
    failures: list[BaseException] = []

    def worker(t: int) -> None:
        try:
            for i in range(15):
                small_store.commit(Change((Write(sample_activation(f"t{t}-{i}"), None),)))
                with small_store.unit():
                    assert small_store.get(f"t{t}-{i}") is not None
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert failures == []
    assert len(small_store.activation_ids(None, 1000)) == 24 * 15
    assert 1 <= most[0] <= 3


def test_a_call_that_finds_no_connection_in_time_is_a_storage_error(tmp_path: Path) -> None:
    """Three units hold the three connections: a fourth call waits `busy_timeout`, then fails
    with a `StorageError` saying so; once they end, calls go through again."""
    store = SqlStore(f"sqlite:///{tmp_path / 'busy.sqlite3'}", pool_size=1, busy_timeout=0.2)
    store.ensure_schema()
    holding, done = threading.Barrier(4), threading.Event()

    def hold() -> None:
        with store.unit():
            store.get("nobody")
            holding.wait(30)
            done.wait(30)

    threads = [threading.Thread(target=hold) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        holding.wait(30)
        with pytest.raises(StorageError, match=r"no database connection came free within 0\.2 s"):
            store.get("nobody")
    finally:
        done.set()
        for thread in threads:
            thread.join(30)
    assert store.get("nobody") is None
    store.close()


@pytest.mark.postgres
def test_a_child_forked_inside_a_unit_uses_a_connection_of_its_own(pg_url: str) -> None:
    """The parent's unit keeps its transaction; the child's store calls run on another session."""
    store = SqlStore(pg_url)
    store.ensure_schema()
    fork = multiprocessing.get_context("fork")
    try:
        with store.unit():
            parent = store.list_activations(1)
            assert parent == []
            child = fork.Process(target=_commit_in_child, args=(store,))
            child.start()
            child.join(60)
            assert child.exitcode == 0
        assert {a.id for a in store.list_activations()} == {"from-child"}
    finally:
        store.close()


def _commit_in_child(store: SqlStore) -> None:
    if getattr(store._held, "conn", None) is not None:  # the parent's unit's connection
        raise SystemExit(3)
    store.commit(Change((Write(sample_activation("from-child"), None),)))


def test_values_that_cannot_be_stored_are_storage_errors(tmp_path: Path) -> None:
    """A number too large for its column, a naive deadline: `StorageError`, nothing stored."""
    store = SqlStore(f"sqlite:///{tmp_path / 'values.sqlite3'}")
    try:
        for bad in (replace(sample_activation("big"), step_count=2**70),
                    replace(sample_activation("naive"), flow_deadline=datetime(2026, 1, 1))):
            with pytest.raises(StorageError, match="cannot be stored"):
                store.commit(Change((Write(bad, None),)))
        assert store.activation_ids(None, 10) == []
    finally:
        store.close()


def test_a_shown_url_hides_its_passwords() -> None:
    """In the user part and in query options that can hold one."""
    shown = shown_url("postgresql+psycopg://me:pw1@db:5432/ecps?password=pw2&sslpassword=pw3"
                      "&application_name=ecps&options=-csearch_path%3Decps")
    for secret in ("pw1", "pw2", "pw3"):
        assert secret not in shown
    assert shown == ("postgresql+psycopg://me:***@db:5432/ecps?application_name=ecps&"
                     "options=-csearch_path%3Decps&password=***&sslpassword=***")
    assert shown_url("not a url") == "(not a database URL)"


@pytest.mark.parametrize("size", [0, -1, "5", 2.5, True])
def test_a_pool_size_that_is_not_a_whole_number_of_at_least_one_is_refused(
        tmp_path: Path, size: object) -> None:
    with pytest.raises(ValueError, match=f"pool_size must be a whole number of at least 1, not {size!r}"):
        SqlStore(f"sqlite:///{tmp_path / 'e.sqlite3'}", pool_size=size)  # type: ignore[arg-type]
