"""The neutral model every renderer draws: a definition's states and arcs, extracted once.

`Graph.of(definition, settings)` resolves what the renderers need — each arc's label lines and
bounds, the implied events as arcs of their own, the deadlines in words — so that the DOT,
Mermaid and SCXML renderers read the same data and none of them reads the definition itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import MISSING, dataclass, fields
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from workflow.definition import DEFINITION
from workflow.domain import Step
from workflow.engine import Deadline, Definition, Edge, Outcome, counter_bound, deadline_validity
from workflow.errors import DefinitionError
from workflow.settings import Settings


def drawn(definition: Definition[Any, Any] | None, settings: Any = None) -> Graph:
    """The graph of `definition` (the e-CPS activation when None)."""
    return Graph.of(DEFINITION if definition is None else definition, settings)


@dataclass(frozen=True, slots=True)
class Arc:
    """One arrow: an edge of the definition, or an implied event drawn from where it is accepted.

    `implied` names the event recorded first (empty for a plain edge); `lines` is its label.
    """

    source: Any
    dest: Any
    event: str
    outcome: str
    guard: str
    counter: str | None
    resets: str | None
    lines: tuple[str, ...]
    implied: str = ""


@dataclass(frozen=True, slots=True)
class Graph:
    """What a diagram shows of a definition, with the bounds and lengths of some settings."""

    name: str
    states: tuple[Any, ...]
    initial: Any
    created_by: str
    main_path: tuple[Any, ...]
    terminal: frozenset[Any]
    in_flight: frozenset[Any]
    edges: tuple[Arc, ...]
    implied: tuple[Arc, ...]
    limits: dict[str, int]
    counters: tuple[tuple[str, str], ...]
    """(counter, the setting that bounds it)."""
    deadlines: tuple[tuple[str, str, str], ...]
    """(name, "60 min from request / resend_email", "over requested, emailed")."""
    validities: tuple[tuple[str, int], ...]
    """(setting, its length in seconds)."""

    @classmethod
    def of(cls, d: Definition[Any, Any], settings: Any = None) -> Graph:
        """The graph of `d`; bounds and lengths from `settings`, else the defaults."""
        limits = bounds(d, settings)

        def arc(e: Edge[Any, Any], source: Any = None, implied: str = "") -> Arc:
            return Arc(e.source if source is None else source, e.dest, str(e.event), str(e.outcome),
                       e.guard, e.counter, e.resets, tuple(label_lines(e, limits)), implied)

        lengths = []
        for dl in d.deadlines:
            length = _length(dl, settings)
            lengths.append((dl.validity, int(length.total_seconds())
                            if isinstance(length, timedelta) else 0))
        return cls(str(d.name), tuple(d.states), d.initial, str(d.created_by), tuple(d.main_path),
                   frozenset(d.terminal), frozenset(d.in_flight), tuple(arc(e) for e in d.edges),
                   tuple(arc(e, i.state, str(i.first)) for i, e in d.implied_edges()), limits,
                   tuple((c.name, c.bound) for c in d.counters), tuple(_deadlines(d, settings)),
                   tuple(lengths))

    def after_goal(self, s: Any) -> bool:
        """Whether `s` is only entered from the last main state (e.g. revoked after active)."""
        sources = {e.source for e in self.edges if e.dest == s}
        return bool(self.main_path) and sources == {self.main_path[-1]}

    def reached_from(self, s: Any, flow: list[Any]) -> bool:
        """Whether `s` is entered from a state of `flow`, or is not only an ending after the goal."""
        return any(e.dest == s and e.source in flow for e in self.edges) or not self.after_goal(s)

    def is_back(self, e: Arc) -> bool:
        """Whether `e` goes back along the main path."""
        path = list(self.main_path)
        return e.source in path and e.dest in path and path.index(e.dest) < path.index(e.source)


@dataclass(frozen=True, slots=True)
class Highlight:
    """One activation's path through the diagram: the steps it took and where it stands."""

    steps: tuple[Step, ...]
    current: Any

    @classmethod
    def of(cls, history: Sequence[Step] | None, current: Any = None) -> Highlight | None:
        """The highlight for `history` (None without one); `current` defaults to the last step."""
        if history is None and current is None:
            return None
        steps = tuple(history or ())
        return cls(steps, current if current is not None else (steps[-1].dest if steps else None))

    def took(self, source: Any, event: str, dest: Any) -> bool:
        """Whether a step went from `source` to `dest` by `event`."""
        return any((s.source, s.event, s.dest) == (source, event, dest) for s in self.steps)

    def took_at_once(self, first: tuple[object, str, object], then: tuple[object, str, object]) -> bool:
        """Whether `first` and `then` (source, event, dest) were recorded together, as an implied event is."""
        pairs = zip(self.steps, self.steps[1:], strict=False)
        return any((a.source, a.event, a.dest) == first and (b.source, b.event, b.dest) == then
                   and a.at == b.at for a, b in pairs)

    @property
    def visited(self) -> frozenset[Any]:
        """The states the activation has been in."""
        return frozenset(s.dest for s in self.steps)


def bounds(definition: Definition[Any, Any], settings: Any = None) -> dict[str, int]:
    """Each counter's bound: from `settings` when given, else the definition's default."""
    limits: dict[str, int] = {}
    for c in definition.counters:
        try:
            limits[c.name] = counter_bound(c, settings) if settings else c.default
        except DefinitionError:
            limits[c.name] = c.default
    return limits


def label_lines(edge: Edge[Any, Any] | Arc, limits: dict[str, int]) -> list[str]:
    """The event (✗ for a wrong answer), its guard in brackets, the counter it moves."""
    events: dict[str, str] = {Outcome.OK: str(edge.event), Outcome.WRONG: f"{edge.event} ✗",
                              Outcome.EXHAUSTED: f"{edge.event} ✗ last try"}
    event = events[str(edge.outcome)]
    parts = [event]
    if edge.guard:
        parts.append(f"[{edge.guard}]")
    if edge.counter:
        limit = limits.get(edge.counter, "?")
        relations: dict[str, str] = {Outcome.OK: "≤", Outcome.WRONG: "<", Outcome.EXHAUSTED: "="}
        relation = relations[str(edge.outcome)]
        parts.append(f"{edge.counter} +1 {relation} {limit}")
    if edge.resets:
        parts.append(f"{edge.resets} := 0")
    return parts


def edge_label(edge: Edge[Any, Any] | Arc, limits: dict[str, int], *, sep: str = "\n") -> str:
    """The edge's label as text: event, guard and counter joined by `sep`."""
    return sep.join(label_lines(edge, limits))


def _deadlines(definition: Definition[Any, Any], settings: Any) -> list[tuple[str, str, str]]:
    """Each deadline as (name, "60 min from request / resend_email", "over requested, emailed")."""
    rows = []
    for d in definition.deadlines:
        length = _length(d, settings)
        states = ", ".join(str(s) for s in definition.states if s in d.states)
        if set(d.states) == set(definition.in_flight):
            states = "every in-flight state"
        starts = " / ".join(str(e) for e in d.starts)
        rows.append((d.name, f"{_duration(length)} from {starts}", f"over {states}"))
    return rows


_DEFAULTS = SimpleNamespace(**{f.name: f.default for f in fields(Settings) if f.default is not MISSING})


def _length(deadline: Deadline[Any, Any], settings: Any) -> timedelta | None:
    """How long `deadline` runs under `settings` (else the defaults of `Settings`); None: unknown."""
    try:
        return deadline_validity(deadline, settings if settings else _DEFAULTS)
    except DefinitionError:
        return None


def _duration(length: object) -> str:
    if not isinstance(length, timedelta):
        return "?"
    seconds = int(length.total_seconds())
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds % size == 0 and seconds >= 2 * size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


