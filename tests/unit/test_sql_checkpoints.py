"""`Checkpoints`: a file store copies SQLite's log back into the database every so many
commits, after the writer's turn is over (SQLite's own checkpoint, inside a commit, is only
a backstop)."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
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

    store._checkpoints = Watched(every=4)
    try:
        store.commit(Change(outbox=(_message(0),)))  # the lock file exists from here on
        before = _digest(path)
        changed = []
        for n in range(1, 8):
            store.commit(Change(outbox=(_message(n),)))
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
