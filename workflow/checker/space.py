"""The explored state space of a definition: configurations, moves as values, breadth-first search."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from workflow.engine import Counter, Definition, Edge, Implied, Outcome, counter_bound
from workflow.errors import DefinitionError
from workflow.settings import Settings

IDLE, RUNNING, PASSED = 0, 1, 2
_IDLE, _RUNNING, _PASSED = IDLE, RUNNING, PASSED
CHECK_KEY = "model-check-" + "k" * 24


@dataclass(frozen=True, slots=True)
class Config:
    """One point of the explored space: state, counter values, deadline phases, main progress.

    `counts` follow the definition's counters (a counter no edge can read any more is 0);
    `phases` its deadlines: `IDLE`, `RUNNING` or `PASSED`.
    """

    state: Any
    counts: tuple[int, ...]
    phases: tuple[int, ...]
    progress: int

    @property
    def due(self) -> bool:
        """Whether a deadline has passed (only the expire event can follow)."""
        return PASSED in self.phases


_Config = Config


@dataclass(frozen=True, slots=True)
class Step:
    """One move of the model: an event with its guard outcome, or the clock passing a deadline.

    `implied` lists the events the definition records first (e.g. a delivery a scan proves).
    """

    event: str = ""
    outcome: str = Outcome.OK
    deadline: str = ""
    implied: tuple[str, ...] = ()

    @property
    def is_clock(self) -> bool:
        """Whether this is the clock passing `deadline` rather than an event."""
        return bool(self.deadline)

    def __str__(self) -> str:
        if self.deadline:
            return f"clock passes {self.deadline}"
        return self.event if self.outcome == Outcome.OK else f"{self.event} ({self.outcome})"


@dataclass(slots=True)
class Space:
    """The explored graph with BFS parents (so paths from the start are shortest).

    `parent` lists every configuration in the order found; `moves[c]` its outgoing moves.
    """

    start: Config | None
    created_by: str = "request"
    parent: dict[Config, tuple[Config, Step] | None] = field(default_factory=dict)
    moves: dict[Config, list[tuple[Step, Config]]] = field(default_factory=dict)
    overflow: dict[Config, str] = field(default_factory=dict)
    shortcut: dict[Config, None] = field(default_factory=dict)
    ticked: dict[tuple[str, Any], Config] = field(default_factory=dict)
    live: dict[Any, tuple[bool, ...]] = field(default_factory=dict)
    transitions: int = 0
    broken: str = ""

    def steps_to(self, config: Config) -> tuple[Step, ...]:
        """The moves from the creating event to `config`, shortest first-found."""
        steps: list[Step] = []
        at = self.parent[config]
        while at is not None:
            steps.append(at[1])
            at = self.parent[at[0]]
        return tuple(reversed(steps))

    def path(self, config: Config, *more: str) -> tuple[str, ...]:
        """The events from the creating event to `config`, then `more`, as text."""
        labels = [label for step in self.steps_to(config) for label in (*step.implied, str(step))]
        return (str(self.created_by), *labels, *more)

    def first(self, state: object) -> Config | None:
        """The first-found (nearest) configuration in `state`."""
        return next((c for c in self.parent if c.state == state), None)


_Space = Space


class _Model:
    """The definition's semantics the checker explores (the service's rules, as data)."""

    def __init__(self, d: Definition[Any, Any], settings: Any, reduce: bool) -> None:
        self.d = d
        self.expire = d.expire_event
        self.counters = [c.name for c in d.counters]
        self.slot = {name: i for i, name in enumerate(self.counters)}
        self.bounds = [_bound(c, settings) for c in d.counters]
        self.by_source: dict[Any, list[Edge[Any, Any]]] = {}
        for e in d.edges:
            self.by_source.setdefault(e.source, []).append(e)
        self.exhausts = {(e.source, e.event) for e in d.edges if e.outcome == Outcome.EXHAUSTED}
        self.main_steps = list(zip(d.main_path, d.main_path[1:], strict=False))
        self.goal = d.main_path[-1] if d.main_path else None
        graph = _graph(d)
        self.live: dict[Any, tuple[bool, ...]] = {}
        self.wants_goal: dict[Any, bool] = {}
        for s in {d.initial, *d.states, *graph}:
            ahead = _closure(graph, s)
            used = {n for e in d.edges if e.source in ahead for n in (e.counter, e.resets)}
            self.live[s] = tuple(not reduce or n in used for n in self.counters)
            self.wants_goal[s] = not reduce or self.goal in ahead

    def start(self) -> _Config:
        """The configuration `request` creates."""
        s = self.d.initial
        phases = tuple(
            _RUNNING if s in dl.states and self.d.created_by in dl.starts else _IDLE
            for dl in self.d.deadlines
        )
        return self._canonical(_Config(s, (0,) * len(self.counters), phases, 0))

    def moves(self, c: Config) -> Iterator[tuple[Step, Config, str | None, bool]]:
        """(move, next configuration, overflowing counter, reached the goal out of order)."""
        passed = _PASSED in c.phases
        for e in self.by_source.get(c.state, ()):
            if passed != (e.event == self.expire):
                continue  # expire happens only, and at once, when a deadline has passed
            taken = self._take(c, e)
            if taken is not None:
                yield taken
        if passed:
            return
        for i in self.d.implied:
            if i.state == c.state:
                yield from self._implied(c, i)
        for n, dl in enumerate(self.d.deadlines):
            if c.phases[n] == _RUNNING and c.state in dl.states:
                phases = (*c.phases[:n], _PASSED, *c.phases[n + 1:])
                yield Step(deadline=dl.name), Config(c.state, c.counts, phases, c.progress), \
                    None, False

    def _implied(self, c: Config, i: Implied[Any, Any]) -> Iterator[tuple[Step, Config, str | None, bool]]:
        """`i.event` in `c.state`: its implied event first, then each edge of `i.event` from there."""
        first = self.d.edge(c.state, i.first)
        if first is None:
            return
        between = self._take(c, first)
        if between is None:
            return
        _, mid, over, shortcut = between
        for e in self.by_source.get(mid.state, ()):
            if e.event != i.event:
                continue
            taken = self._take(mid, e)
            if taken is not None:
                step, nxt, over2, shortcut2 = taken
                yield (Step(step.event, step.outcome, implied=(str(i.first),)), nxt, over or over2,
                       shortcut or shortcut2)

    def _take(self, c: Config, e: Edge[Any, Any]) -> tuple[Step, Config, str | None, bool] | None:
        counts = list(c.counts)
        over = None
        if e.counter in self.slot:
            i = self.slot[e.counter]
            value, bound = counts[i] + 1, self.bounds[i]
            if e.outcome == Outcome.OK and value > bound:
                return None  # a counted action is refused at its bound (resends)
            if e.outcome == Outcome.WRONG and value >= bound and (e.source, e.event) in self.exhausts:
                return None
            if e.outcome == Outcome.EXHAUSTED and value < bound:
                return None
            counts[i] = value
            over = e.counter if value > bound else None
        if e.resets in self.slot:
            counts[self.slot[e.resets]] = 0
        phases = tuple(self._phase(dl.states, dl.starts, p, c.state, e)
                       for dl, p in zip(self.d.deadlines, c.phases, strict=True))
        progress = c.progress  # how many main states, in order, the way here has entered
        if progress < len(self.main_steps) and e.dest == self.d.main_path[progress + 1]:
            progress += 1
        shortcut = e.dest == self.goal and e.source != self.goal and progress < len(self.main_steps)
        nxt = self._canonical(Config(e.dest, tuple(counts), phases, progress))
        return Step(str(e.event), str(e.outcome)), nxt, over, shortcut

    @staticmethod
    def _phase(states: frozenset[Any], starts: tuple[Any, ...], phase: int, source: object,
               e: Edge[Any, Any]) -> int:
        if e.dest not in states:
            return _IDLE
        if e.event in starts:
            return _RUNNING
        return phase if source in states else _IDLE

    def _canonical(self, c: _Config) -> _Config:
        live = self.live.get(c.state, ())
        counts = tuple(v if alive else 0 for v, alive in zip(c.counts, live, strict=False))
        progress = c.progress if self.wants_goal.get(c.state, True) else 0
        return _Config(c.state, counts, c.phases, progress)


def explore(definition: Definition[Any, Any], settings: Any = None, *,
            reduce: bool = True) -> Space:
    """The space `definition` can reach with the bounds of `settings` (the defaults when None)."""
    settings = settings or Settings(secret_key=CHECK_KEY)
    return _explore(_Model(definition, settings, reduce))


def _explore(model: _Model) -> Space:
    start = model.start()
    space = Space(start, model.d.created_by, live=model.live)
    space.parent[start] = None
    todo = deque([start])
    while todo:
        c = todo.popleft()
        out = space.moves.setdefault(c, [])
        if c in space.overflow:
            continue
        for step, nxt, over, shortcut in model.moves(c):
            space.transitions += 1
            out.append((step, nxt))
            if step.is_clock:
                space.ticked.setdefault((step.deadline, c.state), nxt)
            if nxt in space.parent:
                continue
            space.parent[nxt] = (c, step)
            todo.append(nxt)
            if over is not None:
                space.overflow[nxt] = over
            if shortcut:
                space.shortcut[nxt] = None
    return space


def _graph(d: Definition[Any, Any]) -> dict[Any, set[Any]]:
    graph: dict[Any, set[Any]] = {}
    for e in d.edges:
        graph.setdefault(e.source, set()).add(e.dest)
    return graph


def _closure(graph: dict[Any, set[Any]], start: Any) -> set[Any]:
    seen, todo = {start}, [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _bound(counter: Counter, settings: Any) -> int:
    """The bound the interpreter runs `counter` with (one it could not run with: explored as
    `max(default, 0)`, and reported by the well-formed and bounded properties)."""
    try:
        return counter_bound(counter, settings)
    except DefinitionError:
        return max(counter.default, 0)

