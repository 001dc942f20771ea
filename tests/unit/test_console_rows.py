"""The console's pieces that need no HTTP: its session cookies and its list's filters."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from adapters.api.console.rows import (
    BATCH,
    PAGE,
    SCAN,
    Filters,
    Page,
    Row,
    activation_rows,
    all_rows,
    cursor_text,
    parse_cursor,
    subject_of,
)
from adapters.api.console.session import LIFETIME, Sessions
from adapters.api.settings import HttpSettings
from adapters.memory import MemoryStore
from tests.conftest import NID, NID2, memory_service
from workflow import ActivationService, State
from workflow.domain import Activation, Change, Write
from workflow.testing import FakeClock
from workflow.testing.store_contract import sample_activation

SESSIONS = Sessions(HttpSettings.with_token("a-token-of-twenty-chars"))


def test_a_session_lives_its_lifetime_and_no_longer() -> None:
    """A cookie is valid from its issue until LIFETIME seconds later."""
    cookie = SESSIONS.issue(now=1000)
    assert SESSIONS.valid(cookie, now=1000 + LIFETIME)
    assert not SESSIONS.valid(cookie, now=1001 + LIFETIME)
    assert not SESSIONS.valid(cookie, now=999)


def test_a_session_is_bound_to_its_token_and_cannot_be_edited() -> None:
    """Another token's cookie, an edited issue time or a cut MAC are refused."""
    cookie = SESSIONS.issue(now=1000)
    other = Sessions(HttpSettings.with_token("another-token-twenty-chars"))
    assert not other.valid(cookie, now=1000)
    issued, nonce, mac = cookie.split(".")
    assert not SESSIONS.valid(f"{int(issued) + LIFETIME}.{nonce}.{mac}", now=1000 + LIFETIME)
    assert not SESSIONS.valid(f"{issued}.{nonce}.{mac[:-1]}", now=1000)
    assert not SESSIONS.valid(f"{issued}.{nonce}x.{mac}", now=1000)
    assert not Sessions(HttpSettings()).valid(cookie, now=1000)


def test_the_csrf_token_differs_per_session() -> None:
    """Two sessions' forms carry different CSRF tokens."""
    assert SESSIONS.csrf(SESSIONS.issue(now=1)) != SESSIONS.csrf(SESSIONS.issue(now=2))


def _two(clock: FakeClock) -> tuple[ActivationService, str, str]:
    svc = memory_service(clock)
    old = svc.request(NID).activation_id
    clock.advance(timedelta(hours=2))
    return svc, old, svc.request(NID2).activation_id


def test_the_list_filters_by_state_age_and_pseudonym() -> None:
    """State (a passed deadline counts as expired), age in hours and identifier each narrow the list."""
    clock = FakeClock()
    svc, old, new = _two(clock)
    now = svc.now()
    ids = lambda f: [r.id for r in activation_rows(svc, f, now).rows]  # noqa: E731
    assert ids(Filters()) == [new, old]
    assert ids(Filters(state="expired")) == [old]  # its QR token's hour has passed
    assert ids(Filters(state="requested")) == [new]
    assert ids(Filters(max_age_hours=1)) == [new]
    assert ids(Filters(subject=subject_of(svc, NID))) == [old]


def test_rows_of_every_source_are_merged_newest_first() -> None:
    """Another workflow's rows join the list by adding a source."""
    clock = FakeClock()
    svc, old, new = _two(clock)
    between = Row("login", "login-1", "notified", svc.now() - timedelta(hours=1), "", "/x")
    page = all_rows(svc, Filters(), svc.now(), sources=(activation_rows, lambda *_: Page([between], None)))
    assert [r.id for r in page.rows] == [new, "login-1", old]
    assert page.next is None


class Counting(MemoryStore):
    """A memory store that counts the activations its list returns."""

    read = 0

    def list_activations(self, limit: int = 100,
                         before: tuple[datetime, str] | None = None) -> list[Activation]:
        found = super().list_activations(limit, before)
        self.read += len(found)
        return found


def _many(n: int, **fields: object) -> tuple[ActivationService, Counting]:
    store = Counting()
    svc = memory_service(FakeClock(), store=store)
    at = svc.now() - timedelta(seconds=30 * n)
    store.commit(Change(tuple(Write(sample_activation(f"a{i:05d}", created=at + timedelta(seconds=30 * i),
                                                      **fields), None) for i in range(n))))
    return svc, store


def test_the_list_pages_through_every_activation_reading_a_page_at_a_time() -> None:
    """Pages follow each other from the newest to the oldest, none lost or repeated, and the
    first page reads a batch, not the whole store."""
    svc, store = _many(2 * BATCH + 7)
    seen: list[str] = []
    page = all_rows(svc, Filters(), svc.now())
    assert len(page.rows) == PAGE
    assert store.read == PAGE + 1
    while True:
        seen += [r.id for r in page.rows]
        if page.next is None:
            break
        page = all_rows(svc, Filters(before=parse_cursor(cursor_text(page.next))), svc.now())
    assert seen == [f"a{i:05d}" for i in reversed(range(2 * BATCH + 7))]


def test_a_list_of_whole_pages_has_no_empty_last_page() -> None:
    """Exactly two pages of activations: the second offers no third."""
    svc, _ = _many(2 * PAGE)
    first = all_rows(svc, Filters(), svc.now())
    second = all_rows(svc, Filters(before=first.next), svc.now())
    assert (len(second.rows), second.next) == (PAGE, None)


def test_a_filter_that_matches_nothing_reads_a_bounded_number_and_offers_more() -> None:
    """A state no activation is in: a page reads at most SCAN activations, then points further."""
    svc, store = _many(SCAN + BATCH, state=State.ACTIVE, step_deadline=None)
    page = all_rows(svc, Filters(state="locked"), svc.now())
    assert page.rows == []
    assert SCAN <= store.read < SCAN + BATCH
    assert page.next is not None
    page = all_rows(svc, Filters(state="locked", before=page.next), svc.now())
    assert (page.rows, page.next) == ([], None)


def test_the_age_filter_stops_at_the_first_older_activation() -> None:
    """Newest first: past the age asked for, nothing more is read."""
    svc, store = _many(10 * BATCH)  # one every 30 s
    rows, before = [], None
    while True:
        page = all_rows(svc, Filters(max_age_hours=1, before=before), svc.now())
        rows += page.rows
        if (before := page.next) is None:
            break
    assert len(rows) == 120  # an hour holds 120 of them
    assert store.read < 2 * BATCH


@pytest.mark.parametrize("text", ["", "x", "12.", ".a", "9" * 18 + ".a", "-1.a",
                                  "1." + "a" * 100, "\u00b2.x", "\u2460.x", "\u0663\u0664.x"])
def test_a_malformed_cursor_is_the_first_page(text: str) -> None:
    """Anything but a cursor this list wrote is ignored."""
    assert parse_cursor(text) is None
