"""Wrong operator tokens, counted: past `FAILURES` in `WINDOW` seconds from one address, that
address waits; past `FAILURES_ALL` from all addresses together (a local proxy may let a client
choose its address), every address does. The API's operator routes and the console's sign-in
count into one `Guesses`, so a guesser gains nothing by alternating them."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

FAILURES = 5  # wrong tokens an address may give in WINDOW seconds
FAILURES_ALL = 100  # and all addresses together
WINDOW = 60
ADDRESSES = 10_000  # addresses whose failures are remembered at once (the oldest are forgotten)
_EVERYONE = ""  # the key of the failures of all addresses


class Guesses:
    """The recent wrong operator tokens, by address; `clock` (seconds) dates them."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._failed: dict[str, deque[float]] = {}

    def wait(self, address: str) -> int:
        """Seconds `address` must wait before its token is even compared; 0 if none."""
        now = self._clock()
        with self._lock:
            for key, bound in (("@" + address, FAILURES), (_EVERYONE, FAILURES_ALL)):
                failed = self._failed.get(key)
                while failed and failed[0] <= now - WINDOW:
                    failed.popleft()
                if failed is not None and len(failed) >= bound:
                    return max(1, math.ceil(failed[0] + WINDOW - now))
        return 0

    def failed(self, address: str) -> None:
        """Count a wrong token given from `address`."""
        now, key = self._clock(), "@" + address
        with self._lock:
            if key not in self._failed and len(self._failed) >= ADDRESSES:
                self._failed.pop(next(k for k in self._failed if k != _EVERYONE))
            for k in (key, _EVERYONE):
                self._failed.setdefault(k, deque()).append(now)
