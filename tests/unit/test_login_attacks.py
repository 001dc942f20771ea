"""The login against what an outsider or a careless caller tries: a locked credential's other
logins, the assertion's claims, several logins of one credential."""

from __future__ import annotations

from datetime import timedelta

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from adapters.memory import MemoryMailer, MemoryPush, MemorySms, MemoryStore, StaticDirectory
from tests.conftest import NID, Driver, people
from workflow import ActivationService, Settings
from workflow.errors import ActivationLocked, TransitionNotAllowed, VerificationFailed
from workflow.login import LoginState
from workflow.testing import FakeClock
from workflow.verification import verify_trails

PIN, WRONG = "4821", "1397"
PORTAL = {"client_id": "portail-paca", "client_name": "Portail de santé PACA", "binding_message": "A7-3F"}


@pytest.fixture
def service(store: MemoryStore, mailer: MemoryMailer, sms: MemorySms, clock: FakeClock,
            settings: Settings) -> ActivationService:
    """The memory service with a recording push gateway."""
    return ActivationService(store=store, mailer=mailer, sms=sms, push=MemoryPush(),
                             directory=StaticDirectory(people()), clock=clock, settings=settings)


@pytest.fixture
def aid(driver: Driver) -> str:
    """An active credential of `NID` with PIN 4821."""
    return driver.reach("active", pin=PIN)


def test_a_credential_locked_elsewhere_ends_its_waiting_logins(
        service: ActivationService, aid: str) -> None:
    """Locked by `authenticate`: the app lists none of its logins, the portal's poll says denied."""
    waiting = service.start_login(NID, **PORTAL)
    service.dispatch()
    for _ in range(9):
        with pytest.raises(VerificationFailed):
            service.authenticate(aid, WRONG)
    with pytest.raises(ActivationLocked):
        service.authenticate(aid, WRONG)
    assert service.pending_logins(aid) == ()
    result = service.login_result(waiting.login_id)
    assert (result.state, result.closed_reason, result.assertion) == (
        LoginState.DENIED, "credential no longer active", None)
    with pytest.raises(TransitionNotAllowed):
        service.approve_login(waiting.login_id, PIN)
    assert service.status(aid).counters["login_failures"] == 10
    assert verify_trails(service.store, service.keys, service.engine).intact


def test_a_revoked_credential_s_login_is_denied_at_the_next_poll(
        service: ActivationService, aid: str, clock: FakeClock) -> None:
    """Revoked while a login waits: the poll ends it denied, the assertion is never given."""
    waiting = service.start_login(NID, **PORTAL)
    service.dispatch()
    assert service.login_result(waiting.login_id).state == LoginState.NOTIFIED
    service.revoke(aid, reason="deleted")
    clock.advance(service.settings.login_poll_interval)
    assert service.login_result(waiting.login_id).state == LoginState.DENIED
    assert service.pending_logins(aid) == ()


def test_a_poll_that_finds_the_credential_gone_records_no_push_that_was_not_sent(
        service: ActivationService, aid: str, clock: FakeClock) -> None:
    """Revoked before the push left: the poll ends the login with `withdraw`, and its trail
    says nothing reached the phone (a `deny` from `requested` would have recorded `push_sent`)."""
    login = service.start_login(NID, **PORTAL)
    service.revoke(aid, reason="deleted")
    assert service.login_result(login.login_id).state == LoginState.DENIED
    trail = service.store.audit_trail(login.login_id)
    assert [(e.action, e.dest) for e in trail] == [("start", "requested"), ("withdraw", "denied")]
    assert verify_trails(service.store, service.keys, service.engine).intact


def test_an_approved_login_gives_no_assertion_once_its_credential_is_revoked(
        service: ActivationService, aid: str, clock: FakeClock) -> None:
    """Approved, then the credential revoked before the portal collects: the poll ends the
    login denied (credential no longer active) and no assertion is ever given for it."""
    login = service.start_login(NID, **PORTAL)
    service.dispatch()
    assert service.approve_login(login.login_id, PIN).state == LoginState.APPROVED
    service.revoke(aid, reason="compromised")
    clock.advance(service.settings.login_poll_interval)
    result = service.login_result(login.login_id)
    assert (result.state, result.closed_reason, result.assertion) == (
        LoginState.DENIED, "credential no longer active", None)
    assert verify_trails(service.store, service.keys, service.engine).intact


def test_the_professional_can_withdraw_an_approval_the_portal_has_not_collected(
        service: ActivationService, aid: str, clock: FakeClock) -> None:
    """Approved by mistake: the app's deny ends the login before the portal's poll collects."""
    login = service.start_login(NID, **PORTAL)
    service.dispatch()
    service.approve_login(login.login_id, PIN)
    assert service.deny_login(login.login_id).state == LoginState.DENIED
    result = service.login_result(login.login_id)
    assert (result.state, result.assertion) == (LoginState.DENIED, None)


def test_the_assertion_is_issued_when_collected(
        service: ActivationService, aid: str, clock: FakeClock) -> None:
    """`auth_time` is the approval, `iat` the collection, `exp` five minutes after it."""
    login = service.start_login(NID, **PORTAL)
    service.dispatch()
    approved_at = clock.now()
    service.approve_login(login.login_id, PIN)
    clock.advance(timedelta(seconds=40))
    assertion = service.login_result(login.login_id).assertion
    assert assertion is not None
    token = jwt.decode(assertion, KeySet.import_key_set(service.jwks()), algorithms=["ES256"])
    assert token.header["alg"] == "ES256"
    claims = token.claims
    assert claims["auth_time"] == int(approved_at.timestamp())
    assert claims["iat"] == int(clock.now().timestamp())
    assert claims["exp"] == claims["iat"] + 300
