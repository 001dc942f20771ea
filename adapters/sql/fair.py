"""`FairSemaphore`: a counting semaphore that grants its places in the order they were asked for.

`threading.Lock`, `threading.Semaphore` and SQLAlchemy's pool let a thread that has just given
a place back take it again before the threads already waiting wake up: under more threads
than places, some threads get nothing for as long as the others keep asking. Here a place
given back goes to the thread that has waited longest.
"""

from __future__ import annotations

import threading
from collections import deque
from types import TracebackType


class FairSemaphore:
    """`places` places, granted first come, first served."""

    def __init__(self, places: int) -> None:
        if places < 1:
            raise ValueError("a semaphore needs at least one place")
        self._lock = threading.Lock()
        self._free = places
        self._queue: deque[threading.Lock] = deque()  # one held lock per waiting thread

    def acquire(self, timeout: float | None = None) -> bool:
        """Take a place, waiting at most `timeout` seconds (None: as long as it takes);
        whether one was taken."""
        with self._lock:
            if self._free and not self._queue:
                self._free -= 1
                return True
            mine = threading.Lock()
            mine.acquire()
            self._queue.append(mine)
        if mine.acquire(timeout=-1 if timeout is None else max(timeout, 0)):
            return True  # handed over by `release`
        with self._lock:
            try:
                self._queue.remove(mine)
            except ValueError:  # handed over just as the wait ended: the place is ours
                return True
        return False

    def release(self) -> None:
        """Give a place back: to the longest-waiting thread, if any."""
        with self._lock:
            if self._queue:
                self._queue.popleft().release()
            else:
                self._free += 1

    def __enter__(self) -> FairSemaphore:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
