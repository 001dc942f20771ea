"""SQLite's WAL checkpoints, run after a writer's turn instead of inside it."""

from __future__ import annotations

import itertools
import logging
import sqlite3
from typing import Any

CHECKPOINT_EVERY = 256
"""Commits of one store between two of its checkpoints: about 3,000 pages of log for whole
activations (11 pages a commit), 6,000 for requests alone, below `BACKSTOP_PAGES`. Each
checkpoint syncs the database file, and a page written by many commits is copied once:
fewer, larger checkpoints cost less per commit than one every 64 commits did."""
BACKSTOP_PAGES = 10_000
"""SQLite's own checkpoint, at the commit that takes the log past this many pages: it still
runs should the store's stop (writes through other connections, a process that stopped)."""

log = logging.getLogger("ecps.sql")


class Checkpoints:
    """Copies the log back into the database every `every` commits, once the writer's turn
    is over.

    SQLite checkpoints on its own at the commit that takes the log past 1,000 pages: inside
    that commit, so inside the writers' turn, which every other writer of every process then
    waits out (the database's fsync included). The store's connections leave that to a
    backstop of `BACKSTOP_PAGES`; this passive checkpoint runs on the committing thread after
    it gave the turn up, and never waits for readers or other writers.
    """

    def __init__(self, every: int = CHECKPOINT_EVERY) -> None:
        self.every = every
        self._commits = itertools.count(1)  # `next` on it is atomic

    def after_commit(self, driver: Any) -> None:
        """Count a commit of `driver` (a sqlite3 connection); checkpoint on every `every`-th."""
        if next(self._commits) % self.every:
            return
        try:
            driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:  # the commit stands; a later checkpoint does the work
            log.warning("WAL checkpoint failed (%s); a later one copies the log",
                        type(exc).__name__)
