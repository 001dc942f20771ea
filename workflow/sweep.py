"""The sweeper's walk over what is due: a batch at a time, past what it could not expire."""

from __future__ import annotations

from collections.abc import Callable, Sequence


def sweep(due: Callable[[int], Sequence[str]], expire: Callable[[str], bool], batch: int) -> int:
    """Call `expire` once on each id that `due(limit)` gives (up to `limit` due ids, soonest
    first) until none is left; how many it expired.

    Those `expire` left due (a row that fails its trust check, one that kept changing) come
    first again: each round asks for them as well as `batch` more, or the ones behind them
    would never be reached.
    """
    expired, seen, stuck = 0, set(), 0
    while True:
        limit = stuck + batch
        found = due(limit)
        for item in found:
            if item in seen:
                continue
            seen.add(item)
            if expire(item):
                expired += 1
            else:
                stuck += 1
        if len(found) < limit:
            return expired
