"""What the console shows of one activation, read from the service, its store and its definition.

Nothing here holds a payload, a code or a contact in clear: outbox messages are shown by
status, attempts and last error; the timeline comes from the audit trail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from adapters.api.console.rows import lookable
from adapters.api.diagram import DiagramUnavailable, activation_svg
from workflow import ActivationService, State
from workflow.definition import Event
from workflow.domain import Activation, AuditEvent, Delivery
from workflow.engine import Definition, Interpreter
from workflow.errors import ActivationNotFound
from workflow.login.record import Login
from workflow.verification import disagreements


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of the timeline: a transition taken or a refusal."""

    seq: int
    at: datetime
    action: str
    outcome: str
    actor: str
    source: str
    dest: str
    reason: str


@dataclass(frozen=True, slots=True)
class Gauge:
    """A counter against its bound, or a deadline with the time left."""

    name: str
    value: str
    detail: str


@dataclass(frozen=True, slots=True)
class Message:
    """An outbox message as an operator sees it (never its payload)."""

    kind: str
    channel: str
    generation: int
    status: str
    attempts: int
    last_error: str
    created_at: datetime
    next_try: datetime | None  # when a pending message is tried again


@dataclass(frozen=True, slots=True)
class ActivationView:
    """One activation's page."""

    id: str
    state: str
    masked_email: str
    masked_phone: str
    created_at: datetime
    closed_reason: str
    path: tuple[str, ...]  # the states entered, in order
    timeline: tuple[Entry, ...]
    counters: tuple[Gauge, ...]
    deadlines: tuple[Gauge, ...]
    outbox: tuple[Message, ...]
    problems: tuple[str, ...]
    svg: str
    due: bool


def left(delta: timedelta) -> str:
    """A duration as an operator reads it: `4 min 10 s left`, or `passed 2 min ago`."""
    seconds = int(delta.total_seconds())
    text = _span(abs(seconds))
    return f"{text} left" if seconds > 0 else f"passed {text} ago"


def _span(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def stamp(service: ActivationService, activation_id: str) -> str:
    """Changes whenever the page would: a step, an outbox delivery, a deadline passing, and each
    minute while a deadline runs (its time left)."""
    return record_stamp(service, service.engine, _load(service, activation_id), every=60)


def record_stamp(service: ActivationService, engine: Interpreter[Any, Any], record: Activation | Login,
                 every: int) -> str:
    """What changes whenever `record`'s page would: a step, an outbox delivery, its deadline
    passing (by `engine`), and each `every` seconds while a deadline runs."""
    now = service.now()
    sent = ",".join(f"{m.status}{m.attempts}" for m in service.store.outbox_of(record.id))
    tick = int(now.timestamp() // every) if record.due_at() is not None else 0
    return f"{record.version}.{record.audit_seq}.{engine.is_due(record, now)}.{tick}.{sent}"


def activation_view(service: ActivationService, activation_id: str) -> ActivationView:
    """Everything the page shows of `activation_id`; `ActivationNotFound` when there is none."""
    a = _load(service, activation_id)
    now = service.now()
    due = service.engine.is_due(a, now)
    trail = service.store.audit_trail(a.id)
    d = service.workflow.definition
    counters = tuple(Gauge(c.name, str(a.counter(c.name)),
                           f"of {service.engine.bounds[c.name]}") for c in d.counters)
    deadlines = deadline_gauges(d, a, now)
    code_at = a.code_issued_at
    if code_at is not None and any(e.source == a.state and e.event == Event.VERIFY_SMS for e in d.edges):
        until = code_at + service.settings.sms_code_validity  # a setting, not a deadline: no expiry event
        deadlines.append(_gauge("sms_code", until, now))
    return ActivationView(
        a.id, str(State.EXPIRED if due else a.state), a.masked_email, a.masked_phone,
        a.created_at, a.closed_reason, path_of(trail), timeline(trail), counters, tuple(deadlines),
        outbox(service, a.id), tuple(disagreements(service.store, service.keys, service.engine, a)),
        drawn(lambda: activation_svg(service, a.id)), due)


def deadline_gauges(d: Definition[Any, Any], record: Activation | Login, now: datetime) -> list[Gauge]:
    """The deadlines of `d` that run in `record`'s state, each with its time left at `now`."""
    gauges = []
    for dl in d.deadlines:
        at: datetime | None = getattr(record, dl.attribute, None)
        if record.state in dl.states and at is not None:
            gauges.append(_gauge(dl.name, at, now))
    return gauges


def _gauge(name: str, at: datetime, now: datetime) -> Gauge:
    return Gauge(name, at.strftime("%Y-%m-%d %H:%M:%S UTC"), left(at - now))


def path_of(trail: Iterable[AuditEvent]) -> tuple[str, ...]:
    """The states a trail's steps entered, in order (refusals left out, a stay counted once)."""
    return visited(e.dest for e in trail if e.outcome != "refused" and e.dest)


def timeline(trail: Iterable[AuditEvent]) -> tuple[Entry, ...]:
    """The timeline of an audit trail: every transition and refusal, oldest first."""
    return tuple(Entry(e.seq, e.at, e.action, e.outcome, e.actor, e.source, e.dest, e.reason)
                 for e in trail)


def outbox(service: ActivationService, instance_id: str) -> tuple[Message, ...]:
    """The outbox messages of one activation or login, without their payloads."""
    return tuple(Message(str(m.kind), str(m.channel), m.generation, str(m.status), m.attempts,
                         m.last_error, m.created_at, m.due_at if m.status == Delivery.PENDING else None)
                 for m in service.store.outbox_of(instance_id))


def drawn(draw: Callable[[], bytes]) -> str:
    """The `<svg>` element `draw` renders, or why there is no diagram."""
    try:
        return inline_svg(draw())
    except DiagramUnavailable as exc:
        return f"<p>{exc}</p>"


def visited(states: Iterable[str]) -> tuple[str, ...]:
    """The states in the order they were entered, a stay (a wrong answer, a resend) counted once."""
    path: list[str] = []
    for s in states:
        if not path or path[-1] != s:
            path.append(s)
    return tuple(path)


def _load(service: ActivationService, activation_id: str) -> Activation:
    a = service.store.get(activation_id) if lookable(activation_id) else None
    if a is None:
        raise ActivationNotFound(activation_id)
    return a


def inline_svg(svg: bytes) -> str:
    """The `<svg>` element of Graphviz's output, for embedding in a page."""
    text = svg.decode("utf-8")
    return text[text.index("<svg"):]
