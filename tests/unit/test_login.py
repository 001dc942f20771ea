"""The login by push notification through the library, on memory adapters."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from adapters.memory import MemoryMailer, MemoryPush, MemorySms, MemoryStore, StaticDirectory
from tests.conftest import NID, NID2, Driver, people
from workflow import ActivationService, Settings
from workflow.errors import (
    ActivationExpired,
    ActivationLocked,
    AlreadyUsed,
    DeliveryFailed,
    InvalidInput,
    LoginNotFound,
    NotEligible,
    SlowDown,
    TooManyRequests,
    TransitionNotAllowed,
    VerificationFailed,
)
from workflow.login import LoginState
from workflow.messages import Push
from workflow.testing import FakeClock
from workflow.verification import verify_trails

PIN, WRONG = "4821", "1397"
PORTAL = {"client_id": "portail-paca", "client_name": "Portail de santé PACA", "binding_message": "A7-3F"}


class FailingPush:
    """A push gateway that refuses every notification for good."""

    def send(self, push: Push) -> None:
        raise DeliveryFailed("unknown device", transient=False)


@pytest.fixture
def push() -> MemoryPush:
    """A recording push gateway."""
    return MemoryPush()


@pytest.fixture
def service(store: MemoryStore, mailer: MemoryMailer, sms: MemorySms, clock: FakeClock,
            settings: Settings, push: MemoryPush) -> ActivationService:
    """The memory service with a push gateway."""
    return ActivationService(store=store, mailer=mailer, sms=sms, push=push,
                             directory=StaticDirectory(people()), clock=clock, settings=settings)


@pytest.fixture
def aid(driver: Driver) -> str:
    """An active credential of `NID` with PIN 4821."""
    return driver.reach("active", pin=PIN)


def test_a_login_runs_from_the_portal_to_the_signed_assertion(
        service: ActivationService, push: MemoryPush, aid: str, clock: FakeClock) -> None:
    """Start, push, pending in the app, approve with the PIN, poll once: a JWS the JWKS verifies."""
    started = service.start_login(NID, **PORTAL)
    assert started.state == LoginState.REQUESTED
    assert started.expires_at == clock.now() + timedelta(minutes=2)
    assert service.dispatch() == 1
    assert push.sent == [Push("phone-1", started.login_id, PORTAL["client_name"],
                              PORTAL["binding_message"], push.sent[0].message_id)]
    pending = service.pending_logins(aid)
    assert [(p.login_id, p.binding_message) for p in pending] == [(started.login_id, "A7-3F")]
    assert service.approve_login(started.login_id, PIN).state == LoginState.APPROVED
    assert service.pending_logins(aid) == ()
    result = service.login_result(started.login_id)
    assert result.state == LoginState.COMPLETED
    assert result.assertion is not None
    claims = jwt.decode(result.assertion, KeySet.import_key_set(service.jwks()),
                        algorithms=["ES256"]).claims
    assert claims["aud"] == "portail-paca"
    assert claims["jti"] == started.login_id
    assert claims["sub"] == service.keys.pseudonym(NID) != NID
    assert claims["amr"] == ["pin", "hwk"]
    assert claims["auth_time"] == int(clock.now().timestamp())
    assert claims["exp"] > claims["auth_time"]
    clock.advance(timedelta(seconds=1))
    with pytest.raises(AlreadyUsed, match="already used"):
        service.login_result(started.login_id)


def test_the_push_holds_no_identifier_contact_or_secret(
        service: ActivationService, push: MemoryPush, aid: str, store: MemoryStore) -> None:
    """Neither the push nor the stored rows show the identifier, the PIN or a contact."""
    login = service.start_login(NID, **PORTAL)
    service.dispatch()
    shown = repr(push.sent) + store.dump()
    for secret in (NID, "jane.doe@domain.fr", "0612345678"):
        assert secret not in shown
    service.approve_login(login.login_id, PIN)
    assert service.login_result(login.login_id).assertion not in store.dump()


def test_polling_faster_than_allowed_is_slow_down(
        service: ActivationService, aid: str, clock: FakeClock) -> None:
    """A second poll within the interval is `SlowDown` with the seconds to wait."""
    login = service.start_login(NID, **PORTAL)
    assert service.login_result(login.login_id).state == LoginState.REQUESTED
    clock.advance(timedelta(seconds=2))
    with pytest.raises(SlowDown) as slow:
        service.login_result(login.login_id)
    assert slow.value.retry_after == 3
    clock.advance(timedelta(seconds=3))
    assert service.login_result(login.login_id).state == LoginState.REQUESTED


def test_a_wrong_pin_counts_on_the_credential_shared_with_authenticate(
        service: ActivationService, aid: str) -> None:
    """Wrong PINs for logins and for `authenticate` add up; a right login PIN resets them."""
    login = service.start_login(NID, **PORTAL)
    with pytest.raises(VerificationFailed) as wrong:
        service.approve_login(login.login_id, WRONG)
    assert wrong.value.attempts_left == 9
    with pytest.raises(VerificationFailed):
        service.authenticate(aid, WRONG)
    assert service.status(aid).counters["login_failures"] == 2
    assert service.approve_login(login.login_id, PIN).state == LoginState.APPROVED
    assert service.status(aid).counters["login_failures"] == 0


def test_the_tenth_wrong_pin_locks_the_credential_and_denies_the_login(
        service: ActivationService, aid: str) -> None:
    """After nine wrong PINs (some by `authenticate`), the tenth locks; the login ends denied."""
    login = service.start_login(NID, **PORTAL)
    for _ in range(4):
        with pytest.raises(VerificationFailed):
            service.authenticate(aid, WRONG)
    for _ in range(5):
        with pytest.raises(VerificationFailed):
            service.approve_login(login.login_id, WRONG)
    with pytest.raises(ActivationLocked):
        service.approve_login(login.login_id, WRONG)
    assert service.status(aid).state == "locked"
    result = service.login_result(login.login_id)
    assert (result.state, result.closed_reason) == (LoginState.DENIED, "credential locked")
    with pytest.raises(NotEligible):
        service.start_login(NID, **PORTAL)


def test_deny_and_cancel_end_the_login(service: ActivationService, aid: str) -> None:
    """The professional denies one login, the portal cancels another; neither can be approved."""
    denied = service.start_login(NID, **PORTAL).login_id
    cancelled = service.start_login(NID, **PORTAL).login_id
    assert service.deny_login(denied).state == LoginState.DENIED
    assert service.cancel_login(cancelled).state == LoginState.CANCELLED
    assert service.login_result(cancelled).closed_reason == "cancelled by the portal"
    assert service.login_result(denied).closed_reason == "denied by the professional"
    for lid in (denied, cancelled):
        with pytest.raises(TransitionNotAllowed):
            service.approve_login(lid, PIN)
    assert service.status(aid).counters["login_failures"] == 0


def test_a_login_expires_after_its_validity(
        service: ActivationService, aid: str, clock: FakeClock) -> None:
    """At two minutes an approval records `expire` and is refused; the app no longer lists it."""
    login = service.start_login(NID, **PORTAL)
    clock.advance(timedelta(minutes=2))
    assert service.pending_logins(aid) == ()
    with pytest.raises(ActivationExpired, match=r"^the login has expired \('approve' refused\)$"):
        service.approve_login(login.login_id, PIN)
    assert service.login_result(login.login_id).state == LoginState.EXPIRED
    with pytest.raises(ActivationExpired, match=r"^the login has expired"):  # and once recorded
        service.deny_login(login.login_id)
    assert service.status(aid).counters["login_failures"] == 0


def test_an_undeliverable_push_fails_the_login(
        store: MemoryStore, mailer: MemoryMailer, sms: MemorySms, clock: FakeClock,
        settings: Settings) -> None:
    """A push refused for good ends the login `failed`."""
    svc = ActivationService(store=store, mailer=mailer, sms=sms, push=FailingPush(),
                            directory=StaticDirectory(people()), clock=clock, settings=settings)
    Driver(svc, mailer, sms).reach("active", pin=PIN)
    login = svc.start_login(NID, **PORTAL)
    svc.dispatch()
    result = svc.login_result(login.login_id)
    assert (result.state, result.closed_reason) == (LoginState.FAILED, "push undeliverable")


def test_starting_is_refused_without_an_active_credential_or_over_the_limit(
        service: ActivationService, aid: str, driver: Driver) -> None:
    """No active e-CPS is `NotEligible`; the eleventh login in ten minutes is `TooManyRequests`."""
    driver.reach("emailed", nid=NID2)
    with pytest.raises(NotEligible, match="no active e-CPS"):
        service.start_login(NID2, **PORTAL)
    for _ in range(10):
        service.start_login(NID, **PORTAL)
    with pytest.raises(TooManyRequests):
        service.start_login(NID, **PORTAL)


def test_a_refused_start_is_audited_in_the_identifier_s_chain_of_refusals(
        service: ActivationService, store: MemoryStore, aid: str, driver: Driver) -> None:
    """A start refused for want of a credential or over the limit appends a chained refusal,
    as a refused activation request does, and nothing else; the chain verifies."""
    driver.reach("emailed", nid=NID2)
    with pytest.raises(NotEligible):
        service.start_login(NID2, **PORTAL)
    for _ in range(10):
        service.start_login(NID, **PORTAL)
    with pytest.raises(TooManyRequests):
        service.start_login(NID, **PORTAL)
    refused = [e for e in store.audit_trail("") if e.action == "start"]
    assert [(e.subject, e.actor, e.outcome, e.seq) for e in refused] == [
        (service.keys.pseudonym(NID2), "portal", "refused", 1),
        (service.keys.pseudonym(NID), "portal", "refused", 1)]
    assert "no active e-CPS" in refused[0].reason
    assert len(store.logins_of(aid, set(LoginState))) == 10
    assert verify_trails(store, service.keys, service.engine).intact


@pytest.mark.parametrize(("field", "value"), [("client_id", ""), ("client_name", None),
                                          ("binding_message", "x" * 33), ("client_name", "a\nb")])
def test_malformed_portal_input_is_invalid(
        service: ActivationService, aid: str, field: str, value: object) -> None:
    """Empty, non-text, overlong or unprintable portal fields are `InvalidInput`."""
    with pytest.raises(InvalidInput):
        service.start_login(NID, **{**PORTAL, field: value})


def test_unknown_logins_and_malformed_pins_are_refused(service: ActivationService, aid: str) -> None:
    """An unknown id is `LoginNotFound`; a malformed PIN is `InvalidInput` and not counted."""
    with pytest.raises(LoginNotFound):
        service.login_result("lg-nothing")
    login = service.start_login(NID, **PORTAL)
    with pytest.raises(InvalidInput):
        service.approve_login(login.login_id, "12a4")
    assert service.status(aid).counters["login_failures"] == 0


def test_the_audit_trail_of_a_login_is_chained(service: ActivationService, aid: str) -> None:
    """Each transition and refusal of a login is an audit event chained to the one before."""
    login = service.start_login(NID, **PORTAL)
    service.dispatch()
    with pytest.raises(VerificationFailed):
        service.approve_login(login.login_id, WRONG)
    service.approve_login(login.login_id, PIN)
    trail = service.store.audit_trail(login.login_id)
    assert [(e.action, e.outcome, e.dest) for e in trail] == [
        ("start", "ok", "requested"), ("push_sent", "ok", "notified"),
        ("approve", "refused", "notified"), ("approve", "ok", "approved")]
    assert all(b.prev_hash == a.hash for a, b in pairwise(trail))
    assert NID not in repr(trail)


class FlakyPush(MemoryPush):
    """A push gateway that asks to come back later once, then accepts."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = 0

    def send(self, push: Push) -> None:
        if not self.refused:
            self.refused += 1
            raise DeliveryFailed("busy", transient=True, retry_after=30)
        super().send(push)


def test_a_refused_push_is_retried_after_its_wait_and_sealed_meanwhile(
        store: MemoryStore, mailer: MemoryMailer, sms: MemorySms, clock: FakeClock,
        settings: Settings) -> None:
    """A transient refusal is retried once its Retry-After has passed; the row is ciphertext, then erased."""
    push = FlakyPush()
    svc = ActivationService(store=store, mailer=mailer, sms=sms, push=push,
                            directory=StaticDirectory(people()), clock=clock, settings=settings)
    Driver(svc, mailer, sms).reach("active", pin=PIN)
    login = svc.start_login(NID, **PORTAL)
    (row,) = store.outbox_of(login.login_id)
    assert b"A7-3F" not in row.payload
    assert login.login_id.encode() not in row.payload
    assert svc.dispatch() == 0
    clock.advance(timedelta(seconds=29))
    assert svc.dispatch() == 0
    clock.advance(timedelta(seconds=1))
    assert svc.dispatch() == 1
    assert [p.login_id for p in push.sent] == [login.login_id]
    assert store.get_login(login.login_id).state == LoginState.NOTIFIED  # type: ignore[union-attr]
    (row,) = store.outbox_of(login.login_id)
    assert row.payload == b""


def test_the_sweeper_expires_logins_past_their_validity(
        service: ActivationService, aid: str, clock: FakeClock, store: MemoryStore) -> None:
    """`expire_due` records `expire` on each login whose two minutes are over, and only those."""
    old = service.start_login(NID, **PORTAL).login_id
    clock.advance(timedelta(minutes=1))
    young = service.start_login(NID, **PORTAL).login_id
    clock.advance(timedelta(minutes=1))
    assert service.expire_due() == 1
    assert store.get_login(old).state == LoginState.EXPIRED  # type: ignore[union-attr]
    assert store.get_login(young).state == LoginState.REQUESTED  # type: ignore[union-attr]
    assert service.expire_due() == 0


def test_a_login_s_steps_reach_the_event_feed_in_order(
        store: MemoryStore, mailer: MemoryMailer, sms: MemorySms, clock: FakeClock,
        settings: Settings) -> None:
    """With a sink, each step of a login is a `login.<state>` event, in order, round-tripping JSON."""
    from adapters.memory import MemorySink
    from workflow import events

    sink = MemorySink()
    svc = ActivationService(store=store, mailer=mailer, sms=sms, push=MemoryPush(), sink=sink,
                            directory=StaticDirectory(people()), clock=clock, settings=settings)
    aid = Driver(svc, mailer, sms).reach("active", pin=PIN)
    login = svc.start_login(NID, **PORTAL).login_id
    svc.dispatch()
    svc.approve_login(login, PIN)
    svc.login_result(login)
    svc.dispatch()
    svc.dispatch()
    mine = [e for e in sink.unique() if e.activation_id == login]
    assert [e.kind for e in mine] == ["login.requested", "login.notified", "login.approved",
                                      "login.completed"]
    assert all(events.from_json(e.to_json()) == e for e in mine)
    assert NID not in repr(mine)
    credential = [e.kind for e in sink.unique() if e.activation_id == aid]
    assert credential[-1] == "credential.login_succeeded"


def test_a_checkpoint_covers_the_logins_trails(service: ActivationService, store: MemoryStore,
                                               aid: str, clock: FakeClock) -> None:
    """A login's events count in a checkpoint: removing one shows; a checkpoint file made
    before logins were covered is read back with its own rule."""
    from workflow.verification import Checkpoint, make_checkpoint, verify_checkpoint

    started = service.start_login(NID, **PORTAL)
    service.dispatch()
    service.approve_login(started.login_id, PIN)
    clock.advance(timedelta(minutes=5))
    checkpoint = make_checkpoint(store, service.keys, service.now())
    trail = store.audit_trail(started.login_id)
    assert len(trail) >= 2
    assert checkpoint.events == sum(len(store.audit_trail(i)) for i in ("", aid, started.login_id))
    assert verify_checkpoint(store, service.keys, checkpoint) == []
    kept = list(store._audit[started.login_id])
    store._audit[started.login_id].pop()
    assert verify_checkpoint(store, service.keys, checkpoint) != []
    store._audit[started.login_id][:] = kept
    assert verify_checkpoint(store, service.keys, checkpoint) == []
    made_before = {k: v for k, v in checkpoint.as_dict().items() if k != "logins"}
    assert not Checkpoint.from_dict(made_before).logins  # an older file keeps its own rule
