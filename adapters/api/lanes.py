"""Where requests run: the API's on the app's threads or on the event loop's own thread, those
that hash or check a PIN on threads of their own."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from anyio import CapacityLimiter, to_thread

T = TypeVar("T")

DEFAULT_PIN_THREADS = 4


class Lane:
    """Runs the blocking part of a request: on one of the app's threads (anyio's, which
    `create_app` caps at its `threads`) or, `inline`, on the event loop's own thread.

    Inline, a request costs no hand-over between threads (a quarter of `POST /activations` on
    SQLite), but the process answers nothing else while it runs: right when requests wait on
    nothing but this machine, wrong when they wait on the network.
    """

    def __init__(self, inline: bool = False) -> None:
        self.inline = inline

    async def run(self, call: Callable[[], T]) -> T:
        """`call()` on one of the lane's threads, or here on the event loop's."""
        if self.inline:
            return call()
        return await to_thread.run_sync(call)


class PinLane(Lane):
    """At most `size` threads for the requests that hash or check a PIN (0.2-0.3 s each at the
    default cost, out of the interpreter lock), apart from the app's: the other requests never
    wait behind one."""

    def __init__(self, size: int = DEFAULT_PIN_THREADS) -> None:
        if size < 1:
            raise ValueError("a PIN lane needs at least one thread")
        super().__init__()
        self.size = size
        self._limiter: CapacityLimiter | None = None

    async def run(self, call: Callable[[], T]) -> T:
        if self._limiter is None:  # made on first use, in the app's event loop
            self._limiter = CapacityLimiter(self.size)
        return await to_thread.run_sync(call, limiter=self._limiter)
