"""`paged`: the verifier's walk over every activation's or login's id, a page at a time."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from workflow import verification
from workflow.verification import paged


@pytest.fixture
def ids() -> list[str]:
    """Seven ids in order, read by pages of three."""
    return [f"id{i}" for i in range(7)]


def _pages(ids: list[str], asked: list[tuple[str | None, int]]) -> Callable[[str | None, int], list[str]]:
    def page(after: str | None, count: int) -> list[str]:
        asked.append((after, count))
        return [i for i in ids if after is None or i > after][:count]
    return page


def test_every_record_comes_once_in_id_order_a_page_at_a_time(
        ids: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Each page starts after the last id of the one before; a short page is the last."""
    monkeypatch.setattr(verification, "PAGE", 3)
    asked: list[tuple[str | None, int]] = []
    assert list(paged(_pages(ids, asked), str.upper)) == [i.upper() for i in ids]
    assert asked == [(None, 3), ("id2", 3), ("id5", 3)]


def test_a_limit_reads_no_more_than_it_needs_and_a_gone_record_is_passed_over(
        ids: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """With a limit of four the second page asks for one id; a record `get` no longer finds is skipped."""
    monkeypatch.setattr(verification, "PAGE", 3)
    asked: list[tuple[str | None, int]] = []
    got = list(paged(_pages(ids, asked), lambda key: None if key == "id1" else key, limit=4))
    assert got == ["id0", "id2", "id3"]
    assert asked == [(None, 3), ("id2", 1)]
