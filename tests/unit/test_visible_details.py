"""What users and operators see beyond the state: reasons, messages, retry-after, records and counts."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from adapters.memory import MemoryMailer, MemorySms, MemoryStore, StaticDirectory
from tests.conftest import NID, Driver, fast_settings, memory_service, people
from workflow import DEFINITION, ActivationService, State
from workflow.domain import Delivery, MessageKind
from workflow.errors import (
    ActivationLocked,
    DeliveryFailed,
    InvalidInput,
    PinMismatch,
    TooManyRequests,
    VerificationFailed,
    WeakPin,
)
from workflow.messages import DirectoryEntry
from workflow.security import check_pin_policy, luhn_ok
from workflow.testing import FakeClock
from workflow.testing.faults import (
    FaultyMailer,
    FaultyStore,
    conflict,
    permanent_delivery,
    transient_delivery,
)


def test_revoke_without_a_reason_records_deleted(service: ActivationService, driver: Driver) -> None:
    """`revoke(aid)` is a deletion by the user: the status and the audit trail say so."""
    aid = driver.reach("active")
    assert service.revoke(aid).state == State.REVOKED
    assert service.status(aid).closed_reason == "deleted"
    assert service.store.audit_trail(aid)[-1].reason == "deleted"


def test_an_operator_revoke_names_the_operator_in_the_trail(service: ActivationService,
                                                           driver: Driver) -> None:
    """`revoke(..., actor="operator")` is recorded as the operator's, not the app's."""
    aid = driver.reach("active")
    service.revoke(aid, "lost", actor="operator")
    last = service.store.audit_trail(aid)[-1]
    assert (last.action, last.actor, last.reason) == ("revoke", "operator", "lost")


def test_an_unknown_revoke_reason_names_the_field_and_the_choices(service: ActivationService,
                                                                  driver: Driver) -> None:
    """A reason outside the list is refused, naming the field and every accepted reason."""
    aid = driver.reach("active")
    with pytest.raises(InvalidInput) as caught:
        service.revoke(aid, reason="stolen")
    assert caught.value.field == "reason"
    assert str(caught.value) == "reason must be one of admin, compromised, deleted, lost, replaced"
    with pytest.raises(InvalidInput) as long:
        service.revoke(aid, reason="d" * 33)
    assert (long.value.field, str(long.value)) == ("reason", "reason is malformed")
    assert service.status(aid).state == State.ACTIVE


def test_a_cancelled_flow_says_why_and_keeps_no_deadline(service: ActivationService, driver: Driver) -> None:
    """After `cancel` the status gives the reason and the record holds no step deadline."""
    aid = driver.reach("sms_verified")
    service.cancel(aid)
    assert service.status(aid).closed_reason == "cancelled by the professional"
    stored = service.store.get(aid)
    assert stored is not None
    assert stored.step_deadline is None


def test_wrong_answers_say_what_was_wrong(service: ActivationService, driver: Driver) -> None:
    """Each wrong answer's error and audit reason name the mistake; the lock names state and event."""
    aid = driver.reach("scanned")
    code = driver.code()
    wrong = code[:-1] + str((int(code[-1]) + 1) % 10)
    with pytest.raises(VerificationFailed) as caught:
        service.verify_sms(aid, wrong)
    assert (str(caught.value), caught.value.attempts_left) == ("wrong SMS code", 4)
    assert service.store.audit_trail(aid)[-1].reason == "wrong SMS code"
    for _ in range(3):
        with pytest.raises(VerificationFailed):
            service.verify_sms(aid, wrong)
    with pytest.raises(ActivationLocked) as locked:
        service.verify_sms(aid, wrong)
    assert (locked.value.state, locked.value.event) == ("locked", "verify_sms")
    last = service.store.audit_trail(aid)[-1]
    assert (last.outcome, last.reason) == ("exhausted", "wrong SMS code")


def test_pin_mistakes_say_what_was_wrong(service: ActivationService, driver: Driver) -> None:
    """A mismatched confirmation and a wrong login PIN each carry their own message."""
    aid = driver.reach("pin_set")
    with pytest.raises(PinMismatch) as mismatch:
        service.confirm_pin(aid, "7395")
    assert str(mismatch.value) == "the confirmation differs from the chosen PIN"
    active = driver.reach("active", nid="810100000008")
    with pytest.raises(VerificationFailed) as wrong:
        service.authenticate(active, "7395")
    assert (str(wrong.value), wrong.value.attempts_left) == ("wrong PIN", 9)


def test_no_stale_pin_hash_is_kept(service: ActivationService, driver: Driver) -> None:
    """A mismatched candidate is erased at once; after activation only the PIN hash remains."""
    aid = driver.reach("pin_set")
    with pytest.raises(PinMismatch):
        service.confirm_pin(aid, "7395")
    stored = service.store.get(aid)
    assert stored is not None
    assert stored.pin_candidate == ""
    service.set_pin(aid, "4821")
    service.confirm_pin(aid, "4821")
    stored = service.store.get(aid)
    assert stored is not None
    assert (stored.pin_candidate, stored.pin_hash.startswith("$argon2")) == ("", True)


def test_resend_refusals_name_the_channel_and_when_to_retry(service: ActivationService, driver: Driver,
                                                             clock: FakeClock) -> None:
    """A resend in the cooldown says how long to wait; past the maximum, until the flow ends."""
    aid = driver.reach("scanned")
    clock.advance(timedelta(seconds=20))
    with pytest.raises(TooManyRequests) as early:
        service.resend_sms(aid)
    assert early.value.retry_after == 40
    assert str(early.value) == "wait before asking for another SMS (retry after 40 s)"
    for _ in range(3):
        clock.advance(timedelta(seconds=60))
        service.resend_sms(aid)
    clock.advance(timedelta(seconds=60))
    with pytest.raises(TooManyRequests) as spent:
        service.resend_sms(aid)
    due = service.status(aid).deadline
    assert due is not None
    assert spent.value.retry_after == int((due - clock.now()).total_seconds())
    assert str(spent.value).startswith("no more SMS resends for this activation")
    other = driver.reach("emailed", nid="810100000008")
    with pytest.raises(TooManyRequests) as mail:
        service.resend_email(other)
    assert str(mail.value).startswith("wait before asking for another e-mail")


def test_a_resent_email_goes_to_the_professional(service: ActivationService, driver: Driver,
                                                 mailer: MemoryMailer, clock: FakeClock) -> None:
    """The e-mail of a resend is addressed like the first one."""
    aid = driver.reach("emailed")
    clock.advance(timedelta(seconds=61))
    service.resend_email(aid)
    service.dispatch()
    assert [m.to for m in mailer.sent] == ["jane.doe@domain.fr", "jane.doe@domain.fr"]


def test_a_replaced_credential_gets_the_notice_and_a_timed_step(service: ActivationService, driver: Driver,
                                                                clock: FakeClock) -> None:
    """The old e-CPS gets the replacement notice; its revocation is dated, by the system, one version on."""
    old = driver.reach("active")
    version = service.store.get(old).version  # type: ignore[union-attr]
    clock.advance(timedelta(minutes=5))
    new = driver.reach("active")
    notices = [m for m in service.store.outbox_of(old) if m.kind == MessageKind.REPLACEMENT_NOTICE]
    assert len(notices) == 1
    assert not [m for m in service.store.outbox_of(new) if m.kind == MessageKind.REPLACEMENT_NOTICE]
    step = service.status(old).history[-1]
    assert (step.event, step.dest) == ("revoke", State.REVOKED)
    assert step.at == clock.now()
    assert service.store.audit_trail(old)[-1].actor == "system"
    assert service.store.get(old).version == version + 1  # type: ignore[union-attr]


class StaleIndex(MemoryStore):
    """A store whose expiry index returns every flow in flight, due or not, oldest first."""

    def due_for_expiry(self, now, limit):  # type: ignore[no-untyped-def]
        flows = sorted(self.list_activations(1000), key=lambda a: a.created_at)
        return [a.id for a in flows if a.state in DEFINITION.in_flight][:limit]


def _nid(rpps10: str) -> str:
    return "8" + rpps10 + next(d for d in "0123456789" if luhn_ok(rpps10 + d))


def test_the_sweeper_counts_every_expiry_across_batches(clock: FakeClock) -> None:
    """Three due flows swept two at a time are all expired and counted; a fresh one is left alone."""
    nids = [_nid(f"99700366{n:02d}") for n in range(4)]
    directory = StaticDirectory([DirectoryEntry(n, f"p{i}@domain.fr", "0612345678")
                                 for i, n in enumerate(nids)])
    svc = ActivationService(store=StaleIndex(), mailer=MemoryMailer(), sms=MemorySms(),
                            directory=directory, clock=clock, settings=fast_settings())
    due = [svc.request(n).activation_id for n in nids[:3]]
    clock.advance(timedelta(minutes=61))
    fresh = svc.request(nids[3]).activation_id
    assert svc.expire_due(batch=2) == 3
    assert [svc.status(a).closed_reason for a in due] == ["deadline passed"] * 3
    assert svc.store.audit_trail(due[0])[-1].reason == "deadline passed"
    assert svc.status(fresh).state == State.REQUESTED
    assert svc.expire_due() == 0


def test_the_sweeper_asks_the_store_in_batches(clock: FakeClock) -> None:
    """`expire_due` hands the store its batch size: 500 unless told otherwise."""
    store = FaultyStore(MemoryStore())
    svc = memory_service(clock, store=store, mailer=MemoryMailer())
    svc.expire_due()
    svc.expire_due(batch=7)
    assert [c.args for c in store.calls_to("due_for_expiry")] == [(clock.now(), 500), (clock.now(), 7)]


def test_a_stale_index_cannot_make_the_sweeper_spin(clock: FakeClock) -> None:
    """Flows the index keeps returning although not due are looked at once, and not counted."""
    svc = memory_service(clock, store=StaleIndex(), mailer=MemoryMailer())
    flows = [svc.request(NID).activation_id, svc.request("810100000008").activation_id]
    assert svc.expire_due(batch=2) == 0
    assert svc.status(flows[1]).state == State.REQUESTED


def _due_on_faulty_store(clock: FakeClock) -> tuple[ActivationService, FaultyStore, str]:
    """A service over a store that can be made to fail, and one flow past its deadline."""
    store = FaultyStore(MemoryStore())
    svc = memory_service(clock, store=store, mailer=MemoryMailer())
    aid = svc.request(NID).activation_id
    clock.advance(timedelta(minutes=61))
    return svc, store, aid


def test_a_flow_that_never_stops_conflicting_is_not_counted(clock: FakeClock) -> None:
    """If every commit of an expiry conflicts, the sweeper gives up on it and counts nothing."""
    svc, store, aid = _due_on_faulty_store(clock)
    store.fail_always(conflict(), method="commit")
    assert svc.expire_due() == 0
    assert store.store.get(aid).state == State.REQUESTED  # type: ignore[union-attr]


def test_the_sweeper_retries_after_a_conflict(clock: FakeClock) -> None:
    """A conflict while expiring one flow is retried, not taken as 'nothing to do'."""
    svc, store, aid = _due_on_faulty_store(clock)
    store.inject(conflict(), method="commit")
    assert svc.expire_due() == 1
    assert svc.store.get(aid).state == State.EXPIRED  # type: ignore[union-attr]


def test_failed_deliveries_are_recorded_and_logged(clock: FakeClock,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    """Each failed attempt is counted with its error kind, logged as transient or permanent."""
    store = MemoryStore()
    mailer = FaultyMailer(MemoryMailer()).inject(transient_delivery()).inject(permanent_delivery())
    svc = memory_service(clock, store=store, mailer=mailer)
    aid = svc.request(NID).activation_id
    with caplog.at_level(logging.WARNING, logger="ecps.outbox"):
        svc.dispatch()
        (retry,) = store.outbox_of(aid)
        assert (retry.status, retry.attempts, retry.last_error) == (Delivery.PENDING, 1, "DeliveryFailed")
        clock.advance(timedelta(seconds=10))
        svc.dispatch()
    (gone,) = store.outbox_of(aid)
    assert (gone.status, gone.attempts, gone.last_error) == (Delivery.ABANDONED, 2, "DeliveryFailed")
    assert [r.getMessage() for r in caplog.records if r.name == "ecps.outbox"] == [
        f"outbox {gone.id}: attempt 1 failed (transient)", f"outbox {gone.id}: attempt 2 failed (permanent)"]
    assert svc.status(aid).state == State.FAILED


def test_a_message_abandoned_at_once_records_its_error(clock: FakeClock) -> None:
    """A permanent failure on the first attempt leaves the message abandoned with its error kind."""
    store = MemoryStore()
    svc = ActivationService(store=store, mailer=FaultyMailer(MemoryMailer()).inject(permanent_delivery()),
                            sms=MemorySms(), directory=StaticDirectory(people()), clock=clock,
                            settings=fast_settings())
    aid = svc.request(NID).activation_id
    svc.dispatch()
    (gone,) = store.outbox_of(aid)
    assert (gone.status, gone.attempts, gone.last_error) == (Delivery.ABANDONED, 1, "DeliveryFailed")


def test_a_retry_after_longer_than_the_back_off_wins(clock: FakeClock) -> None:
    """With a half-second back-off, a gateway asking for one second is retried after one second."""
    mailer = FaultyMailer(MemoryMailer()).inject(DeliveryFailed("slow down", retry_after=1))
    svc = memory_service(clock, mailer=mailer, delivery_backoff=timedelta(milliseconds=500))
    svc.request(NID)
    assert svc.dispatch() == 0
    clock.advance(timedelta(milliseconds=999))
    assert svc.dispatch() == 0
    clock.advance(timedelta(milliseconds=1))
    assert svc.dispatch() == 1


@pytest.mark.parametrize(("pin", "reason"), [
    ("1111", "all digits are the same"),
    ("77777", "all digits are the same"),
    ("3456", "the digits form an ascending or descending run"),
    ("2580", "this PIN is among the most common ones"),
    ("5858", "this PIN is among the most common ones"),
    ("582582", "this PIN is among the most common ones"),
])
def test_weak_pins_are_refused_with_their_reason(pin: str, reason: str) -> None:
    """Each weak PIN is refused with the reason the app shows (docs/specification.md §5)."""
    with pytest.raises(WeakPin) as caught:
        check_pin_policy(pin)
    assert caught.value.reason == reason
    assert str(caught.value) == f"PIN refused: {reason}"


@pytest.mark.parametrize("pin", ["4821", "58258", "5830", "482915"])
def test_strong_pins_pass(pin: str) -> None:
    """PINs with no repeat, run, halves or common pattern are accepted."""
    check_pin_policy(pin)
