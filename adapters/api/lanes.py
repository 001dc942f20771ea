"""The threads that run requests: those that hash or check a PIN run on a lane of their own."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from anyio import CapacityLimiter, to_thread

T = TypeVar("T")

DEFAULT_PIN_THREADS = 4


class PinLane:
    """At most `size` threads for the requests that hash or check a PIN (0.2-0.3 s each at the
    default cost, out of the interpreter lock), apart from the app's request threads.

    The other requests then never wait behind a PIN check, and they need few threads: on
    SQLite, two request threads answer more than eight, which contend for the interpreter lock.
    """

    def __init__(self, size: int = DEFAULT_PIN_THREADS) -> None:
        if size < 1:
            raise ValueError("a PIN lane needs at least one thread")
        self.size = size
        self._limiter: CapacityLimiter | None = None

    async def run(self, call: Callable[[], T]) -> T:
        """`call()` on one of the lane's threads."""
        if self._limiter is None:  # made on first use, in the app's event loop
            self._limiter = CapacityLimiter(self.size)
        return await to_thread.run_sync(call, limiter=self._limiter)
