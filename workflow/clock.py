"""The system clock, and the check every time read by the engine passes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from workflow.ports import Clock


class SystemClock:
    """The real time, aware UTC."""

    def now(self) -> datetime:
        """The current time."""
        return datetime.now(UTC)


def checked_now(clock: Clock) -> datetime:
    """`clock.now()`, refusing a naive or non-UTC time."""
    now = clock.now()
    if now.utcoffset() != timedelta(0):
        raise ValueError("the clock must return timezone-aware UTC times")
    return now
