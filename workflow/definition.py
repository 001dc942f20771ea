"""The e-CPS activation workflow as frozen data, and the one `transitions` machine built from it.

`DEFINITION` is the single source of the service, the diagrams, the checker and the harness.
"""

from __future__ import annotations

from collections import Counter as _Tally
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from transitions import Machine, MachineError

from workflow.errors import DefinitionError, TransitionNotAllowed


class State(StrEnum):
    """Where an activation stands."""

    REQUESTED = "requested"
    EMAILED = "emailed"
    SCANNED = "scanned"
    SMS_VERIFIED = "sms_verified"
    PIN_SET = "pin_set"
    ACTIVE = "active"
    EXPIRED = "expired"
    LOCKED = "locked"
    CANCELLED = "cancelled"
    FAILED = "failed"
    REVOKED = "revoked"


class Event(StrEnum):
    """What can happen to an activation (`request` creates it and is not an edge)."""

    REQUEST = "request"
    EMAIL_SENT = "email_sent"
    RESEND_EMAIL = "resend_email"
    SCAN = "scan"
    RESEND_SMS = "resend_sms"
    VERIFY_SMS = "verify_sms"
    SET_PIN = "set_pin"
    CONFIRM_PIN = "confirm_pin"
    AUTHENTICATE = "authenticate"
    CANCEL = "cancel"
    EXPIRE = "expire"
    DELIVERY_FAILED = "delivery_failed"
    REVOKE = "revoke"


class Outcome(StrEnum):
    """The guard's verdict that selects an edge.

    `wrong` increments the edge's counter and stays below its bound; `exhausted` is the
    wrong answer that makes the counter reach its bound.
    """

    OK = "ok"
    WRONG = "wrong"
    EXHAUSTED = "exhausted"


@dataclass(frozen=True, slots=True)
class Edge:
    """One transition: `event` with guard `outcome` takes `source` to `dest`."""

    event: Event
    source: State
    dest: State
    outcome: Outcome = Outcome.OK
    guard: str = ""
    counter: str | None = None
    resets: str | None = None

    @property
    def key(self) -> tuple[State, Event, Outcome]:
        """The (state, event, outcome) this edge answers."""
        return (self.source, self.event, self.outcome)


@dataclass(frozen=True, slots=True)
class Counter:
    """A per-activation count bounded by the `Settings` attribute `bound`."""

    name: str
    bound: str
    default: int


@dataclass(frozen=True, slots=True)
class Deadline:
    """A time limit over `states`, of `Settings.<validity>`, (re)started by `starts`."""

    name: str
    states: frozenset[State]
    validity: str
    starts: tuple[Event, ...]


@dataclass(frozen=True, slots=True)
class Implied:
    """`event` in `state` first records `first` (a scan while `requested` proves delivery)."""

    state: State
    event: Event
    first: Event


class Problem(NamedTuple):
    """A rule a definition breaks, with the states or edges at fault."""

    rule: str
    offenders: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.rule}: {', '.join(self.offenders)}"


@dataclass(frozen=True, slots=True)
class Definition:
    """A whole workflow; building it validates it and raises `DefinitionError`."""

    name: str
    states: tuple[State, ...]
    initial: State
    main_path: tuple[State, ...]
    terminal: frozenset[State]
    in_flight: frozenset[State]
    edges: tuple[Edge, ...]
    counters: tuple[Counter, ...] = ()
    deadlines: tuple[Deadline, ...] = ()
    implied: tuple[Implied, ...] = ()
    _index: dict[tuple[State, Event, Outcome], Edge] = field(
        init=False, repr=False, compare=False, hash=False
    )
    _allowed: frozenset[tuple[State, Event]] = field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        problems = definition_problems(self)
        if problems:
            offenders = tuple(o for p in problems for o in p.offenders)
            raise DefinitionError(
                f"definition {self.name!r} is invalid: " + "; ".join(map(str, problems)),
                offenders,
            )
        self._build_indexes()

    @classmethod
    def unchecked(cls, **fields: Any) -> Definition:
        """Build without validation, for the checker to judge a broken definition."""
        self = object.__new__(cls)
        fields.setdefault("counters", ())
        fields.setdefault("deadlines", ())
        fields.setdefault("implied", ())
        for name, value in fields.items():
            object.__setattr__(self, name, value)
        self._build_indexes()
        return self

    def _build_indexes(self) -> None:
        object.__setattr__(self, "_index", {e.key: e for e in self.edges})
        allowed = {(e.source, e.event) for e in self.edges} | {(i.state, i.event) for i in self.implied}
        object.__setattr__(self, "_allowed", frozenset(allowed))

    def edge(self, state: State, event: Event, outcome: Outcome = Outcome.OK) -> Edge | None:
        """The edge for (state, event, outcome), if the definition has one."""
        return self._index.get((state, event, outcome))

    def allows(self, state: State, event: Event) -> bool:
        """Whether `event` is possible in `state` (directly or through an implied event)."""
        return (state, event) in self._allowed

    def events(self) -> tuple[Event, ...]:
        """The events that label edges, in first-seen order."""
        return tuple(dict.fromkeys(e.event for e in self.edges))

    def counter(self, name: str) -> Counter:
        """The counter called `name`."""
        return next(c for c in self.counters if c.name == name)


def definition_problems(d: Definition) -> list[Problem]:
    """Every structural rule `d` breaks (empty when it is sound)."""
    problems: list[Problem] = []
    known = set(d.states)

    def add(rule: str, offenders: Iterable[object]) -> None:
        names = tuple(sorted({str(o) for o in offenders}))
        if names:
            problems.append(Problem(rule, names))

    add("duplicate states", [s for s, n in _Tally(d.states).items() if n > 1])
    add(
        "unknown states",
        {d.initial, *d.main_path, *d.terminal, *d.in_flight}
        - known
        | {s for e in d.edges for s in (e.source, e.dest)} - known,
    )
    add("terminal and in-flight at once", d.terminal & d.in_flight)
    seen: dict[tuple[State, Event, Outcome], State] = {}
    for e in d.edges:
        if e.key in seen and seen[e.key] != e.dest:
            add("two targets for one (state, event, outcome)", [f"{e.source}.{e.event}.{e.outcome}"])
        seen[e.key] = e.dest
    counters = {c.name for c in d.counters}
    add(
        "edges naming an unknown counter",
        [f"{e.source}.{e.event}" for e in d.edges if {e.counter, e.resets} - {None} - counters],
    )
    add(
        "wrong or exhausted answers without a counter",
        [f"{e.source}.{e.event}" for e in d.edges if e.outcome != Outcome.OK and e.counter is None],
    )
    add("terminal states with an outgoing edge", {e.source for e in d.edges if e.source in d.terminal})
    add(
        "states with no way out",
        {s for s in d.states if s not in d.terminal} - {e.source for e in d.edges if e.dest != e.source},
    )
    add("unreachable states", set(d.states) - reachable(d))
    return problems


def reachable(d: Definition) -> set[State]:
    """The states reachable from `d.initial` along edges."""
    seen, todo = {d.initial}, [d.initial]
    while todo:
        state = todo.pop()
        for e in d.edges:
            if e.source == state and e.dest not in seen:
                seen.add(e.dest)
                todo.append(e.dest)
    return seen


S, E, OC = State, Event, Outcome
_IN_FLIGHT = (S.REQUESTED, S.EMAILED, S.SCANNED, S.SMS_VERIFIED, S.PIN_SET)


def _edges() -> tuple[Edge, ...]:
    main = (
        Edge(E.EMAIL_SENT, S.REQUESTED, S.EMAILED, guard="mailer accepted the e-mail"),
        Edge(E.SCAN, S.EMAILED, S.SCANNED, guard="QR token valid, unused, this activation's"),
        Edge(E.VERIFY_SMS, S.SCANNED, S.SMS_VERIFIED, guard="SMS code right and fresh"),
        Edge(E.SET_PIN, S.SMS_VERIFIED, S.PIN_SET, guard="PIN well-formed and strong"),
        Edge(E.CONFIRM_PIN, S.PIN_SET, S.ACTIVE, guard="confirmation equals PIN"),
    )
    loops = (
        Edge(E.RESEND_EMAIL, S.REQUESTED, S.REQUESTED, guard="cooldown over", counter="email_resends"),
        Edge(E.RESEND_EMAIL, S.EMAILED, S.EMAILED, guard="cooldown over", counter="email_resends"),
        Edge(E.RESEND_SMS, S.SCANNED, S.SCANNED, guard="cooldown over", counter="sms_resends"),
        Edge(E.AUTHENTICATE, S.ACTIVE, S.ACTIVE, guard="PIN right", resets="login_failures"),
    )
    wrong = (
        (E.VERIFY_SMS, S.SCANNED, S.SCANNED, "sms_attempts", "SMS code wrong"),
        (E.CONFIRM_PIN, S.PIN_SET, S.SMS_VERIFIED, "pin_mismatches", "confirmation differs"),
        (E.AUTHENTICATE, S.ACTIVE, S.ACTIVE, "login_failures", "PIN wrong"),
    )
    attempts = tuple(
        edge
        for event, source, dest, counter, guard in wrong
        for edge in (
            Edge(event, source, dest, OC.WRONG, guard, counter),
            Edge(event, source, S.LOCKED, OC.EXHAUSTED, guard, counter),
        )
    )
    endings = (
        *(Edge(E.CANCEL, s, S.CANCELLED, guard="user cancels or is superseded") for s in _IN_FLIGHT),
        *(Edge(E.EXPIRE, s, S.EXPIRED, guard="deadline passed") for s in _IN_FLIGHT),
        *(
            Edge(E.DELIVERY_FAILED, s, S.FAILED, guard="outbox gave up")
            for s in (S.REQUESTED, S.EMAILED, S.SCANNED)
        ),
        Edge(E.REVOKE, S.ACTIVE, S.REVOKED, guard="deleted, admin or replaced"),
    )
    return main + loops + attempts + endings


DEFINITION = Definition(
    name="ecps-activation",
    states=tuple(State),
    initial=S.REQUESTED,
    main_path=(S.REQUESTED, S.EMAILED, S.SCANNED, S.SMS_VERIFIED, S.PIN_SET, S.ACTIVE),
    terminal=frozenset({S.EXPIRED, S.LOCKED, S.CANCELLED, S.FAILED, S.REVOKED}),
    in_flight=frozenset(_IN_FLIGHT),
    edges=_edges(),
    counters=(
        Counter("email_resends", "max_resends", 3),
        Counter("sms_resends", "max_resends", 3),
        Counter("sms_attempts", "max_sms_attempts", 5),
        Counter("pin_mismatches", "max_pin_mismatches", 3),
        Counter("login_failures", "max_login_failures", 10),
    ),
    deadlines=(
        Deadline("token", frozenset({S.REQUESTED, S.EMAILED}), "qr_token_validity",
                 (E.REQUEST, E.RESEND_EMAIL)),
        Deadline("pin_step", frozenset({S.SMS_VERIFIED, S.PIN_SET}), "pin_step_validity",
                 (E.VERIFY_SMS,)),
        Deadline("flow", frozenset(_IN_FLIGHT), "flow_validity", (E.REQUEST,)),
    ),
    implied=(Implied(S.REQUESTED, E.SCAN, E.EMAIL_SENT),),
)


class _OutcomeIs:
    """A `transitions` condition true when the trigger's `outcome` keyword equals ours."""

    __slots__ = ("outcome",)

    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome

    def __call__(self, outcome: Outcome = Outcome.OK, **_: object) -> bool:
        return outcome == self.outcome


class _Cursor:
    """The plain object a shared machine moves; never added to the machine."""

    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


class Workflow:
    """A definition compiled once into one shared `transitions` machine.

    `fire` moves a state along an edge; the machine never holds a model of its own.
    """

    def __init__(self, definition: Definition, *, auto_transitions: bool = False) -> None:
        self.definition = definition
        self.machine = Machine(
            model=None,
            states=[str(s) for s in definition.states],
            transitions=[
                {
                    "trigger": str(e.event),
                    "source": str(e.source),
                    "dest": str(e.dest),
                    "conditions": [_OutcomeIs(e.outcome)],
                }
                for e in definition.edges
            ],
            auto_transitions=auto_transitions,
            initial=None,
        )
        self._triggers = {name: ev.trigger for name, ev in self.machine.events.items()}

    def fire(self, state: State, event: Event, outcome: Outcome = Outcome.OK) -> State:
        """The state after `event` with `outcome` in `state`; refusals raise `TransitionNotAllowed`."""
        cursor = _Cursor(str(state))
        trigger = self._triggers.get(str(event))
        try:
            moved = trigger is not None and trigger(cursor, outcome=outcome)
        except MachineError:
            moved = False
        if not moved:
            raise TransitionNotAllowed(str(state), str(event))
        return State(cursor.state)

    def machine_edges(self) -> set[tuple[str, str, str, str]]:
        """The built machine's edges as (source, event, outcome, dest), to compare with the data."""
        found: set[tuple[str, str, str, str]] = set()
        for name, event in self.machine.events.items():
            for source, transitions in event.transitions.items():
                for t in transitions:
                    outcomes = [c.func.outcome for c in t.conditions if isinstance(c.func, _OutcomeIs)]
                    outcome = str(outcomes[0]) if outcomes else "*"
                    found.add((str(source), str(name), outcome, str(t.dest)))
        return found


WORKFLOW = Workflow(DEFINITION)
