"""A clock that moves only when told to."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

DEFAULT_START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class FakeClock:
    """A settable, thread-safe clock; starts at `start` (aware UTC) or a fixed Monday morning."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or DEFAULT_START
        if not isinstance(start, datetime) or start.utcoffset() != timedelta(0):
            raise ValueError("FakeClock needs a timezone-aware UTC start")
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The current fake time."""
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by `delta` (never backward); returns the new time."""
        if not isinstance(delta, timedelta):
            raise TypeError(f"advance() needs a timedelta, not {type(delta).__name__}")
        if delta < timedelta(0):
            raise ValueError("time only moves forward")
        with self._lock:
            self._now += delta
            return self._now

    def set(self, when: datetime) -> None:
        """Jump to `when` (aware UTC, not earlier than now)."""
        with self._lock:
            if not isinstance(when, datetime) or when.utcoffset() != timedelta(0) or when < self._now:
                raise ValueError("set() needs an aware UTC time not earlier than now")
            self._now = when
