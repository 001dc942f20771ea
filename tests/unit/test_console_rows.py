"""The console's pieces that need no HTTP: its session cookies and its list's filters."""

from __future__ import annotations

from datetime import timedelta

from adapters.api.console.rows import Filters, Row, activation_rows, all_rows, subject_of
from adapters.api.console.session import LIFETIME, Sessions
from adapters.api.settings import HttpSettings
from tests.conftest import NID, NID2, memory_service
from workflow import ActivationService
from workflow.testing import FakeClock

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
    ids = lambda f: [r.id for r in activation_rows(svc, f, now)]  # noqa: E731
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
    rows = all_rows(svc, Filters(), svc.now(), (activation_rows, lambda *_: [between]))
    assert [r.id for r in rows] == [new, "login-1", old]
