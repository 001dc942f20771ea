"""Helper of the concurrency tests: calls released together from many threads."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

from workflow import WorkflowError


def at_once(count: int, call: Callable[[int], object], wait: float = 120) -> list[str]:
    """Run `call(i)` in `count` threads released together (waiting up to `wait` seconds for each);
    each outcome as "ok" or an error name ("" for a call still running)."""
    barrier, outcomes = threading.Barrier(count), [""] * count

    def run(i: int) -> None:
        barrier.wait()
        try:
            call(i)
            outcomes[i] = "ok"
        except WorkflowError as exc:
            outcomes[i] = type(exc).__name__

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, so their calls interleave
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(wait)
    finally:
        sys.setswitchinterval(interval)
    return list(outcomes)
