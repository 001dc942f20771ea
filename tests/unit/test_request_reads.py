"""A request reads its identifier's turn and request count once (before the directory lookup),
and again only when its commit finds the turn taken meanwhile."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import pytest

from adapters.memory import MemoryMailer, MemorySms, MemoryStore, StaticDirectory
from tests.conftest import NID, fast_settings, people
from workflow import ActivationService, State, TooManyRequests
from workflow.messages import DirectoryEntry
from workflow.testing import FakeClock


class Counting(MemoryStore):
    """Counts `turn` and `requests_since`; the first `stale` turns read one behind the truth
    (as if another request of the identifier committed right after the read)."""

    def __init__(self, stale: int = 0) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()
        self.stale = stale

    def turn(self, subject: str) -> int:
        self.calls["turn"] += 1
        turn = super().turn(subject)
        if self.stale and turn:
            self.stale -= 1
            return turn - 1
        return turn

    def requests_since(self, subject: str, since: datetime) -> list[datetime]:
        self.calls["requests_since"] += 1
        return super().requests_since(subject, since)


def _service(store: MemoryStore) -> ActivationService:
    return ActivationService(store=store, mailer=MemoryMailer(), sms=MemorySms(),
                             directory=StaticDirectory(people()), clock=FakeClock(),
                             settings=fast_settings())


def test_a_request_reads_the_turn_and_the_count_once() -> None:
    store = Counting()
    svc = _service(store)
    svc.request(NID)
    assert store.calls == {"turn": 1, "requests_since": 1}


def test_a_turn_taken_meanwhile_is_read_again_with_the_count() -> None:
    """The second request's first read is stale: its commit is refused, the retry reads both
    again and commits; the first flow is superseded as usual."""
    store = Counting()
    svc = _service(store)
    first = svc.request(NID).activation_id
    store.calls.clear()
    store.stale = 1
    second = svc.request(NID)
    assert store.calls == {"turn": 2, "requests_since": 2}
    assert second.superseded == (first,)
    assert svc.status(first).state == State.CANCELLED


def test_the_limit_is_checked_before_the_directory_is_asked() -> None:
    """Past the limit a request is refused without a directory lookup."""
    store = Counting()
    svc = _service(store)
    asked: list[str] = []
    lookup = svc.directory.lookup

    def counted(nid: str) -> DirectoryEntry | None:
        asked.append(nid)
        return lookup(nid)

    svc.directory.lookup = counted  # type: ignore[method-assign]
    for _ in range(fast_settings().max_requests):
        svc.request(NID)
    with pytest.raises(TooManyRequests):
        svc.request(NID)
    assert len(asked) == fast_settings().max_requests
