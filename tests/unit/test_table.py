"""Every row of the transition table (docs/specification.md §3) and every guard outcome, on memory."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from adapters.memory import MemoryMailer, MemorySms, MemoryStore
from tests.conftest import NID, Driver
from workflow import (
    ActivationExpired,
    ActivationLocked,
    ActivationService,
    PinMismatch,
    State,
    TooManyRequests,
    TransitionNotAllowed,
    VerificationFailed,
)
from workflow.domain import Delivery, MessageKind
from workflow.testing import FakeClock


def events(service: ActivationService, aid: str) -> list[tuple[str, str | None, str]]:
    """The history as (event, source, dest) triples."""
    return [(s.event, s.source, s.dest) for s in service.status(aid).history]


def test_request_creates_requested_and_queues_the_email(service: ActivationService,
                                                        store: MemoryStore) -> None:
    """`request` creates the record in `requested` with one activation e-mail in the outbox."""
    started = service.request(NID, device_id="phone-1")
    assert started.state == State.REQUESTED
    assert (started.masked_email, started.masked_phone) == ("ja****@domain.fr", "06****78")
    assert events(service, started.activation_id) == [("request", None, "requested")]
    [message] = store.outbox_of(started.activation_id)
    assert message.kind == MessageKind.ACTIVATION_EMAIL
    assert message.status == Delivery.PENDING


def test_email_sent_after_the_mailer_accepts(service: ActivationService, mailer: MemoryMailer) -> None:
    """The dispatcher records `email_sent` (requested → emailed) once the mailer took the e-mail."""
    aid = service.request(NID).activation_id
    assert service.dispatch() == 1
    assert len(mailer.sent) == 1
    assert events(service, aid)[-1] == ("email_sent", "requested", "emailed")


def test_scan_in_emailed_moves_to_scanned_and_sends_a_code(driver: Driver, sms: MemorySms) -> None:
    """A valid scan takes emailed → scanned and queues the SMS code."""
    aid = driver.reach("emailed")
    driver.service.scan(aid, driver.payload(aid))
    assert driver.service.dispatch() == 1
    assert len(sms.sent) == 1
    assert events(driver.service, aid)[-1] == ("scan", "emailed", "scanned")


def test_scan_while_requested_records_email_sent_then_scan(service: ActivationService,
                                                           store: MemoryStore) -> None:
    """A valid scan before delivery was recorded proves it: `email_sent`, then `scan`."""
    aid = service.request(NID).activation_id
    [message] = store.outbox_of(aid)
    payload = json.loads(service.keys.unseal(message.payload))["payload"]
    result = service.scan(aid, payload)
    assert [(s.event, s.source, s.dest) for s in result.steps] == [
        ("email_sent", "requested", "emailed"), ("scan", "emailed", "scanned")]
    assert service.dispatch() == 1  # the SMS; the now-useless activation e-mail is dropped
    assert store.outbox_of(aid)[0].status == Delivery.DROPPED


def test_resend_email_kills_the_old_token(driver: Driver, clock: FakeClock) -> None:
    """`resend_email` is a self-loop with a new token; the old payload is refused."""
    svc = driver.service
    aid = driver.reach("emailed")
    old = driver.payload(aid)
    clock.advance(timedelta(seconds=61))
    svc.resend_email(aid)
    svc.dispatch()
    new = driver.payload(aid)
    assert new != old
    assert events(svc, aid)[-1] == ("resend_email", "emailed", "emailed")
    with pytest.raises(VerificationFailed) as refused:
        svc.scan(aid, old)
    assert refused.value.attempts_left is None
    assert svc.scan(aid, new).state == State.SCANNED


def test_resend_email_in_requested_is_a_self_loop(service: ActivationService, clock: FakeClock) -> None:
    """`resend_email` in `requested` stays `requested`."""
    aid = service.request(NID).activation_id
    clock.advance(timedelta(seconds=60))
    assert service.resend_email(aid).state == State.REQUESTED
    assert events(service, aid)[-1] == ("resend_email", "requested", "requested")


def test_resend_cooldown_and_maximum(service: ActivationService, clock: FakeClock) -> None:
    """Resends wait 60 s from the last message of the channel and stop after 3."""
    aid = service.request(NID).activation_id
    clock.advance(timedelta(seconds=59))
    with pytest.raises(TooManyRequests) as early:
        service.resend_email(aid)
    assert early.value.retry_after == 1
    for _ in range(3):
        clock.advance(timedelta(seconds=60))
        service.resend_email(aid)
    clock.advance(timedelta(seconds=60))
    with pytest.raises(TooManyRequests) as over:
        service.resend_email(aid)
    assert over.value.retry_after > 0
    assert sum(s.event == "resend_email" for s in service.status(aid).history) == 3


def test_resend_sms_kills_the_old_code(driver: Driver, clock: FakeClock) -> None:
    """`resend_sms` is a self-loop with a new code; the old code is then wrong."""
    svc = driver.service
    aid = driver.reach("scanned")
    old = driver.code()
    clock.advance(timedelta(seconds=60))
    assert svc.resend_sms(aid).state == State.SCANNED
    svc.dispatch()
    new = driver.code()
    if old != new:
        with pytest.raises(VerificationFailed):
            svc.verify_sms(aid, old)
    assert svc.verify_sms(aid, new).state == State.SMS_VERIFIED


def test_resend_sms_limits(driver: Driver, clock: FakeClock) -> None:
    """SMS resends have their own cooldown and maximum of 3."""
    svc = driver.service
    aid = driver.reach("scanned")
    with pytest.raises(TooManyRequests):
        svc.resend_sms(aid)
    for _ in range(3):
        clock.advance(timedelta(seconds=60))
        svc.resend_sms(aid)
    clock.advance(timedelta(seconds=60))
    with pytest.raises(TooManyRequests):
        svc.resend_sms(aid)


def test_verify_sms_right_code(driver: Driver) -> None:
    """The right fresh code takes scanned → sms_verified."""
    aid = driver.reach("scanned")
    assert driver.service.verify_sms(aid, driver.code()).state == State.SMS_VERIFIED


def wrong_code(right: str) -> str:
    """A well-formed code different from `right`."""
    return "000000" if right != "000000" else "111111"


def test_verify_sms_wrong_code_counts_then_locks(driver: Driver) -> None:
    """Each wrong code counts; the 5th locks and raises ActivationLocked."""
    svc = driver.service
    aid = driver.reach("scanned")
    bad = wrong_code(driver.code())
    for left in (4, 3, 2, 1):
        with pytest.raises(VerificationFailed) as wrong:
            svc.verify_sms(aid, bad)
        assert wrong.value.attempts_left == left
    with pytest.raises(ActivationLocked):
        svc.verify_sms(aid, bad)
    assert svc.status(aid).state == State.LOCKED
    assert events(svc, aid)[-1] == ("verify_sms", "scanned", "locked")
    with pytest.raises(ActivationLocked):
        svc.verify_sms(aid, driver.code())


def test_stale_sms_code_is_refused_without_counting(driver: Driver, clock: FakeClock) -> None:
    """A code older than 5 minutes is refused, not counted, and the flow stays scanned."""
    svc = driver.service
    aid = driver.reach("scanned")
    clock.advance(timedelta(minutes=5))
    with pytest.raises(VerificationFailed) as stale:
        svc.verify_sms(aid, driver.code())
    assert stale.value.attempts_left is None
    status = svc.status(aid)
    assert status.state == State.SCANNED
    assert status.attempts_left == 5
    svc.resend_sms(aid)
    svc.dispatch()
    assert svc.verify_sms(aid, driver.code()).state == State.SMS_VERIFIED


def test_set_pin_then_confirm_activates(driver: Driver) -> None:
    """set_pin: sms_verified → pin_set; equal confirmation: pin_set → active."""
    svc = driver.service
    aid = driver.reach("sms_verified")
    assert svc.set_pin(aid, "4821").state == State.PIN_SET
    assert svc.confirm_pin(aid, "4821").state == State.ACTIVE
    assert events(svc, aid)[-2:] == [("set_pin", "sms_verified", "pin_set"),
                                     ("confirm_pin", "pin_set", "active")]


def test_confirm_mismatch_goes_back_then_locks(driver: Driver) -> None:
    """A differing confirmation goes back to choosing; the 3rd mismatch locks."""
    svc = driver.service
    aid = driver.reach("sms_verified")
    for left in (2, 1):
        svc.set_pin(aid, "4821")
        with pytest.raises(PinMismatch) as mismatch:
            svc.confirm_pin(aid, "4822")
        assert mismatch.value.attempts_left == left
        assert svc.status(aid).state == State.SMS_VERIFIED
    svc.set_pin(aid, "4821")
    with pytest.raises(ActivationLocked):
        svc.confirm_pin(aid, "4822")
    assert svc.status(aid).state == State.LOCKED


def test_authenticate_right_wrong_and_lock(driver: Driver) -> None:
    """Logins: right → True and resets failures; 10 wrong in a row lock the credential."""
    svc = driver.service
    aid = driver.reach("active")
    assert svc.authenticate(aid, "4821") is True
    with pytest.raises(VerificationFailed):
        svc.authenticate(aid, "1357")
    assert svc.authenticate(aid, "4821") is True
    assert svc.status(aid).counters["login_failures"] == 0
    for left in range(9, 0, -1):
        with pytest.raises(VerificationFailed) as wrong:
            svc.authenticate(aid, "1357")
        assert wrong.value.attempts_left == left
    with pytest.raises(ActivationLocked):
        svc.authenticate(aid, "1357")
    with pytest.raises(ActivationLocked):
        svc.authenticate(aid, "4821")
    assert events(svc, aid)[-1] == ("authenticate", "active", "locked")


@pytest.mark.parametrize("state", ["requested", "emailed", "scanned", "sms_verified", "pin_set"])
def test_cancel_any_in_flight(driver: Driver, state: str) -> None:
    """`cancel` ends any in-flight flow in `cancelled`, and drops its pending messages."""
    svc = driver.service
    aid = driver.reach(state)
    assert svc.cancel(aid).state == State.CANCELLED
    sent_before = len(driver.mailer.sent) + len(driver.sms.sent)
    svc.dispatch()
    assert len(driver.mailer.sent) + len(driver.sms.sent) == sent_before
    with pytest.raises(TransitionNotAllowed):
        svc.cancel(aid)


@pytest.mark.parametrize("state", ["requested", "emailed", "scanned", "sms_verified", "pin_set"])
def test_expire_due_ends_any_in_flight(driver: Driver, clock: FakeClock, state: str) -> None:
    """`expire_due` records `expire` on every in-flight flow past the 24 h flow deadline."""
    svc = driver.service
    aid = driver.reach(state)
    clock.advance(timedelta(hours=24))
    assert svc.expire_due() == 1
    assert events(svc, aid)[-1] == ("expire", state, "expired")
    assert svc.expire_due() == 0


@pytest.mark.parametrize("state", ["requested", "emailed", "scanned"])
def test_delivery_failed_after_the_last_attempt(driver: Driver, clock: FakeClock, state: str) -> None:
    """The outbox gives up after 5 attempts and the flow goes to `failed`."""
    svc = driver.service
    aid = driver.reach(state)
    if state == "emailed":
        clock.advance(timedelta(seconds=60))
        svc.resend_email(aid)
    elif state == "scanned":
        clock.advance(timedelta(seconds=60))
        svc.resend_sms(aid)
    broken = svc.dispatcher

    class Down:
        def send(self, message: object) -> None:
            from workflow import DeliveryFailed

            raise DeliveryFailed("relay down", transient=True)

    broken.mailer = broken.sms = Down()
    for _ in range(5):
        svc.dispatch()
        clock.advance(timedelta(seconds=160))
    assert svc.status(aid).state == State.FAILED
    assert events(svc, aid)[-1] == ("delivery_failed", state, "failed")


def test_revoke_active(driver: Driver) -> None:
    """`revoke` takes active → revoked, and the credential no longer logs in."""
    svc = driver.service
    aid = driver.reach("active")
    assert svc.revoke(aid, reason="deleted").state == State.REVOKED
    with pytest.raises(TransitionNotAllowed):
        svc.authenticate(aid, "4821")


def test_new_request_supersedes_the_older_flow(driver: Driver) -> None:
    """A new request cancels the identifier's older in-flight flow and its e-mail is dropped."""
    svc = driver.service
    old = driver.reach("scanned")
    started = svc.request(NID)
    assert started.superseded == (old,)
    status = svc.status(old)
    assert status.state == State.CANCELLED
    assert status.closed_reason.startswith("superseded")


def test_new_credential_replaces_the_older_one(driver: Driver, mailer: MemoryMailer) -> None:
    """Activating again revokes the older active credential and e-mails a notice."""
    svc = driver.service
    first = driver.reach("active")
    second = driver.reach("active", pin="5930")
    assert svc.status(first).state == State.REVOKED
    assert svc.status(first).closed_reason == "replaced"
    assert svc.status(second).state == State.ACTIVE
    svc.dispatch()
    assert mailer.sent[-1].subject == "Votre e-CPS a été remplacée"


def test_terminal_states_absorb(driver: Driver) -> None:
    """No event moves a cancelled activation."""
    svc = driver.service
    aid = driver.reach("scanned")
    svc.cancel(aid)
    calls = [
        lambda: svc.scan(aid, "x"), lambda: svc.resend_email(aid), lambda: svc.resend_sms(aid),
        lambda: svc.verify_sms(aid, "123456"), lambda: svc.set_pin(aid, "4821"),
        lambda: svc.confirm_pin(aid, "4821"), lambda: svc.authenticate(aid, "4821"),
        lambda: svc.cancel(aid), lambda: svc.revoke(aid),
    ]
    for call in calls:
        with pytest.raises(TransitionNotAllowed):
            call()
    assert svc.status(aid).state == State.CANCELLED


def test_expired_activation_raises_activation_expired(driver: Driver, clock: FakeClock) -> None:
    """An event past the deadline records `expire` and raises ActivationExpired; later ones too."""
    svc = driver.service
    aid = driver.reach("emailed")
    clock.advance(timedelta(minutes=60))
    with pytest.raises(ActivationExpired):
        svc.scan(aid, driver.payload(aid))
    assert events(svc, aid)[-1] == ("expire", "emailed", "expired")
    with pytest.raises(ActivationExpired):
        svc.cancel(aid)
