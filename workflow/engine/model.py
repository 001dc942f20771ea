"""A workflow definition as frozen data: states, events, guard outcomes, edges, counters, deadlines.

Names are plain strings (any `StrEnum` of the embedder's works); building a `Definition`
validates it and raises `DefinitionError` naming what is at fault.
"""

from __future__ import annotations

from collections import Counter as _Tally
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Generic, NamedTuple, TypeVar

from workflow.errors import DefinitionError

S = TypeVar("S", bound=str)
E = TypeVar("E", bound=str)


class Outcome(StrEnum):
    """The guard's verdict that selects an edge.

    `wrong` increments the edge's counter and stays below its bound; `exhausted` is the
    wrong answer that makes the counter reach its bound (the interpreter tells them apart).
    """

    OK = "ok"
    WRONG = "wrong"
    EXHAUSTED = "exhausted"


@dataclass(frozen=True, slots=True)
class Edge(Generic[S, E]):
    """One transition: `event` with guard `outcome` takes `source` to `dest`.

    `counter` is incremented when the edge is taken (an `ok` edge with a counter is a
    counted action, refused once the counter is at its bound); `resets` is set back to 0.
    """

    event: E
    source: S
    dest: S
    outcome: Outcome = Outcome.OK
    guard: str = ""
    counter: str | None = None
    resets: str | None = None

    @property
    def key(self) -> tuple[S, E, Outcome]:
        """The (state, event, outcome) this edge answers."""
        return (self.source, self.event, self.outcome)


@dataclass(frozen=True, slots=True)
class Counter:
    """A per-instance count bounded by the `Settings` attribute `bound` (`default` without one).

    `counter_bound(counter, settings)` is that rule, for every reader of a bound.
    """

    name: str
    bound: str
    default: int


@dataclass(frozen=True, slots=True)
class Deadline(Generic[S, E]):
    """A time limit over `states`, `Settings.<validity>` long, (re)started by the events `starts`.

    `default` is its length when the settings have no attribute `validity` (None: the settings
    must have it). Its time is kept in the instance's attribute `slot` (default: `name`) while the instance
    is in `states`, and cleared when it leaves them; deadlines over disjoint states may share
    a slot.
    """

    name: str
    states: frozenset[S]
    validity: str
    starts: tuple[E, ...]
    slot: str = ""
    default: timedelta | None = None

    @property
    def attribute(self) -> str:
        """Where an instance keeps this deadline's time."""
        return self.slot or self.name


@dataclass(frozen=True, slots=True)
class Implied(Generic[S, E]):
    """`event` in `state` first records `first` (e.g. a scan while `requested` proves delivery)."""

    state: S
    event: E
    first: E
    reason: str = ""


def counter_bound(counter: Counter, settings: object) -> int:
    """The bound `counter` runs with under `settings`: the attribute `counter.bound`, else its default.

    The one rule the interpreter, the checker, the conformance replay and the drawings follow;
    a bound that is not an integer ≥ 0 is a `DefinitionError` naming the setting.
    """
    if hasattr(settings, counter.bound):
        value, source = getattr(settings, counter.bound), f"Settings.{counter.bound} = {{!r}}"
    else:
        value, source = counter.default, f"Settings has no {counter.bound!r} and its default {{!r}}"
    if type(value) is not int or value < 0:
        raise DefinitionError(f"counter {counter.name} has no bound: {source.format(value)} "
                              "is not an integer ≥ 0", (counter.bound,))
    return value


def deadline_validity(deadline: Deadline[Any, Any], settings: object) -> timedelta:
    """How long `deadline` runs under `settings`: the attribute `deadline.validity`, else its default.

    The one rule every reader of a length follows; a deadline with neither, or a length that is
    not a positive duration, is a `DefinitionError` naming the setting.
    """
    name = deadline.validity
    if hasattr(settings, name):
        value, source = getattr(settings, name), f"Settings.{name} = {{!r}}"
    elif deadline.default is None:
        raise DefinitionError(f"{deadline.name}: Settings has no duration {name!r} "
                              "and the deadline no default", (name,))
    else:
        value, source = deadline.default, f"Settings has no {name!r} and its default {{!r}}"
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise DefinitionError(f"{deadline.name}: {source.format(value)} is not a positive duration",
                              (name,))
    return value


_VALIDATE: ContextVar[bool] = ContextVar("validate_definitions", default=True)


@contextmanager
def unvalidated() -> Iterator[None]:
    """Build definitions without validation inside (so a checker can load and explain a broken one)."""
    token = _VALIDATE.set(False)
    try:
        yield
    finally:
        _VALIDATE.reset(token)


class Problem(NamedTuple):
    """A rule a definition breaks, with the states or edges at fault."""

    rule: str
    offenders: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.rule}: {', '.join(self.offenders)}"


@dataclass(frozen=True, slots=True)
class Definition(Generic[S, E]):
    """A whole workflow; building it validates it and raises `DefinitionError`.

    `created_by` names the event that creates an instance in `initial` (it is not an edge);
    `expire_event` the event the interpreter records when a deadline has passed.
    """

    name: str
    states: tuple[S, ...]
    initial: S
    main_path: tuple[S, ...]
    terminal: frozenset[S]
    in_flight: frozenset[S]
    edges: tuple[Edge[S, E], ...]
    counters: tuple[Counter, ...] = ()
    deadlines: tuple[Deadline[S, E], ...] = ()
    implied: tuple[Implied[S, E], ...] = ()
    created_by: str = "request"
    expire_event: str = "expire"
    _index: dict[tuple[str, str, str], Edge[S, E]] = field(
        init=False, repr=False, compare=False, hash=False
    )
    _allowed: frozenset[tuple[str, str]] = field(init=False, repr=False, compare=False, hash=False)
    _names: dict[str, S] = field(init=False, repr=False, compare=False, hash=False)
    _covering: dict[str, tuple[str, ...]] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        problems = definition_problems(self) if _VALIDATE.get() else []
        if problems:
            offenders = tuple(o for p in problems for o in p.offenders)
            raise DefinitionError(
                f"definition {self.name!r} is invalid: " + "; ".join(map(str, problems)),
                offenders,
            )
        self._build_indexes()

    @classmethod
    def unchecked(cls, **fields: Any) -> Definition[Any, Any]:
        """Build without validation, so the checker can judge (and explain) a broken definition."""
        self = object.__new__(cls)
        for name, default in (("counters", ()), ("deadlines", ()), ("implied", ()),
                              ("created_by", "request"), ("expire_event", "expire")):
            fields.setdefault(name, default)
        for name, value in fields.items():
            object.__setattr__(self, name, value)
        self._build_indexes()
        return self

    def _build_indexes(self) -> None:
        object.__setattr__(self, "_index", {e.key: e for e in self.edges})
        allowed = {(e.source, e.event) for e in self.edges} | {(i.state, i.event) for i in self.implied}
        object.__setattr__(self, "_allowed", frozenset(allowed))
        names = {str(s): s for s in self.states}
        object.__setattr__(self, "_names", names)
        try:
            covering = {str(s): tuple(dict.fromkeys(dl.attribute for dl in self.deadlines
                                                    if s in dl.states)) for s in self.states}
        except (AttributeError, TypeError):  # an unchecked definition the checker will explain
            covering = {}
        object.__setattr__(self, "_covering", covering)

    def edge(self, state: str, event: str, outcome: str = Outcome.OK) -> Edge[S, E] | None:
        """The edge for (state, event, outcome), if the definition has one."""
        return self._index.get((state, event, outcome))

    def allows(self, state: str, event: str) -> bool:
        """Whether `event` is possible in `state` (directly or through an implied event)."""
        return (state, event) in self._allowed

    def state(self, name: str) -> S:
        """The definition's own state object called `name` (its enum member, if it has one)."""
        return self._names[name]

    def due_at(self, instance: object) -> datetime | None:
        """When the deadlines running in `instance`'s state end first (None when none runs)."""
        due = None
        for slot in self._covering.get(getattr(instance, "state"), ()):  # noqa: B009
            when = getattr(instance, slot)
            if when is not None and (due is None or when < due):
                due = when
        return due

    def events(self) -> tuple[E, ...]:
        """The events that label edges, in first-seen order."""
        return tuple(dict.fromkeys(e.event for e in self.edges))

    def counter(self, name: str) -> Counter:
        """The counter called `name`."""
        return next(c for c in self.counters if c.name == name)

    def implied_edges(self) -> tuple[tuple[Implied[S, E], Edge[S, E]], ...]:
        """Each implied event with an edge it leads to: `event` from where `first` lands."""
        found = []
        for i in self.implied:
            first = self.edge(i.state, i.first)
            if first is not None:
                found += [(i, e) for e in self.edges if e.source == first.dest and e.event == i.event]
        return tuple(found)

    def implied_before(self, state: str, event: str) -> Implied[S, E] | None:
        """The implied event recorded before `event` in `state`, if any."""
        return next((i for i in self.implied if i.state == state and i.event == event), None)


def definition_problems(d: Definition[Any, Any]) -> list[Problem]:
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
    seen: dict[tuple[str, str, str], Edge[Any, Any]] = {}
    for e in d.edges:
        first = seen.setdefault(e.key, e)
        where = [f"{e.source}.{e.event}.{e.outcome}"]
        if first.dest != e.dest:
            add("two targets for one (state, event, outcome)", where)
        elif (first.counter, first.resets) != (e.counter, e.resets):
            add("one (state, event, outcome) with different counters", where)
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
    add("deadlines sharing a slot over common states", _overlapping_slots(d))
    return problems


def _overlapping_slots(d: Definition[Any, Any]) -> list[str]:
    clashes = []
    for i, a in enumerate(d.deadlines):
        for b in d.deadlines[i + 1:]:
            if a.attribute == b.attribute and a.states & b.states:
                clashes.append(f"{a.name}/{b.name}")
    return clashes


def reachable(d: Definition[Any, Any]) -> set[str]:
    """The states reachable from `d.initial` along edges."""
    seen, todo = {d.initial}, [d.initial]
    while todo:
        state = todo.pop()
        for e in d.edges:
            if e.source == state and e.dest not in seen:
                seen.add(e.dest)
                todo.append(e.dest)
    return seen
