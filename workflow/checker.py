"""Exhaustive model checker: explores a definition (states × counters × deadlines), proves its properties.

`check(definition)` returns a `Report`; a failing property carries its shortest counter-example.
`explore(definition)` gives the explored space itself, whose moves are values (the conformance
replay in `workflow.testing` walks it through a real service).
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from workflow.engine import (
    Counter,
    Deadline,
    Definition,
    Edge,
    Implied,
    Outcome,
    Workflow,
    definition_problems,
    unvalidated,
)
from workflow.errors import DefinitionError, TransitionNotAllowed
from workflow.settings import Settings


class Property(StrEnum):
    """The properties `check` proves, by short name."""

    WELL_FORMED = "well-formed"
    REACHABLE = "reachable"
    NO_TRAP = "no-trap"
    EXPIRY = "expiry"
    MAIN_PATH = "main-path"
    ABSORBING = "absorbing"
    DETERMINISTIC = "deterministic"
    BOUNDED = "bounded"
    DEADLINES = "deadlines"
    MACHINE = "machine"


CLAIMS: dict[Property, str] = {
    Property.WELL_FORMED: "the data is consistent (states, counters, settings)",
    Property.REACHABLE: "every state is reachable",
    Property.NO_TRAP: "every non-terminal state can reach a terminal one",
    Property.EXPIRY: "every in-flight state has an expire edge and a deadline",
    Property.MAIN_PATH: "every path to the goal passes the main states in order",
    Property.ABSORBING: "terminal states absorb (no outgoing edge)",
    Property.DETERMINISTIC: "each (state, event, guard outcome) has one target",
    Property.BOUNDED: "counters never pass their bound",
    Property.DEADLINES: "every deadline can fire in each of its states",
    Property.MACHINE: "the built transitions machine equals the definition",
}

# Rules of `definition_problems` that a property of their own proves (with a counter-example).
_PROVED_ELSEWHERE = frozenset({
    "two targets for one (state, event, outcome)",
    "terminal states with an outgoing edge",
    "states with no way out",
    "unreachable states",
})
IDLE, RUNNING, PASSED = 0, 1, 2
_IDLE, _RUNNING, _PASSED = IDLE, RUNNING, PASSED
_CHECK_KEY = "model-check-" + "k" * 24


@dataclass(frozen=True, slots=True)
class Result:
    """One property's verdict; a failure says why and, when a path shows it, the shortest one."""

    name: Property
    ok: bool
    detail: str = ""
    counterexample: tuple[str, ...] | None = None
    claim: str = ""
    """What the property asserts, as a sentence (`CLAIMS[name]` unless given)."""

    def __post_init__(self) -> None:
        if not self.claim:
            object.__setattr__(self, "claim", CLAIMS[self.name])


@dataclass(frozen=True, slots=True)
class Report:
    """The verdict on every property, with the size of the explored state space."""

    definition: str
    results: tuple[Result, ...]
    states_explored: int
    transitions_explored: int
    seconds: float
    start: str = ""
    """The state a new instance starts in (where every counter-example begins)."""

    @property
    def ok(self) -> bool:
        """Whether every property holds."""
        return all(r.ok for r in self.results)

    @property
    def failed(self) -> frozenset[Property]:
        """The properties that do not hold."""
        return frozenset(r.name for r in self.results if not r.ok)

    def result(self, prop: Property | str) -> Result:
        """The verdict on `prop`."""
        return next(r for r in self.results if r.name == prop)

    def as_dict(self) -> dict[str, object]:
        """The report as JSON-ready data (for `--json` output)."""
        return {
            "definition": self.definition, "ok": self.ok, "start": self.start,
            "states_explored": self.states_explored,
            "transitions_explored": self.transitions_explored,
            "seconds": round(self.seconds, 6),
            "properties": [
                {"name": str(r.name), "ok": r.ok, "claim": r.claim, "detail": r.detail,
                 "counterexample": list(r.counterexample) if r.counterexample is not None
                 else None}
                for r in self.results
            ],
        }

    def render(self) -> str:
        """A plain-text table of the properties, then each failure's counter-example."""
        width = max(len(p) for p in Property)
        lines = [
            f"Model check of {self.definition!r}: {self.states_explored} states and "
            f"{self.transitions_explored} transitions in {self.seconds:.3f} s",
            "",
            f"  {'property':<{width}}  result  claim",
            f"  {'-' * width}  ------  {'-' * 55}",
        ]
        for r in self.results:
            lines.append(f"  {r.name:<{width}}  {'PASS' if r.ok else 'FAIL':<6}  {r.claim}")
        for r in self.results:
            if r.ok:
                continue
            lines += ["", f"{r.name}: FAIL — {r.claim}", f"  why: {r.detail}"]
            if r.counterexample is not None:
                lines.append(f"  counter-example, from a new {self.start}: "
                             + " → ".join(r.counterexample))
        failures = len(self.failed)
        lines += ["", f"all {len(self.results)} properties hold" if not failures
                  else f"{failures} of {len(self.results)} properties fail"]
        return "\n".join(lines)


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
        self.bounds = [_int_setting(settings, c.bound, c.default) for c in d.counters]
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


def check(definition: Definition[Any, Any], workflow: Workflow[Any, Any] | None = None,
          settings: Any = None, *, reduce: bool = True) -> Report:
    """Explore `definition` exhaustively and judge every property of DESIGN §7.

    `workflow` is the built machine to compare (built from the definition when None);
    `settings` gives the counter bounds and deadline lengths (the defaults when None);
    `reduce` forgets counters no edge can read any more (sound; turn off to cross-check).
    """
    began = time.perf_counter()
    settings = settings or Settings(secret_key=_CHECK_KEY)
    try:
        space = _explore(_Model(definition, settings, reduce))
    except Exception as exc:  # judge what can be judged without the state space
        space = _Space(None, broken=f"{type(exc).__name__}: {exc}")
    checks: list[Callable[[], Result]] = [
        lambda: _well_formed(definition, settings),
        lambda: _reachable(definition, space),
        lambda: _no_trap(definition, space),
        lambda: _expiry(definition, space),
        lambda: _main_path(definition, space),
        lambda: _absorbing(definition, space),
        lambda: _deterministic(definition, space),
        lambda: _bounded(definition, settings, space),
        lambda: _deadlines(definition, settings, space),
        lambda: _machine(definition, workflow, space),
    ]
    results = [_guarded(prop, run, space) for prop, run in zip(Property, checks, strict=True)]
    return Report(str(definition.name), tuple(results), len(space.parent), space.transitions,
                  time.perf_counter() - began, str(getattr(definition, "initial", "")))


def load_definition(spec: str) -> Definition[Any, Any]:
    """The `Definition` named by `"package.module:NAME"` (`NAME` defaults to `DEFINITION`).

    The module is looked up from the current folder too, and a definition that fails
    validation is still loaded, so that `check` can explain what is wrong with it.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not all(p.isidentifier() for p in module_name.split(".")):
        raise ValueError(f"expected 'package.module:NAME', got {spec!r}")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except DefinitionError:
        sys.modules.pop(module_name, None)
        with unvalidated():
            module = importlib.import_module(module_name)
    attribute = attribute or "DEFINITION"
    try:
        found = getattr(module, attribute)
    except AttributeError:
        raise ValueError(f"module {module_name!r} has no attribute {attribute!r}") from None
    if isinstance(found, Workflow):
        found = found.definition
    if not isinstance(found, Definition):
        raise TypeError(f"{spec} is a {type(found).__name__}, not a workflow Definition")
    return found


# -- exploration ----------------------------------------------------------------------------


def explore(definition: Definition[Any, Any], settings: Any = None, *,
            reduce: bool = True) -> Space:
    """The space `definition` can reach with the bounds of `settings` (the defaults when None)."""
    settings = settings or Settings(secret_key=_CHECK_KEY)
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


# -- the properties -----------------------------------------------------------------------


def _guarded(prop: Property, run: Callable[[], Result], space: _Space) -> Result:
    if space.broken and prop not in (Property.WELL_FORMED, Property.MACHINE):
        return Result(prop, False, f"the state space could not be explored: {space.broken}")
    try:
        return run()
    except Exception as exc:  # a broken definition must still get a verdict, not a crash
        return Result(prop, False, f"could not be evaluated: {type(exc).__name__}: {exc}")


def _well_formed(d: Definition[Any, Any], settings: Any) -> Result:
    problems = [str(p) for p in definition_problems(d) if p.rule not in _PROVED_ELSEWHERE]
    known = {str(e.event) for e in d.edges} | {str(d.created_by)}
    for i in d.implied:
        first = d.edge(i.state, i.first)
        if first is None or not d.allows(first.dest, i.event):
            problems.append(f"implied {i.first} then {i.event} is not a path from {i.state}")
    for c in d.counters:
        if not isinstance(c, Counter):
            problems.append(f"{c!r} is not a Counter")
        elif not isinstance(getattr(settings, c.bound, None), int):
            problems.append(f"counter {c.name}: Settings has no integer {c.bound!r}")
    for dl in d.deadlines:
        if not isinstance(dl, Deadline):
            problems.append(f"{dl!r} is not a Deadline")
            continue
        if set(dl.states) - set(d.states):
            problems.append(f"deadline {dl.name} covers unknown states")
        if not dl.starts or not set(map(str, dl.starts)) <= known:
            problems.append(f"deadline {dl.name} must start on known events")
    for kind, names in (("counter", [getattr(c, "name", c) for c in d.counters]),
                        ("deadline", [getattr(x, "name", x) for x in d.deadlines])):
        if len(names) != len(set(names)):
            problems.append(f"two {kind}s share a name")
    return _verdict(Property.WELL_FORMED, problems)


def _reachable(d: Definition[Any, Any], space: _Space) -> Result:
    seen = {c.state for c in space.parent}
    missing = [str(s) for s in d.states if s not in seen]
    return _verdict(Property.REACHABLE, [f"never reached: {', '.join(missing)}"] if missing else [])


def _no_trap(d: Definition[Any, Any], space: _Space) -> Result:
    back: dict[_Config, list[_Config]] = {}
    for c, out in space.moves.items():
        for _, nxt in out:
            back.setdefault(nxt, []).append(c)
    good = {c for c in space.parent if c.state in d.terminal}
    todo = list(good)
    while todo:
        for prev in back.get(todo.pop(), ()):
            if prev not in good:
                good.add(prev)
                todo.append(prev)
    trapped = [c for c in space.parent if c not in good and c not in space.overflow]
    if not trapped:
        return Result(Property.NO_TRAP, True)
    where = list(dict.fromkeys(_describe(d, c) for c in trapped))
    return Result(Property.NO_TRAP, False,
                  f"no terminal state can be reached from {', '.join(where)}",
                  space.path(trapped[0]))


def _expiry(d: Definition[Any, Any], space: _Space) -> Result:
    problems, example = [], None
    for s in sorted(d.in_flight, key=d.states.index):
        edge = d.edge(s, d.expire_event)
        if edge is None or edge.dest not in d.terminal:
            problems.append(f"{s} has no expire edge to a terminal state")
        elif not any(s in dl.states for dl in d.deadlines):
            problems.append(f"no deadline covers {s}")
        else:
            continue
        tick = next((c for (_, at), c in space.ticked.items() if at == s), None)
        example = example or (space.path(tick) if tick else _path_to(space, s))
    for c in space.parent:
        if c.state in d.in_flight and not any(
            c.state in dl.states and p != _IDLE for dl, p in zip(d.deadlines, c.phases, strict=True)
        ):
            problems.append(f"{c.state} can be reached with no deadline running")
            example = example or space.path(c)
            break
    return _verdict(Property.EXPIRY, problems, example)


def _main_path(d: Definition[Any, Any], space: _Space) -> Result:
    claim = (f"every path to {d.main_path[-1]} passes {', '.join(map(str, d.main_path[:-1]))} "
             "in this order") if d.main_path else ""
    if not space.shortcut:
        return Result(Property.MAIN_PATH, True, claim=claim)
    first = next(iter(space.shortcut))
    steps = " → ".join(map(str, d.main_path))
    return Result(Property.MAIN_PATH, False,
                  f"{first.state} is reached without passing {steps} in order",
                  space.path(first), claim)


def _absorbing(d: Definition[Any, Any], space: _Space) -> Result:
    bad = [e for e in d.edges if e.source in d.terminal]
    if not bad:
        return Result(Property.ABSORBING, True)
    e = bad[0]
    offenders = sorted({f"{x.source} --{x.event}--> {x.dest}" for x in bad})
    return Result(Property.ABSORBING, False, "terminal state with an outgoing edge: "
                  + ", ".join(offenders), _path_to(space, e.source, _label(e)))


def _deterministic(d: Definition[Any, Any], space: _Space) -> Result:
    targets: dict[tuple[Any, Any, Any], list[Any]] = {}
    for e in d.edges:
        targets.setdefault(e.key, [])
        if e.dest not in targets[e.key]:
            targets[e.key].append(e.dest)
    clashes = {k: v for k, v in targets.items() if len(v) > 1}
    if not clashes:
        return Result(Property.DETERMINISTIC, True)
    (s, ev, out), _ = next(iter(clashes.items()))
    detail = "; ".join(f"{k[0]} --{k[1]} ({k[2]})--> {' or '.join(map(str, v))}"
                       for k, v in clashes.items())
    label = str(ev) if out == Outcome.OK else f"{ev} ({out})"
    return Result(Property.DETERMINISTIC, False, detail, _path_to(space, s, label))


def _bounded(d: Definition[Any, Any], settings: Any, space: _Space) -> Result:
    problems = [f"counter {c.name} has no bound: Settings.{c.bound} is not an integer ≥ 0"
                for c in d.counters if not _count(getattr(settings, c.bound, None))]
    if not space.overflow:
        return _verdict(Property.BOUNDED, problems)
    config, counter = next(iter(space.overflow.items()))
    bound = next(c.bound for c in d.counters if c.name == counter)
    problems.append(f"{counter} passes Settings.{bound} in {config.state}")
    return _verdict(Property.BOUNDED, problems, space.path(config))


def _deadlines(d: Definition[Any, Any], settings: Any, space: _Space) -> Result:
    problems: list[str] = []
    example = None
    reached = {c.state for c in space.parent}
    for dl in d.deadlines:
        length = getattr(settings, dl.validity, None)
        if not isinstance(length, timedelta) or length <= timedelta(0):
            problems.append(f"{dl.name}: Settings has no duration {dl.validity!r}")
        elif (outer := _outlasted_by(d, settings, dl, length)) is not None:
            problems.append(f"{dl.name} ({dl.validity} = {_duration(length)}) never passes "
                            f"before {outer.name} ({outer.validity})")
        for s in sorted(dl.states & reached, key=_order(d)):
            tick = space.ticked.get((dl.name, s))
            if tick is None:
                problems.append(f"{dl.name} never runs in {s}")
            elif d.edge(s, d.expire_event) is None:
                problems.append(f"{dl.name} passes in {s}, which has no expire edge")
                example = example or space.path(tick)
    return _verdict(Property.DEADLINES, problems, example)


def _machine(d: Definition[Any, Any], workflow: Workflow[Any, Any] | None, space: _Space) -> Result:
    try:
        built = workflow or Workflow(d)
    except Exception as exc:
        return Result(Property.MACHINE, False,
                      f"the machine cannot be built: {type(exc).__name__}: {exc}")
    machine = built.machine
    problems: list[str] = []
    example: tuple[str, ...] | None = None
    if getattr(machine, "auto_transitions", False):
        problems.append("auto_transitions is on")
    extra = sorted(set(machine.events) - {str(e) for e in d.events()})
    if extra:
        problems.append(f"triggers outside the definition: {', '.join(extra)}")
        for name in extra:
            for source, ts in machine.events[name].transitions.items():
                if ts and (state := _as_state(d, source)) is not None:
                    example = example or _path_to(space, state, name)
    if set(machine.states) != {str(s) for s in d.states}:
        problems.append("its states differ from the definition's")
    want = {(str(e.source), str(e.event), str(e.outcome), str(e.dest)) for e in d.edges}
    have = built.machine_edges()
    for verb, edges in (("has an extra edge", have - want), ("misses the edge", want - have)):
        for s, ev, out, dest in sorted(edges):
            if ev in extra:
                continue
            problems.append(f"{verb} {s} --{ev} ({out})--> {dest}")
            label = ev if out in ("ok", "*") else f"{ev} ({out})"
            example = example or _path_to(space, _as_state(d, s), label)
    for state, event, outcome, got, expected in _fired(d, built):
        problems.append(f"fire({state}, {event}, {outcome}) gives {got}, the definition {expected}")
        label = str(event) if outcome == Outcome.OK else f"{event} ({outcome})"
        example = example or _path_to(space, state, label)
    return _verdict(Property.MACHINE, problems, example)


def _fired(d: Definition[Any, Any],
           built: Workflow[Any, Any]) -> Iterator[tuple[Any, Any, Any, str, str]]:
    """Every (state, event, outcome) where `built.fire` disagrees with the data."""
    for state in d.states:
        for event in (*d.events(), d.created_by):
            for outcome in Outcome:
                edge = d.edge(state, event, outcome)
                expected = str(edge.dest) if edge else "a refusal"
                try:
                    got = str(built.fire(state, event, outcome))
                except TransitionNotAllowed:
                    got = "a refusal"
                except Exception as exc:
                    got = f"{type(exc).__name__}"
                if got != expected:
                    yield state, event, outcome, got, expected


# -- helpers ------------------------------------------------------------------------------


def _verdict(prop: Property, problems: Sequence[str],
             example: tuple[str, ...] | None = None) -> Result:
    if not problems:
        return Result(prop, True)
    return Result(prop, False, "; ".join(dict.fromkeys(problems)), example)


def _path_to(space: Space, state: object, *more: str) -> tuple[str, ...] | None:
    found = space.first(state) if state is not None else None
    return space.path(found, *more) if found is not None else None


def _describe(d: Definition[Any, Any], c: _Config) -> str:
    passed = [dl.name for dl, p in zip(d.deadlines, c.phases, strict=True) if p == _PASSED]
    return f"{c.state} once {' and '.join(passed)} passed" if passed else str(c.state)


def _label(e: Edge[Any, Any]) -> str:
    return str(e.event) if e.outcome == Outcome.OK else f"{e.event} ({e.outcome})"


def _as_state(d: Definition[Any, Any], name: object) -> Any:
    return next((s for s in d.states if str(s) == str(name)), None)


def _order(d: Definition[Any, Any]) -> Callable[[Any], int]:
    return lambda s: d.states.index(s) if s in d.states else len(d.states)


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


def _duration(length: timedelta) -> str:
    seconds = int(length.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _int_setting(settings: Any, name: str, default: int) -> int:
    value = getattr(settings, name, None)
    return value if _count(value) else max(default, 0)  # type: ignore[return-value]


def _count(value: object) -> bool:
    return type(value) is int and value >= 0


def _outlasted_by(d: Definition[Any, Any], settings: Any, dl: Deadline[Any, Any],
                  length: timedelta) -> Deadline[Any, Any] | None:
    """A deadline started only at creation, over `dl`'s states, that always passes first."""
    for i, other in enumerate(d.deadlines):
        if other is dl or not other.starts or not set(other.starts) <= {d.created_by}:
            continue
        limit = getattr(settings, other.validity, None)
        if not dl.states <= other.states or not isinstance(limit, timedelta):
            continue
        later = d.deadlines.index(dl) > i
        restarted = bool(set(dl.starts) - {d.created_by})
        if length > limit or (length == limit and (restarted or later)):
            return other
    return None


def main(argv: Iterable[str] | None = None) -> int:
    """`python -m workflow.checker [package.module:NAME]`: print the report, exit 0 or 1."""
    args = list(sys.argv[1:] if argv is None else argv)
    definition = load_definition(args[0]) if args else load_definition("workflow.definition")
    report = check(definition)
    print(report.render())
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
