"""The sweeper's walk: every due id is tried once, those it cannot expire are read past."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workflow.sweep import sweep


class Due:
    """Due ids soonest first; `expire` ends those not in `stuck`. Notes each limit asked."""

    def __init__(self, count: int, stuck: set[int]) -> None:
        self.due = [f"a{i:04d}" for i in range(count)]
        self.stuck = {f"a{i:04d}" for i in stuck}
        self.tried: list[str] = []
        self.limits: list[int] = []

    def read(self, limit: int) -> list[str]:
        self.limits.append(limit)
        return self.due[:limit]

    def expire(self, item: str) -> bool:
        self.tried.append(item)
        if item in self.stuck:
            return False
        self.due.remove(item)
        return True


@given(count=st.integers(0, 60), stuck=st.sets(st.integers(0, 59)), batch=st.integers(1, 8))
def test_every_due_id_is_tried_once_and_every_one_that_can_be_is_expired(
        count: int, stuck: set[int], batch: int) -> None:
    due = Due(count, {i for i in stuck if i < count})
    expired = sweep(due.read, due.expire, batch)
    assert sorted(due.tried) == sorted(set(due.tried))  # once each
    assert set(due.tried) == {f"a{i:04d}" for i in range(count)}
    assert expired == count - len(due.stuck)
    assert due.due == sorted(due.stuck)


def test_each_round_asks_past_the_ids_left_due() -> None:
    due = Due(5, {0, 1})
    assert sweep(due.read, due.expire, 2) == 3
    assert due.limits == [2, 4, 4]  # 2 read, both left due; then 2 more past them, twice


@pytest.mark.parametrize("batch", [1, 3])
def test_ids_that_are_never_expired_end_the_walk(batch: int) -> None:
    """A source that keeps giving ids `expire` leaves (a stale index) cannot make it spin."""
    due = Due(4, {0, 1, 2, 3})
    assert sweep(due.read, due.expire, batch) == 0
    assert due.tried == ["a0000", "a0001", "a0002", "a0003"]
