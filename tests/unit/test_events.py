"""Domain events: one per committed transition, to listeners after the commit and to the durable feed."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest

from adapters.memory import MemoryMailer, MemorySink, MemorySms, MemoryStore, StaticDirectory
from tests.conftest import NID, NID2, Driver, fast_settings, people
from workflow import ActivationService, State, errors
from workflow import events as ev
from workflow.definition import DEFINITION, Event, Outcome
from workflow.domain import Delivery, MessageKind
from workflow.errors import DeliveryFailed
from workflow.events import DomainEvent
from workflow.testing import FakeClock

SECRETS_AND_CONTACTS = (NID, NID2, "jane.doe@domain.fr", "0612345678", "Jane", "4821")


class Harness:
    """A memory-backed service with a recording listener and, optionally, a sink."""

    def __init__(self, *, sink: object = None, listeners: tuple[object, ...] = ()) -> None:
        self.store, self.mailer, self.sms = MemoryStore(), MemoryMailer(), MemorySms()
        self.clock = FakeClock()
        self.seen: list[DomainEvent] = []
        self.svc = ActivationService(store=self.store, mailer=self.mailer, sms=self.sms,
                                     directory=StaticDirectory(people()), clock=self.clock,
                                     settings=fast_settings(), sink=sink,  # type: ignore[arg-type]
                                     listeners=(self.seen.append, *listeners))  # type: ignore[arg-type]
        self.driver = Driver(self.svc, self.mailer, self.sms)

    def kinds(self, aid: str | None = None) -> list[str]:
        """The kinds of the events seen (of one activation, if given)."""
        return [e.kind for e in self.seen if aid is None or e.activation_id == aid]


class FlakySink(MemorySink):
    """A memory sink that fails the events `fails(event)` picks, `times` times each."""

    def __init__(self, fails: object, times: int = 1, error: Exception | None = None) -> None:
        super().__init__()
        self.fails, self.times = fails, times
        self.error = error or DeliveryFailed("receiver down", transient=True)
        self.failed: dict[str, int] = {}

    def publish(self, event: DomainEvent) -> None:
        if self.fails(event) and self.failed.get(event.key, 0) < self.times:  # type: ignore[operator]
            self.failed[event.key] = self.failed.get(event.key, 0) + 1
            raise self.error
        super().publish(event)


def test_every_edge_of_the_definition_has_its_event() -> None:
    """Each (event, outcome) edge maps to one event class; every edge into locked is ActivationLocked."""
    for edge in DEFINITION.edges:
        cls = ev.event_type(edge.event, edge.outcome, edge.dest)
        assert issubclass(cls, DomainEvent)
        assert (cls is ev.ActivationLocked) == (edge.dest == State.LOCKED)
    assert ev.event_type(Event.REQUEST, Outcome.OK, State.REQUESTED) is ev.ActivationRequested
    assert len(ev.EVENT_TYPES) == len(set(ev.EVENT_TYPES.values()))
    with pytest.raises(ValueError, match="no domain event"):
        ev.event_type("teleport", "ok", State.ACTIVE)


def test_event_names_do_not_clash_with_the_errors() -> None:
    """`events.ActivationLocked` is a fact, `errors.ActivationLocked` an exception: two classes."""
    assert ev.ActivationLocked is not errors.ActivationLocked
    assert ev.ActivationExpired is not errors.ActivationExpired
    assert not issubclass(ev.ActivationLocked, BaseException)
    assert issubclass(errors.ActivationLocked, errors.TransitionNotAllowed)


def test_the_main_path_yields_its_events_in_order_with_keys_and_states() -> None:
    """An activation to active gives the six main events, keyed by audit seq, with from/to states."""
    h = Harness()
    aid = h.driver.reach("active")
    assert h.svc.authenticate(aid, "4821")
    assert h.kinds() == ["activation.requested", "activation.email_sent", "activation.qr_scanned",
                         "activation.sms_verified", "activation.pin_chosen",
                         "activation.completed", "credential.login_succeeded"]
    history = h.svc.status(aid).history
    assert [(e.source, e.dest, e.at) for e in h.seen] == [(s.source, s.dest, s.at) for s in history]
    trail = h.store.audit_trail(aid)
    assert [e.key for e in h.seen] == [f"{aid}:{a.seq}" for a in trail]
    assert {e.subject for e in h.seen} == {trail[0].subject}
    assert isinstance(h.seen[5], ev.ActivationCompleted)
    assert h.seen[1].actor == "dispatcher"


def test_events_hold_no_secret_and_no_contact_in_clear() -> None:
    """No identifier, e-mail, phone, name, PIN, token or code appears in any event's JSON."""
    h = Harness(sink=MemorySink())
    aid = h.driver.reach("active")
    payload = h.driver.payload(aid)
    code = h.driver.code()
    texts = [e.to_json() for e in h.seen]
    texts += [m.payload.decode() for m in h.store.outbox_of(aid) if m.kind == MessageKind.DOMAIN_EVENT]
    token = payload.rsplit("t=", 1)[1]
    for text in texts:
        for secret in (*SECRETS_AND_CONTACTS, token, code):
            assert secret not in text


def test_a_listener_that_raises_neither_undoes_nor_blocks_the_transition(
        caplog: pytest.LogCaptureFixture) -> None:
    """The call succeeds, later listeners still run, the failure is logged and counted."""
    def broken(event: DomainEvent) -> None:
        raise RuntimeError("host bug")

    after: list[DomainEvent] = []
    h = Harness(listeners=(broken, after.append))
    with caplog.at_level(logging.ERROR, logger="ecps.listeners"):
        started = h.svc.request(NID)
    assert h.svc.status(started.activation_id).state == State.REQUESTED
    assert [e.kind for e in after] == ["activation.requested"]
    assert h.svc.listeners.failures == 1
    assert "broken" in caplog.text
    assert "activation.requested" in caplog.text
    assert NID not in caplog.text


def test_listeners_run_after_the_commit() -> None:
    """Inside a listener the store already holds the event's destination state."""
    stored: list[State | None] = []
    h = Harness()

    def check(event: DomainEvent) -> None:
        found = h.store.get(event.activation_id)
        stored.append(found.state if found else None)

    h.svc.listeners.add(check)
    aid = h.driver.reach("sms_verified")
    assert stored == [e.dest for e in h.seen if e.activation_id == aid]


def test_a_listener_can_ask_for_some_kinds_only() -> None:
    """A listener registered for `ActivationCompleted` gets only that event."""
    h = Harness()
    completed: list[DomainEvent] = []
    h.svc.listeners.add(completed.append, ev.ActivationCompleted)
    aid = h.driver.reach("active")
    assert [(e.kind, e.activation_id) for e in completed] == [("activation.completed", aid)]
    with pytest.raises(TypeError):
        h.svc.listeners.add(completed.append, str)  # type: ignore[arg-type]


def test_refusals_yield_no_event_but_counted_wrong_answers_do() -> None:
    """A refused call publishes nothing; a wrong code, a mismatch and a lock each publish theirs."""
    h = Harness()
    aid = h.driver.reach("scanned")
    before = len(h.seen)
    with pytest.raises(errors.TransitionNotAllowed):
        h.svc.set_pin(aid, "4821")
    with pytest.raises(errors.InvalidInput):
        h.svc.verify_sms(aid, "12")
    assert len(h.seen) == before
    wrong = "000000" if h.driver.code() != "000000" else "111111"
    for _ in range(h.svc.settings.max_sms_attempts - 1):
        with pytest.raises(errors.VerificationFailed):
            h.svc.verify_sms(aid, wrong)
    with pytest.raises(errors.ActivationLocked):
        h.svc.verify_sms(aid, wrong)
    tail = h.seen[before:]
    assert [type(e) for e in tail] == [ev.SmsCodeRejected] * 4 + [ev.ActivationLocked]
    assert (tail[-1].action, tail[-1].outcome, tail[-1].dest) == ("verify_sms", "exhausted", State.LOCKED)


def test_side_transitions_of_other_activations_are_published() -> None:
    """A newer request cancels the older flow; a newer credential revokes the older one: both published."""
    h = Harness()
    old_flow = h.svc.request(NID).activation_id
    first = h.driver.reach("active")
    cancelled = [e for e in h.seen if e.activation_id == old_flow][-1]
    assert isinstance(cancelled, ev.ActivationCancelled)
    assert cancelled.reason == "superseded by a newer request"
    second = h.driver.reach("active")
    revoked = [e for e in h.seen if e.activation_id == first][-1]
    assert isinstance(revoked, ev.CredentialRevoked)
    assert (revoked.reason, revoked.source, revoked.dest) == ("replaced", State.ACTIVE, State.REVOKED)
    assert h.kinds(second)[-1] == "activation.completed"


def test_expiry_and_delivery_failure_are_published() -> None:
    """The sweeper's and the lazy expiry, and an abandoned e-mail, each publish their event."""
    h = Harness()
    swept = h.svc.request(NID).activation_id
    lazy = h.svc.request(NID2).activation_id
    h.clock.advance(timedelta(hours=2))
    with pytest.raises(errors.ActivationExpired):
        h.svc.resend_email(lazy)
    assert h.svc.expire_due() == 1
    assert h.kinds(lazy)[-1] == h.kinds(swept)[-1] == "activation.expired"
    assert [e.actor for e in h.seen if isinstance(e, ev.ActivationExpired)] == ["app", "sweeper"]

    class DownMailer(MemoryMailer):
        def send(self, email: object) -> None:
            raise DeliveryFailed("smtp down", transient=True)

    h2 = Harness()
    h2.svc.dispatcher.mailer = DownMailer()
    aid = h2.svc.request(NID).activation_id
    for _ in range(h2.svc.settings.delivery_attempts):
        h2.svc.dispatch()
        h2.clock.advance(timedelta(minutes=10))
    assert h2.kinds(aid) == ["activation.requested", "activation.failed"]


def test_json_round_trip_of_every_kind() -> None:
    """`from_json(e.to_json()) == e` for every event class; garbage is a ValueError."""
    h = Harness()
    h.driver.reach("active")
    sample = h.seen[0]
    for cls in ev.EVENT_TYPES.values():
        event = cls(activation_id=sample.activation_id, subject=sample.subject, seq=9,
                    action="scan", outcome="ok", source=None, dest=State.SCANNED, at=sample.at,
                    reason="é")
        data = json.loads(event.to_json())
        assert (data["type"], data["key"]) == (cls.kind, f"{sample.activation_id}:9")
        assert ev.from_json(event.to_json()) == event
    for garbage in ("", "[]", "{}", '{"type": "activation.nope"}',
                    sample.to_json().replace('"seq":1', '"seq":2')):
        with pytest.raises(ValueError, match="not a domain event"):
            ev.from_json(garbage)


def test_without_a_sink_the_outbox_holds_no_event_rows() -> None:
    """The durable feed costs nothing unless a sink is configured."""
    h = Harness()
    aid = h.driver.reach("active")
    assert {m.kind for m in h.store.outbox_of(aid)} <= {MessageKind.ACTIVATION_EMAIL, MessageKind.SMS_CODE}


def test_the_feed_delivers_every_event_once_in_order() -> None:
    """Through dispatch, the sink gets each transition once, in order, as listeners saw them."""
    sink = MemorySink()
    h = Harness(sink=sink)
    aid = h.driver.reach("active")
    for _ in range(3):
        h.svc.dispatch()
    assert sink.events == [e for e in h.seen if e.activation_id == aid]
    rows = [m for m in h.store.outbox_of(aid) if m.kind == MessageKind.DOMAIN_EVENT]
    assert {m.status for m in rows} == {Delivery.SENT}
    assert all(m.payload == b"" for m in rows)


def test_a_failing_event_holds_back_the_later_ones_of_its_activation_only() -> None:
    """Event 2 fails: event 3 waits for it, another activation's events flow; then all arrive in order."""
    sink = FlakySink(lambda e: e.seq == 2 and e.subject != "", times=2)
    h = Harness(sink=sink)
    first = h.svc.request(NID).activation_id
    h.svc.dispatch()
    h.svc.scan(first, h.driver.payload(first))
    h.svc.dispatch()
    second = h.svc.request(NID2).activation_id
    h.svc.dispatch()
    assert [e.seq for e in sink.events if e.activation_id == first] == [1]
    assert [e.seq for e in sink.events if e.activation_id == second] == [1]
    for _ in range(6):
        h.clock.advance(timedelta(minutes=5))
        h.svc.dispatch()
    assert [e.seq for e in sink.events if e.activation_id == first] == [1, 2, 3]
    assert [e.seq for e in sink.events if e.activation_id == second] == [1, 2]
    retried = [m for m in h.store.outbox_of(first) if m.generation == 2]
    assert retried[0].attempts == 3
    assert retried[0].last_error == "DeliveryFailed"


def test_a_sink_raising_a_foreign_error_is_retried_like_a_transient_failure() -> None:
    """An untranslated exception from a sink is retried, not lost and not propagated."""
    sink = FlakySink(lambda e: True, times=1, error=ConnectionResetError("peer reset"))
    h = Harness(sink=sink)
    aid = h.svc.request(NID).activation_id
    assert h.svc.dispatch() == 1
    assert sink.events == []
    h.clock.advance(timedelta(minutes=1))
    h.svc.dispatch()
    h.clock.advance(timedelta(minutes=1))
    h.svc.dispatch()
    assert [e.kind for e in sink.events] == ["activation.requested", "activation.email_sent"]
    assert h.svc.status(aid).state == State.EMAILED


def test_event_rows_wait_for_a_sink_instead_of_being_lost() -> None:
    """A process without a sink leaves committed event rows pending for one that has it."""
    sink = MemorySink()
    h = Harness(sink=sink)
    aid = h.svc.request(NID).activation_id
    plain = ActivationService(store=h.store, mailer=h.mailer, sms=h.sms,
                              directory=StaticDirectory(people()), clock=h.clock,
                              settings=fast_settings())
    assert plain.dispatch() == 1
    assert sink.events == []
    h.clock.advance(timedelta(minutes=2))
    h.svc.dispatch()
    assert [e.kind for e in sink.events] == ["activation.requested"]
    assert h.svc.status(aid).state == State.EMAILED


def test_the_service_refuses_a_sink_that_is_not_one() -> None:
    """A sink without `publish` is a TypeError when the service is built."""
    with pytest.raises(TypeError, match="EventSink"):
        Harness(sink=MemoryMailer())
