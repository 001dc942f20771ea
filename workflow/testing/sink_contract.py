"""`EventSinkContract`: the tests every `EventSink` passes; subclass it with your sink's factory.

    class TestMySink(EventSinkContract):
        def make_sink(self): return MySink(...)
        def delivered(self, sink): return what_the_far_side_received()
        def make_store(self): return MyStore()   # optional: runs the feed through the outbox
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from workflow.definition import State
from workflow.errors import DeliveryFailed
from workflow.events import EVENT_TYPES, DomainEvent, QrScanned, from_audit
from workflow.messages import DirectoryEntry
from workflow.ports import EventSink, Store
from workflow.service import ActivationService
from workflow.settings import Settings
from workflow.testing.clock import FakeClock
from workflow.testing.phone import code_from, payload_from
from workflow.testing.recording import FixedDirectory, Inbox
from workflow.testing.requirements import requirement

__all__ = ["EventSinkContract", "sample_event"]

_NID = "899700366240"
_ENTRY = DirectoryEntry(_NID, "jane.doe@domain.fr", "0612345678", "Dr Jane Doe")
_AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def sample_event(cls: type[DomainEvent] = QrScanned, *, activation_id: str = "act-contract-1",
                 seq: int = 1, reason: str = "") -> DomainEvent:
    """An event of class `cls` with plausible values (no contact, no secret)."""
    return cls(activation_id=activation_id, subject="0" * 32, seq=seq, action="scan",
               outcome="ok", source=State.EMAILED, dest=State.SCANNED,
               at=_AT + timedelta(seconds=seq), actor="app", reason=reason)


class EventSinkContract:
    """What the durable feed relies on from a sink; pytest runs it in each `Test...` subclass."""

    def make_sink(self) -> EventSink:
        """A fresh sink whose far side is up."""
        raise NotImplementedError

    def delivered(self, sink: EventSink) -> list[DomainEvent]:
        """Every event the far side received so far, in arrival order, duplicates included."""
        raise NotImplementedError

    def make_unavailable_sink(self) -> EventSink | None:
        """A sink whose far side is down, or None to skip that test."""
        return None

    def make_store(self) -> Store | None:
        """A store for the end-to-end test through the outbox, or None to skip it."""
        return None

    @requirement("REQ-4-DELIVERY")
    def test_the_sink_implements_the_port(self) -> None:
        """The sink is an `EventSink` (it has `publish`)."""
        assert isinstance(self.make_sink(), EventSink)

    @requirement("REQ-4-DELIVERY")
    def test_every_kind_of_event_arrives_intact(self) -> None:
        """Each event class published arrives equal to what was sent, in order."""
        sink = self.make_sink()
        sent = [sample_event(cls, activation_id=f"act-{i}", seq=i + 1, reason="r é ✓")
                for i, cls in enumerate(EVENT_TYPES.values())]
        for event in sent:
            sink.publish(event)
        assert self.delivered(sink) == sent

    @requirement("REQ-6-OUTBOX")
    def test_events_of_one_activation_arrive_in_the_order_published(self) -> None:
        """Interleaved events of two activations keep each activation's order."""
        sink = self.make_sink()
        for seq in range(1, 7):
            for aid in ("act-a", "act-b"):
                sink.publish(sample_event(activation_id=aid, seq=seq))
        got = self.delivered(sink)
        for aid in ("act-a", "act-b"):
            assert [e.seq for e in got if e.activation_id == aid] == list(range(1, 7))

    @requirement("REQ-6-AT-LEAST-ONCE")
    def test_publishing_an_event_again_is_harmless(self) -> None:
        """A redelivery (at-least-once) is accepted and carries the same key and content."""
        sink = self.make_sink()
        event = sample_event(seq=3)
        sink.publish(event)
        sink.publish(event)
        copies = [e for e in self.delivered(sink) if e.key == event.key]
        assert copies
        assert all(c == event for c in copies)

    @requirement("REQ-4-DELIVERY", "REQ-4-ERRORS")
    def test_an_unreachable_far_side_is_a_transient_delivery_failure(self) -> None:
        """A sink that cannot deliver raises `DeliveryFailed(transient=True)`, nothing else."""
        sink = self.make_unavailable_sink()
        if sink is None:
            pytest.skip("no unavailable sink given (make_unavailable_sink)")
        with pytest.raises(DeliveryFailed) as caught:
            sink.publish(sample_event())
        assert caught.value.transient

    @requirement("REQ-6-OUTBOX", "REQ-6-AT-LEAST-ONCE")
    def test_the_outbox_feeds_every_transition_once_in_order(self) -> None:
        """Through the service, each committed transition reaches the sink, keyed and in order."""
        store = self.make_store()
        if store is None:
            pytest.skip("no store given (make_store)")
        sink = self.make_sink()
        inbox = Inbox()
        settings = Settings(secret_key="contract-key-" + "k" * 24, argon2_memory_kib=64,
                            argon2_time_cost=1, argon2_parallelism=1)
        svc = ActivationService(store=store, mailer=inbox, sms=inbox, directory=FixedDirectory([_ENTRY]),
                                clock=FakeClock(), settings=settings, sink=sink)
        aid = svc.request(_NID, device_id="contract").activation_id
        svc.dispatch()
        svc.scan(aid, payload_from(inbox.newest_email()))
        svc.dispatch()
        svc.verify_sms(aid, code_from(inbox.newest_sms()))
        svc.set_pin(aid, "4821")
        svc.confirm_pin(aid, "4821")
        for _ in range(5):
            svc.dispatch()
        expected = [e for e in map(from_audit, store.audit_trail(aid)) if e is not None]
        got = [e for e in self.delivered(sink) if e.activation_id == aid]
        firsts: dict[str, DomainEvent] = {}
        for event in got:
            firsts.setdefault(event.key, event)
        first = list(firsts.values())
        assert [e.key for e in first] == [e.key for e in expected]
        assert first == expected
        assert [e.kind for e in first][-1] == "activation.completed"
