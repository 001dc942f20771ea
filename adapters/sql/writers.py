"""`Writers`: one writer at a time on a SQLite database file, handed over quickly between processes.

SQLite lets one connection write at a time. A connection that finds the write lock taken
waits in SQLite's busy handler, which sleeps 1, 2, 5, 10, 15... ms between tries: behind
another process's transaction of a fraction of a millisecond, a writer sleeps for several.
With two server processes, or a server and its dispatcher, on one file, that sleep was most
of a request's time. So writers queue here first: this process's threads on a lock (woken at
once), then processes on an `flock` of a file beside the database, tried again after 50 µs,
doubling up to 1 ms. `BEGIN IMMEDIATE` then finds the write lock free, unless a writer that
does not queue here holds it (another program), whom SQLite's busy handler still waits for.
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
import time
from types import TracebackType

FIRST_TRY_AGAIN = 50e-6
"""Seconds before trying the file lock again; each next pause doubles up to `LAST_TRY_AGAIN`."""
LAST_TRY_AGAIN = 1e-3
_LOCK_FILE = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
_TRY_AGAIN = {errno.EMFILE, errno.ENFILE, errno.ENOMEM}  # passing shortages, not the folder's
_sleep = time.sleep  # the pause between two tries (a test sees through it that one waits)


class Writers:
    """The write turn on the SQLite database at `database` (a file path), as a context manager.

    `timeout` bounds the wait for the file lock; past it the writer goes on without it and
    SQLite's own busy timeout applies. No path (a `file:` URI), or a folder where the lock
    file cannot be made, leaves only the lock between this process's threads. Fork-safe: call
    `after_fork` in the child.
    """

    def __init__(self, database: str | None, timeout: float) -> None:
        self.path = None if database is None else database + "-writers"
        self.timeout = timeout
        self._threads = threading.Lock()
        self._fd: int | None = None
        self._opened = False
        self._holding = False

    def __enter__(self) -> Writers:
        self._threads.acquire()
        try:
            fd = self._file()
            self._holding = fd is not None and self._flock(fd)
        except BaseException:
            self._threads.release()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        try:
            if self._holding and self._fd is not None:
                self._holding = False
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def after_fork(self) -> None:
        """In a forked child: a lock and a file description of its own (a parent's thread
        may have held the lock; the description is shared with the parent)."""
        self._threads = threading.Lock()
        if self._fd is not None:
            os.close(self._fd)  # the parent's lock stays: it holds the description too
        self._fd, self._opened, self._holding = None, False, False

    def close(self) -> None:
        """Close the lock file (a writer after this opens it again)."""
        with self._threads:
            if self._fd is not None:
                os.close(self._fd)
            self._fd, self._opened = None, False

    def _file(self) -> int | None:
        """The lock file, opened at the first write (None: this process goes without it; a
        failure for want of descriptors or memory is tried again at the next write)."""
        if not self._opened and self.path is not None:
            try:
                self._fd = os.open(self.path, _LOCK_FILE, 0o600)
            except OSError as exc:
                self._fd = None
                self._opened = exc.errno not in _TRY_AGAIN
            else:
                self._opened = True
                _owned_as_database(self._fd, self.path)
        return self._fd

    def _flock(self, fd: int) -> bool:
        """Whether the file lock was taken within the timeout."""
        deadline, pause = time.monotonic() + self.timeout, FIRST_TRY_AGAIN
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
            except OSError:  # a file system without flock: SQLite's busy handler alone
                return False
            _sleep(pause)
            pause = min(2 * pause, LAST_TRY_AGAIN)


def _owned_as_database(fd: int, path: str) -> None:
    """As SQLite does for its `-wal` and `-shm` files: a lock file made by root (an operator's
    command) goes to the database's owner, whose server could not open it otherwise."""
    if os.geteuid() != 0:
        return
    try:
        database = os.stat(path.removesuffix("-writers"))
        if os.fstat(fd).st_uid != database.st_uid:
            os.fchown(fd, database.st_uid, database.st_gid)
    except OSError:
        pass  # no database file yet (or no chown here): the file stays as it is
