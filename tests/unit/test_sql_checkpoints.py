"""`Checkpoints`: a file store copies SQLite's log back into the database every so many
commits, on a thread of its own, after the writer's turn is over (SQLite's own checkpoint,
inside a commit, is only a backstop)."""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.sql import SqlStore
from adapters.sql.checkpoints import BACKSTOP_PAGES, Checkpoints
from adapters.sql.writers import Writers
from tests.unit.test_sql_writers import _locked
from workflow.domain import Change, Channel, MessageKind, OutboxMessage

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _message(n: int) -> OutboxMessage:
    return OutboxMessage(f"m{n}", "a1", MessageKind.SMS_CODE, Channel.SMS, 1, b"x" * 200, NOW, NOW)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_log_is_copied_back_every_so_many_commits_once_the_turn_is_over(tmp_path: Path) -> None:
    """Every fourth commit checkpoints, with neither the threads' lock nor the lock file
    held; the database file changes then only, and holds every message afterwards."""
    path = tmp_path / "db.sqlite"
    store = SqlStore(f"sqlite:///{path}")
    store.ensure_schema()
    writers = store._writing
    assert isinstance(writers, Writers)
    turns_held: list[tuple[bool, bool]] = []

    class Watched(Checkpoints):
        def after_commit(self, driver: Any) -> None:
            turns_held.append((writers._threads.locked(), _locked(Path(f"{path}-writers"))))
            super().after_commit(driver)

    store._checkpoints = Watched(every=4, connect=store.engine.raw_connection)
    try:
        store.commit(Change(outbox=(_message(0),)))  # the lock file exists from here on
        before = _digest(path)
        changed = []
        for n in range(1, 8):
            store.commit(Change(outbox=(_message(n),)))
            assert store.settle()
            changed.append(_digest(path) != before)
            before = _digest(path)
        assert changed == [False, False, True, False, False, False, True]  # commits 4 and 8
        assert turns_held == [(False, False)] * 8
        with sqlite3.connect(path) as other:
            assert other.execute("PRAGMA wal_autocheckpoint").fetchone() == (1000,)  # its own
        driver: Any = store.engine.raw_connection()
        try:
            assert driver.execute("PRAGMA wal_autocheckpoint").fetchone() == (BACKSTOP_PAGES,)
        finally:
            driver.close()
    finally:
        store.close()
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as reader:
        assert reader.execute("SELECT count(*) FROM ecps_outbox").fetchone() == (8,)


def test_a_checkpoint_that_fails_is_logged_and_the_commit_stands(
        caplog: pytest.LogCaptureFixture) -> None:
    """An error of the checkpoint is one warning naming its kind; nothing is raised."""
    class Failing:
        def execute(self, sql: str) -> Any:
            raise sqlite3.OperationalError(f"disk I/O error in {sql}")

    checkpoints = Checkpoints(every=2)
    with caplog.at_level(logging.WARNING, logger="ecps.sql"):
        checkpoints.after_commit(Failing())  # the first commit: no checkpoint yet
        assert caplog.records == []
        checkpoints.after_commit(Failing())
    assert [r.getMessage() for r in caplog.records] == [
        "WAL checkpoint failed (OperationalError); a later one copies the log"]


def test_checkpoints_run_on_a_thread_that_stops_with_the_store_and_when_idle(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The committing thread never checkpoints; `close` ends the thread, the next checkpoint
    due starts another, and a thread left idle ends by itself."""
    import adapters.sql.checkpoints as module

    ran_on: list[threading.Thread] = []
    real = module._checkpoint

    def noted(driver: Any) -> None:
        ran_on.append(threading.current_thread())
        real(driver)

    monkeypatch.setattr(module, "_checkpoint", noted)
    store = SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}")
    checkpoints = store._checkpoints = Checkpoints(every=2, connect=store.engine.raw_connection)
    try:
        for n in range(4):
            store.commit(Change(outbox=(_message(n),)))
        assert store.settle()
        first = ran_on[-1]
        assert {t.name for t in ran_on} == {"ecps-sqlite-checkpoints"}
        assert threading.current_thread() not in ran_on
        store.close()
        assert not first.is_alive()
        assert checkpoints._thread is None
        monkeypatch.setattr(module, "IDLE_EXIT", 0.01)
        for n in range(4, 6):
            store.commit(Change(outbox=(_message(n),)))
        assert store.settle()
        again = ran_on[-1]
        assert again is not first
        again.join(30)
        assert not again.is_alive()  # idle: ended by itself
        assert checkpoints._thread is None
        for n in range(6, 8):
            store.commit(Change(outbox=(_message(n),)))
        assert store.settle()
        assert ran_on[-1] is not again
    finally:
        store.close()
    with sqlite3.connect(f"file:{tmp_path / 'db.sqlite'}?mode=ro", uri=True) as reader:
        assert reader.execute("SELECT count(*) FROM ecps_outbox").fetchone() == (8,)


def test_a_forked_child_checkpoints_on_a_thread_of_its_own(tmp_path: Path) -> None:
    """A child forked after the parent's thread started commits and checkpoints by itself;
    the parent's thread goes on in the parent."""
    store = SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store._checkpoints = Checkpoints(every=2, connect=store.engine.raw_connection)
    try:
        for n in range(2):
            store.commit(Change(outbox=(_message(n),)))
        assert store.settle()
        child = multiprocessing.get_context("fork").Process(target=_commit_twice, args=(store,))
        child.start()
        child.join(60)
        assert child.exitcode == 0
        for n in range(4, 6):
            store.commit(Change(outbox=(_message(n),)))
        assert store.settle()
    finally:
        store.close()
    with sqlite3.connect(f"file:{tmp_path / 'db.sqlite'}?mode=ro", uri=True) as reader:
        assert reader.execute("SELECT count(*) FROM ecps_outbox").fetchone() == (6,)


def _commit_twice(store: SqlStore) -> None:
    checkpoints = store._checkpoints
    assert checkpoints is not None
    assert checkpoints._thread is None  # the parent's stayed in the parent
    for n in range(2, 4):
        store.commit(Change(outbox=(_message(n),)))
    if not store.settle() or checkpoints._thread is None:
        raise SystemExit(1)
    store.close()
