"""Two dispatchers after a webhook outage: each event is delivered once, in order (no crash, no duplicate)."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.memory import MemoryMailer, MemorySms, MemoryStore, StaticDirectory
from tests.conftest import Driver, fast_settings
from tests.integration.people import crowd
from workflow import ActivationService
from workflow.domain import Delivery, MessageKind
from workflow.errors import DeliveryFailed
from workflow.events import DomainEvent, from_audit
from workflow.ports import Store
from workflow.testing import FakeClock

LEASE = timedelta(seconds=3)
OUTAGE = timedelta(seconds=8)


class Receiver:
    """A webhook receiver on the test's clock: down until `up_at`, then each answer takes the
    next of `delays` (seconds) of fake time; `between` runs while an answer is awaited."""

    def __init__(self, clock: FakeClock, up_at_offset: timedelta, delays: Iterator[float]) -> None:
        self.clock = clock
        self.up_at = clock.now() + up_at_offset
        self.delays = delays
        self.delivered: list[DomainEvent] = []
        self.between: Callable[[], object] | None = None

    def publish(self, event: DomainEvent) -> None:
        """Refuse while down; else take the scripted time, let the other dispatcher work, accept."""
        if self.clock.now() < self.up_at:
            raise DeliveryFailed("receiver down", transient=True)
        self.clock.advance(timedelta(seconds=next(self.delays)))
        if self.between is not None:
            self.between()
        self.delivered.append(event)


class Sink:
    """One dispatcher's end of the shared receiver; only the first one lets the other work."""

    def __init__(self, receiver: Receiver, lets_other_work: bool) -> None:
        self.receiver, self.lets_other_work = receiver, lets_other_work

    def publish(self, event: DomainEvent) -> None:
        """Hand the event to the receiver (with or without the other dispatcher's turn)."""
        between = self.receiver.between
        if not self.lets_other_work:
            self.receiver.between = None
        try:
            self.receiver.publish(event)
        finally:
            self.receiver.between = between


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The shared store: in memory, or one SQLite file."""
    if request.param == "memory":
        yield MemoryStore()
        return
    from adapters.sql import SqlStore

    sql = SqlStore(f"sqlite:///{tmp_path / 'ecps.db'}")
    yield sql
    sql.close()


def _pending_events(store: Store, aids: list[str]) -> int:
    return sum(1 for aid in aids for m in store.outbox_of(aid)
               if m.kind == MessageKind.DOMAIN_EVENT and m.status == Delivery.PENDING)


def test_two_dispatchers_after_an_outage_deliver_each_event_once_and_in_order(store: Store) -> None:
    """A 3 s lease, 8 s of outage, answers in 0-0.25 s: no event twice, none before an earlier one."""
    clock = FakeClock()
    people = crowd(20)
    receiver = Receiver(clock, OUTAGE, iter(random.Random(13).uniform(0.0, 0.25) for _ in range(10**6)))
    mailer, sms, directory = MemoryMailer(), MemorySms(), StaticDirectory(people)
    settings = fast_settings(delivery_lease=LEASE)

    def service(sink: Sink) -> ActivationService:
        return ActivationService(store=store, mailer=mailer, sms=sms, directory=directory, clock=clock,
                                 settings=settings, sink=sink)

    first, second = service(Sink(receiver, True)), service(Sink(receiver, False))
    driver = Driver(first, mailer, sms)
    aids = [driver.reach("active", p.national_id) for p in people]  # every event fails meanwhile
    assert receiver.delivered == []
    events = _pending_events(store, aids)
    assert events > 100  # more than one batch: the last of a batch wait longest
    clock.advance(settings.delivery_backoff)
    receiver.between = lambda: second.dispatch(1)  # the second dispatcher runs during each answer
    for _ in range(50):
        if not _pending_events(store, aids):
            break
        if not first.dispatch():
            clock.advance(LEASE)
    assert _pending_events(store, aids) == 0
    twice = [key for key, n in Counter(e.key for e in receiver.delivered).items() if n > 1]
    assert twice == []
    for aid in aids:
        expected = [e for e in map(from_audit, store.audit_trail(aid)) if e is not None]
        assert [e for e in receiver.delivered if e.activation_id == aid] == expected
    assert len(receiver.delivered) == events
