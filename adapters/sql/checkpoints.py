"""SQLite's WAL checkpoints, run on a thread of their own instead of inside a writer's turn."""

from __future__ import annotations

import itertools
import logging
import os
import sqlite3
import threading
import weakref
from collections.abc import Callable
from contextlib import suppress
from typing import Any

CHECKPOINT_EVERY = 256
"""Commits of one store between two of its checkpoints: about 3,000 pages of log for whole
activations (11 pages a commit), 6,000 for requests alone, below `BACKSTOP_PAGES`. Each
checkpoint syncs the database file, and a page written by many commits is copied once:
fewer, larger checkpoints cost less per commit than one every 64 commits did."""
BACKSTOP_PAGES = 10_000
"""SQLite's own checkpoint, at the commit that takes the log past this many pages: it still
runs should the store's stop (writes through other connections, a process that stopped)."""
STOP_WAIT = 30.0
"""Seconds `close` waits for a checkpoint under way to end."""
IDLE_EXIT = 60.0
"""Seconds without a checkpoint after which the thread ends (the next one due starts another)."""

log = logging.getLogger("ecps.sql")


class Checkpoints:
    """Copies the log back into the database every `every` commits, off the writers' path.

    SQLite checkpoints on its own at the commit that takes the log past 1,000 pages: inside
    that commit, so inside the writers' turn, which every other writer of every process then
    waits out (the database's fsync included). The store's connections leave that to a
    backstop of `BACKSTOP_PAGES`. With `connect` (a new connection to the database), a passive
    checkpoint runs on a thread of this object's, started at the first one due, on a
    connection of its own: the commit that makes it due returns at once, and writers go on
    while it copies (a passive checkpoint never waits for readers or writers). Without
    `connect`, it runs on the committing connection once its turn is over. A fork waits for a
    checkpoint under way (SQLite's locks must be free in the child), and the child starts
    without the thread.
    """

    _state: threading.Lock
    _busy: threading.Lock
    _ran: threading.Condition
    _due: threading.Event
    _thread: threading.Thread | None
    _stop: bool
    _asked: int
    _done: int

    def __init__(self, every: int = CHECKPOINT_EVERY,
                 connect: Callable[[], Any] | None = None) -> None:
        self.every = every
        self._connect = connect
        self._commits = itertools.count(1)  # `next` on it is atomic
        self._fresh()
        ref = weakref.ref(self)
        os.register_at_fork(before=lambda: _call(ref, "_before_fork"),
                            after_in_parent=lambda: _call(ref, "_after_fork_in_parent"),
                            after_in_child=lambda: _call(ref, "_fresh"))

    def after_commit(self, driver: Any) -> None:
        """Count a commit of `driver` (a sqlite3 connection); checkpoint on every `every`-th."""
        if next(self._commits) % self.every:
            return
        if self._connect is None:
            _checkpoint(driver)
            return
        with self._state:
            self._asked += 1
            self._due.set()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ecps-sqlite-checkpoints",
                                                daemon=True)
                self._thread.start()

    def settle(self, timeout: float) -> bool:
        """Whether every checkpoint asked for so far has run, waiting up to `timeout` seconds."""
        with self._state:
            asked = self._asked
        with self._ran:
            return bool(self._ran.wait_for(lambda: self._done >= asked, timeout))

    def close(self) -> None:
        """Stop the thread once its checkpoint under way is done (a later one starts it again)."""
        with self._state:
            thread = self._thread
            if thread is None:
                return
            self._stop = True
            self._due.set()
        thread.join(STOP_WAIT)
        with self._state:  # commits meanwhile found the thread there: none started another
            self._thread = None
            self._stop = False
            self._due = threading.Event()
        with self._ran:  # what was asked and not run is not waited for
            self._done = self._asked
            self._ran.notify_all()

    def _run(self) -> None:
        conn: Any = None
        due = self._due
        try:
            while True:
                if not due.wait(IDLE_EXIT):
                    with self._state:
                        if not due.is_set():  # idle: gone until the next checkpoint is due
                            if self._thread is threading.current_thread():
                                self._thread = None
                            return
                    continue
                due.clear()
                with self._state:
                    if self._stop:
                        return
                    asked = self._asked
                with self._busy:
                    if conn is None:
                        conn = self._open()
                    if conn is not None:
                        _checkpoint(conn)
                with self._ran:
                    self._done = asked
                    self._ran.notify_all()
        finally:
            if conn is not None:
                with suppress(Exception):  # closing a connection: nothing left to do
                    conn.close()

    def _open(self) -> Any:
        assert self._connect is not None
        try:
            return self._connect()
        except Exception as exc:  # the next checkpoint tries again; SQLite's backstop meanwhile
            log.warning("WAL checkpoint cannot connect (%s); a later one copies the log",
                        type(exc).__name__)
            return None

    def _fresh(self) -> None:
        """No thread, locks of its own (also in a forked child: the thread stayed in the parent)."""
        self._state = threading.Lock()
        self._busy = threading.Lock()  # held while a checkpoint runs, and across a fork
        self._ran = threading.Condition()
        self._due = threading.Event()
        self._thread = None
        self._stop = False
        self._asked = self._done = 0  # checkpoints asked for, and run (up to which one asked)

    def _before_fork(self) -> None:
        self._busy.acquire()

    def _after_fork_in_parent(self) -> None:
        self._busy.release()


def _checkpoint(driver: Any) -> None:
    try:
        driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    except sqlite3.Error as exc:  # the commit stands; a later checkpoint does the work
        log.warning("WAL checkpoint failed (%s); a later one copies the log", type(exc).__name__)


def _call(ref: weakref.ref[Checkpoints], name: str) -> None:
    checkpoints = ref()
    if checkpoints is not None:
        getattr(checkpoints, name)()
