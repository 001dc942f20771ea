"""How each property is judged on an explored space: one function per property, registered by name."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from workflow.checker.properties import Property
from workflow.checker.report import Result
from workflow.checker.space import _IDLE, _PASSED, Space, _Config
from workflow.engine import (
    Counter,
    Deadline,
    Definition,
    Edge,
    Outcome,
    Workflow,
    counter_bound,
    deadline_validity,
    definition_problems,
)
from workflow.errors import DefinitionError, TransitionNotAllowed

# -- the properties -----------------------------------------------------------------------


# Rules of `definition_problems` that a property of their own proves (with a counter-example).
_PROVED_ELSEWHERE = frozenset({
    "two targets for one (state, event, outcome)",
    "terminal states with an outgoing edge",
    "states with no way out",
    "unreachable states",
})


@dataclass(frozen=True, slots=True)
class Context:
    """What every judge may read: the definition, the settings, the explored space, the built machine."""

    d: Definition[Any, Any]
    settings: Any
    space: Space
    workflow: Workflow[Any, Any] | None


Judge = Callable[[Context], Result]
PROOFS: dict[Property, Judge] = {}


def proves(prop: Property) -> Callable[[Judge], Judge]:
    """Register the decorated function as the judge of `prop`."""
    def register(judge: Judge) -> Judge:
        PROOFS[prop] = judge
        return judge
    return register


def guarded(prop: Property, judge: Judge, context: Context) -> Result:
    """`judge(context)`, or a failed verdict saying why it could not be judged."""
    space = context.space
    if space.broken and prop not in (Property.WELL_FORMED, Property.MACHINE):
        return Result(prop, False, f"the state space could not be explored: {space.broken}")
    try:
        return judge(context)
    except Exception as exc:  # a broken definition must still get a verdict, not a crash
        return Result(prop, False, f"could not be evaluated: {type(exc).__name__}: {exc}")


@proves(Property.WELL_FORMED)
def _well_formed(ctx: Context) -> Result:
    d, settings = ctx.d, ctx.settings
    problems = [str(p) for p in definition_problems(d) if p.rule not in _PROVED_ELSEWHERE]
    known = {str(e.event) for e in d.edges} | {str(d.created_by)}
    for i in d.implied:
        first = d.edge(i.state, i.first)
        if first is None or not d.allows(first.dest, i.event):
            problems.append(f"implied {i.first} then {i.event} is not a path from {i.state}")
    for c in d.counters:
        if not isinstance(c, Counter):
            problems.append(f"{c!r} is not a Counter")
        else:
            problems.extend(_unset(counter_bound, c, settings))
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


@proves(Property.REACHABLE)
def _reachable(ctx: Context) -> Result:
    d, space = ctx.d, ctx.space
    seen = {c.state for c in space.parent}
    missing = [str(s) for s in d.states if s not in seen]
    return _verdict(Property.REACHABLE, [f"never reached: {', '.join(missing)}"] if missing else [])


@proves(Property.NO_TRAP)
def _no_trap(ctx: Context) -> Result:
    d, space = ctx.d, ctx.space
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


@proves(Property.EXPIRY)
def _expiry(ctx: Context) -> Result:
    d, space = ctx.d, ctx.space
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


@proves(Property.MAIN_PATH)
def _main_path(ctx: Context) -> Result:
    d, space = ctx.d, ctx.space
    claim = (f"every path to {d.main_path[-1]} passes {', '.join(map(str, d.main_path[:-1]))} "
             "in this order") if d.main_path else ""
    if not space.shortcut:
        return Result(Property.MAIN_PATH, True, claim=claim)
    first = next(iter(space.shortcut))
    steps = " → ".join(map(str, d.main_path[:-1]))
    return Result(Property.MAIN_PATH, False,
                  f"{first.state} is reached without passing {steps} in this order",
                  space.path(first), claim)


@proves(Property.ABSORBING)
def _absorbing(ctx: Context) -> Result:
    d, space = ctx.d, ctx.space
    bad = [e for e in d.edges if e.source in d.terminal]
    if not bad:
        return Result(Property.ABSORBING, True)
    e = bad[0]
    offenders = sorted({f"{x.source} --{x.event}--> {x.dest}" for x in bad})
    return Result(Property.ABSORBING, False, "terminal state with an outgoing edge: "
                  + ", ".join(offenders), _path_to(space, e.source, _label(e)))


@proves(Property.DETERMINISTIC)
def _deterministic(ctx: Context) -> Result:
    d, space = ctx.d, ctx.space
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


@proves(Property.BOUNDED)
def _bounded(ctx: Context) -> Result:
    d, settings, space = ctx.d, ctx.settings, ctx.space
    problems = [p for c in d.counters for p in _unset(counter_bound, c, settings)]
    if not space.overflow:
        return _verdict(Property.BOUNDED, problems)
    config, counter = next(iter(space.overflow.items()))
    bound = next(c.bound for c in d.counters if c.name == counter)
    problems.append(f"{counter} passes Settings.{bound} in {config.state}")
    return _verdict(Property.BOUNDED, problems, space.path(config))


@proves(Property.DEADLINES)
def _deadlines(ctx: Context) -> Result:
    d, settings, space = ctx.d, ctx.settings, ctx.space
    problems: list[str] = []
    example = None
    reached = {c.state for c in space.parent}
    for dl in d.deadlines:
        length = _length(dl, settings)
        if length is None:
            problems.extend(_unset(deadline_validity, dl, settings))
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


@proves(Property.MACHINE)
def _machine(ctx: Context) -> Result:
    d, workflow, space = ctx.d, ctx.workflow, ctx.space
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


def _duration(length: timedelta) -> str:
    seconds = int(length.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _unset(rule: Callable[[Any, Any], object], part: Any, settings: Any) -> list[str]:
    """Why `part` has no bound or length under `settings` (the interpreter's rule), else nothing."""
    try:
        rule(part, settings)
    except DefinitionError as exc:
        return [str(exc)]
    return []


def _length(dl: Deadline[Any, Any], settings: Any) -> timedelta | None:
    """How long `dl` runs under `settings`, as the interpreter reads it (None: it cannot run)."""
    try:
        return deadline_validity(dl, settings)
    except DefinitionError:
        return None


def _outlasted_by(d: Definition[Any, Any], settings: Any, dl: Deadline[Any, Any],
                  length: timedelta) -> Deadline[Any, Any] | None:
    """A deadline started only at creation, over `dl`'s states, that always passes first."""
    for i, other in enumerate(d.deadlines):
        if other is dl or not other.starts or not set(other.starts) <= {d.created_by}:
            continue
        limit = _length(other, settings)
        if not dl.states <= other.states or limit is None:
            continue
        later = d.deadlines.index(dl) > i
        restarted = bool(set(dl.starts) - {d.created_by})
        if length > limit or (length == limit and (restarted or later)):
            return other
    return None

