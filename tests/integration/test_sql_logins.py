"""Logins over SqlStore (SQLite, PostgreSQL): end to end, and wrong PINs counted under concurrency."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from adapters.memory import MemoryMailer, MemoryPush, MemorySms, StaticDirectory
from adapters.sql import SqlStore
from tests.conftest import NID, Driver, fast_settings, people
from tests.integration.threads import at_once
from workflow import ActivationService
from workflow.audit import verify
from workflow.login import LoginState
from workflow.ports import LoginStore
from workflow.testing import FakeClock

PIN, WRONG = "4821", "1397"
PORTAL = {"client_id": "portail-paca", "client_name": "Portail de santé PACA", "binding_message": "A7-3F"}


@pytest.fixture
def svc(url: str, clock: FakeClock) -> Iterator[ActivationService]:
    """A service with a push gateway over a fresh SQL database."""
    store = SqlStore(url)
    yield ActivationService(store=store, mailer=MemoryMailer(), sms=MemorySms(), push=MemoryPush(),
                            directory=StaticDirectory(people()), clock=clock,
                            settings=fast_settings())
    store.close()


def _active(svc: ActivationService) -> str:
    mailer, sms = svc.dispatcher.mailer, svc.dispatcher.sms
    assert isinstance(mailer, MemoryMailer)
    assert isinstance(sms, MemorySms)
    return Driver(svc, mailer, sms).reach("active", pin=PIN)


def test_a_login_runs_end_to_end_on_sql(svc: ActivationService) -> None:
    """Start, push, approve, poll: the assertion verifies, the trail chains, the row reads back."""
    aid = _active(svc)
    login = svc.start_login(NID, **PORTAL)
    assert svc.dispatch() == 1
    assert [p.login_id for p in svc.pending_logins(aid)] == [login.login_id]
    svc.approve_login(login.login_id, PIN)
    result = svc.login_result(login.login_id)
    assert result.state == LoginState.COMPLETED
    assert result.assertion is not None
    claims = jwt.decode(result.assertion, KeySet.import_key_set(svc.jwks())).claims
    assert claims["jti"] == login.login_id
    trail = svc.store.audit_trail(login.login_id)
    assert [e.dest for e in trail] == ["requested", "notified", "approved", "completed"]
    assert verify(svc.keys, trail) == []


def test_fifty_concurrent_wrong_pins_across_five_logins_count_exactly_ten(
        svc: ActivationService) -> None:
    """50 threads approve 5 logins of one professional with wrong PINs: 10 counted, then locked."""
    aid = _active(svc)
    logins = [svc.start_login(NID, **PORTAL).login_id for _ in range(5)]
    outcomes = at_once(50, lambda i: svc.approve_login(logins[i % 5], WRONG), wait=300)
    tally = Counter(outcomes)
    credential = svc.store.get(aid)
    assert credential is not None
    counted = [e for e in svc.store.audit_trail(aid)
               if e.action == "authenticate" and e.outcome in ("wrong", "exhausted")]
    store = svc.store
    assert isinstance(store, SqlStore)
    print(f"\n[figures] 50 wrong-PIN approvals over 5 logins ({store.dialect_name}): "
          f"{dict(tally)}; counted {len(counted)}, credential {credential.state}")
    assert tally["VerificationFailed"] == 9
    assert tally["ActivationLocked"] >= 1
    assert set(tally) <= {"VerificationFailed", "ActivationLocked", "TransitionNotAllowed",
                          "ConcurrencyConflict"}
    assert len(counted) == 10
    assert credential.login_failures == 10
    assert credential.state == "locked"
    states = {svc.login_result(lid).state for lid in logins}
    assert states == {LoginState.DENIED}
    assert verify(svc.keys, svc.store.audit_trail(aid)) == []


def test_audit_verification_covers_the_logins_and_sees_an_edited_row(
        svc: ActivationService, url: str) -> None:
    """The logins' trails verify; a login row edited outside the service is named, also in a
    field its trail does not vouch for (by its seal)."""
    from sqlalchemy import create_engine, text

    from workflow.login.verification import verify_logins
    from workflow.verification import Verification

    _active(svc)
    kept, edited = (svc.start_login(NID, **PORTAL).login_id for _ in range(2))
    svc.dispatch()
    svc.approve_login(kept, PIN)
    found = verify_logins(svc.store, svc.keys, svc.logins.engine, Verification())
    assert (found.logins, found.intact) == (2, True)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE ecps_login SET state = 'approved' WHERE id = :id"), {"id": edited})
        conn.execute(text("UPDATE ecps_login SET binding_message = 'ZZ-99' WHERE id = :id"),
                     {"id": kept})  # no trail vouches for it: only the seal sees it
    engine.dispose()
    found = verify_logins(svc.store, svc.keys, svc.logins.engine, Verification())
    seal = "the row does not match its seal: a field was changed outside the service"
    assert sorted((f.activation_id, f.problem) for f in found.findings) == sorted([
        (edited, "the row says approved, its trail says notified"), (edited, seal), (kept, seal)])


def test_a_login_row_edited_outside_the_service_is_refused(svc: ActivationService, url: str) -> None:
    """A login set to `approved` in the database gives no assertion: the service refuses the row."""
    from sqlalchemy import create_engine, text

    from workflow.errors import StorageError

    _active(svc)
    lid = svc.start_login(NID, **PORTAL).login_id
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE ecps_login SET state = 'approved', approved_at = created_at "
                          "WHERE id = :id"), {"id": lid})
    engine.dispose()
    with pytest.raises(StorageError, match="changed outside the service"):
        svc.login_result(lid)
    assert svc.dispatch() == 0


def test_a_binding_message_edited_outside_the_service_is_never_shown(
        svc: ActivationService, url: str) -> None:
    """The app's list of pending logins refuses a row whose portal or binding message was
    changed in the database (the professional compares that message to the portal's)."""
    from sqlalchemy import create_engine, text

    from workflow.errors import StorageError

    aid = _active(svc)
    lid = svc.start_login(NID, **PORTAL).login_id
    assert [p.binding_message for p in svc.pending_logins(aid)] == [PORTAL["binding_message"]]
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE ecps_login SET binding_message = 'ZZ-99', client_name = 'Evil' "
                          "WHERE id = :id"), {"id": lid})
    engine.dispose()
    with pytest.raises(StorageError, match=f"login {lid} was changed outside the service"):
        svc.pending_logins(aid)


def test_twenty_concurrent_starts_take_exactly_the_ten_allowed(svc: ActivationService) -> None:
    """20 portals start logins for one identifier at once: 10 are accepted, no more."""
    _active(svc)
    outcomes = at_once(20, lambda _: svc.start_login(NID, **PORTAL), wait=300)
    tally = Counter(outcomes)
    store = svc.store
    assert isinstance(store, SqlStore)
    print(f"\n[figures] 20 concurrent starts ({store.dialect_name}): {dict(tally)}")
    assert tally["ok"] <= 10
    assert set(tally) <= {"ok", "TooManyRequests", "ConcurrencyConflict"}
    aid = svc.store.list_activations(1)[0].id
    assert len(store.logins_of(aid, set(LoginState))) == tally["ok"]
    assert tally["ok"] == 10 or tally["ConcurrencyConflict"] > 0


def test_logins_list_newest_first_a_page_at_a_time(svc: ActivationService, clock: FakeClock) -> None:
    """`list_logins` reads the newest first and, from a cursor, only those below it (two logins
    of one instant ordered by id)."""
    _active(svc)
    made = [svc.start_login(NID, **PORTAL).login_id for _ in range(2)]
    clock.advance(timedelta(seconds=1))
    made.append(svc.start_login(NID, **PORTAL).login_id)
    store = svc.store
    assert isinstance(store, LoginStore)
    newest = [made[2], *sorted(made[:2], reverse=True)]
    assert [g.id for g in store.list_logins(10)] == newest
    first = store.list_logins(2)
    assert [g.id for g in first] == newest[:2]
    below = store.list_logins(10, before=(first[-1].created_at, first[-1].id))
    assert [g.id for g in below] == newest[2:]
