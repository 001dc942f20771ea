"""One retry loop for every compare-and-set commit: try again while the store says conflict."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from workflow.errors import ConcurrencyConflict

R = TypeVar("R")
RETRIES = 64


def retrying(attempt: Callable[[], R], gave_up: str, tries: int = RETRIES) -> R:
    """The result of the first `attempt()` that does not raise `ConcurrencyConflict`.

    After `tries` conflicts in a row raises `ConcurrencyConflict(gave_up)`.
    """
    for _ in range(tries):
        try:
            return attempt()
        except ConcurrencyConflict:
            continue
    raise ConcurrencyConflict(gave_up)
