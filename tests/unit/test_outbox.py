"""The outbox dispatcher: back-off, Retry-After, abandonment, stale messages."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.memory import MemoryMailer, MemorySms, MemoryStore, StaticDirectory
from tests.conftest import NID, memory_service, people
from workflow import ActivationService, DeliveryFailed, Settings, State
from workflow.domain import Delivery
from workflow.messages import Email
from workflow.testing import FakeClock


class Scripted:
    """A mailer that fails with the scripted errors first, then delivers."""

    def __init__(self, *errors: DeliveryFailed) -> None:
        self.errors = list(errors)
        self.sent: list[Email] = []

    def send(self, email: Email) -> None:
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append(email)


def test_transient_failures_back_off_exponentially(clock: FakeClock, store: MemoryStore) -> None:
    """Retries wait 10 s, then 20 s; the message is delivered once."""
    mailer = Scripted(DeliveryFailed("busy"), DeliveryFailed("busy"))
    svc = memory_service(clock, store=store, mailer=mailer)
    aid = svc.request(NID).activation_id
    assert svc.dispatch() == 0
    clock.advance(timedelta(seconds=9))
    assert svc.dispatch() == 0
    clock.advance(timedelta(seconds=1))
    assert svc.dispatch() == 0
    clock.advance(timedelta(seconds=19))
    assert svc.dispatch() == 0
    clock.advance(timedelta(seconds=1))
    assert svc.dispatch() == 1
    assert len(mailer.sent) == 1
    [message] = store.outbox_of(aid)
    assert (message.status, message.attempts, message.payload) == (Delivery.SENT, 3, b"")
    assert svc.status(aid).state == State.EMAILED


def test_retry_after_is_honoured(clock: FakeClock, store: MemoryStore) -> None:
    """A transient failure that asks for 120 s is not retried before then."""
    mailer = Scripted(DeliveryFailed("slow down", retry_after=120))
    svc = memory_service(clock, store=store, mailer=mailer)
    svc.request(NID)
    svc.dispatch()
    clock.advance(timedelta(seconds=119))
    assert svc.dispatch() == 0
    clock.advance(timedelta(seconds=1))
    assert svc.dispatch() == 1


@pytest.mark.parametrize("asked", [7200, 10**20])
def test_retry_after_is_capped_at_an_hour(clock: FakeClock, store: MemoryStore, asked: int) -> None:
    """A gateway asking for hours, or for more seconds than a date can hold, is retried in an
    hour: the message is kept, the dispatcher's round goes on."""
    mailer = Scripted(DeliveryFailed("come back later", retry_after=asked))
    svc = memory_service(clock, store=store, mailer=mailer)
    aid = svc.request(NID).activation_id
    assert svc.dispatch() == 0
    [message] = store.outbox_of(aid)
    assert (message.status, message.attempts) == (Delivery.PENDING, 1)
    assert message.due_at == clock.now() + timedelta(hours=1)


def test_permanent_failure_is_abandoned_at_once(clock: FakeClock, store: MemoryStore) -> None:
    """A permanent failure ends the flow in `failed` without retrying."""
    mailer = Scripted(DeliveryFailed("no such mailbox", transient=False))
    svc = memory_service(clock, store=store, mailer=mailer)
    aid = svc.request(NID).activation_id
    assert svc.dispatch() == 0
    assert svc.status(aid).state == State.FAILED
    assert store.outbox_of(aid)[0].status == Delivery.ABANDONED


def test_an_undeliverable_email_fails_well_before_its_token_expires(clock: FakeClock,
                                                                    store: MemoryStore) -> None:
    """Five attempts with back-off from 10 s end in `failed` within minutes."""
    mailer = Scripted(*[DeliveryFailed("down")] * 5)
    svc = memory_service(clock, store=store, mailer=mailer)
    aid = svc.request(NID).activation_id
    for _ in range(5):
        svc.dispatch()
        clock.advance(timedelta(seconds=80))
    assert svc.status(aid).state == State.FAILED
    assert clock.now() - svc.status(aid).created_at < timedelta(minutes=10)


def test_an_adapter_that_raises_a_foreign_error_is_retried(clock: FakeClock, store: MemoryStore) -> None:
    """An untranslated exception from a mailer counts as a transient failure, not a crash."""

    class Broken:
        calls = 0

        def send(self, email: Email) -> None:
            Broken.calls += 1
            if Broken.calls == 1:
                raise OSError("socket closed")

    svc = memory_service(clock, store=store, mailer=Broken())
    svc.request(NID)
    assert svc.dispatch() == 0
    clock.advance(timedelta(seconds=10))
    assert svc.dispatch() == 1


def test_defaults_need_no_settings(clock: FakeClock) -> None:
    """A service built without settings uses the defaults and an ephemeral key."""
    svc = ActivationService(store=MemoryStore(), mailer=MemoryMailer(), sms=MemorySms(),
                            directory=StaticDirectory({p.national_id: p for p in people()}), clock=clock)
    assert svc.settings.pin_length == 4
    assert svc.request(NID).state == State.REQUESTED
    assert Settings().sms_code_digits == 6
