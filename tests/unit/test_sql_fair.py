"""`FairSemaphore`: places are granted in the order they were asked for."""

from __future__ import annotations

import threading

import pytest

from adapters.sql.fair import FairSemaphore


def _until_queued(sem: FairSemaphore, count: int) -> None:
    """Wait (without a clock) until `count` threads are queued on `sem`."""
    while len(sem._queue) < count:
        threading.Event().wait(0.001)


def test_places_go_to_the_longest_waiting_thread() -> None:
    """One place, five threads queued one after the other: each gets it in its turn, and the
    holder that gives it back cannot take it again before them."""
    sem = FairSemaphore(1)
    assert sem.acquire()
    order: list[int] = []

    def waiter(n: int) -> None:
        with sem:
            order.append(n)

    threads = []
    for n in range(5):
        thread = threading.Thread(target=waiter, args=(n,))
        thread.start()
        threads.append(thread)
        _until_queued(sem, n + 1)
    sem.release()
    for thread in threads:
        thread.join(10)
    assert order == list(range(5))


def test_a_wait_that_times_out_leaves_its_place_in_the_queue() -> None:
    """A thread that gives up waiting is no longer queued: the next release frees the place."""
    sem = FairSemaphore(2)
    assert sem.acquire()
    assert sem.acquire()
    assert not sem.acquire(timeout=0.01)
    assert len(sem._queue) == 0
    sem.release()
    assert sem.acquire(timeout=0)


def test_at_least_one_place() -> None:
    with pytest.raises(ValueError, match="at least one place"):
        FairSemaphore(0)
