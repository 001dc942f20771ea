"""Conformance: every transition of the checker's explored model, replayed through a real service.

`replay_model` walks each configuration the checker reaches, each event and guard outcome from
it (refusals included) and each deadline at T−1 s, T and T+1 s, through a `Driver` that runs a
real service, and compares where the service lands with where the model says it must.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from workflow.checker import IDLE, Config, Space, Step, explore
from workflow.engine import Definition, Outcome, deadline_validity
from workflow.errors import TransitionNotAllowed, WorkflowError
from workflow.testing.clock import FakeClock

SECOND = timedelta(seconds=1)
M = TypeVar("M")


@dataclass(frozen=True, slots=True)
class Observed:
    """What a driver reads back from its service: the stored state, counters and deadline slots."""

    state: str
    counters: dict[str, int]
    slots: dict[str, datetime | None]


class Driver(Protocol):
    """Runs one instance of a definition on a real service; a fresh world per driver.

    `act` gives a right (`ok`) or a well-formed wrong (`wrong`) answer to `event` and returns
    the error the service raised, if any; events in `system` are fired by the service itself
    (a dispatcher, a sweeper), so their refusals are silent.
    """

    settings: Any
    system: frozenset[str]
    wrong_answers: frozenset[str]

    def start(self) -> None: ...

    def act(self, event: str, outcome: str) -> WorkflowError | None: ...

    def now(self) -> datetime: ...

    def advance_to(self, when: datetime) -> None: ...

    def observe(self) -> Observed: ...


class ClockedDriver:
    """The part of a `Driver` its service's `FakeClock` and its table of actions do."""

    clock: FakeClock

    def now(self) -> datetime:
        return self.clock.now()

    def advance_to(self, when: datetime) -> None:
        self.clock.advance(when - self.clock.now())

    @staticmethod
    def answer(actions: dict[str, Callable[[bool], object]], event: str,
               outcome: str) -> WorkflowError | None:
        """Run `event`'s action, told whether to answer right (`ok`); the error raised, if any."""
        try:
            actions[event](outcome == Outcome.OK)
        except WorkflowError as error:
            return error
        return None


class Recorder(Generic[M]):
    """A mailer, SMS or push gateway that keeps what it accepts."""

    def __init__(self) -> None:
        self.sent: list[M] = []

    def send(self, message: M) -> None:
        self.sent.append(message)


@dataclass(frozen=True, slots=True)
class Mismatch:
    """Where the service and the model part: the path taken, the check, and both sides."""

    path: tuple[str, ...]
    check: str
    expected: str
    observed: str

    def __str__(self) -> str:
        return (f"after {' → '.join(self.path)}: {self.check}\n"
                f"    model:   {self.expected}\n    service: {self.observed}")


@dataclass(slots=True)
class Conformance:
    """The replay's tally: model transitions replayed, refusals and deadline boundaries checked."""

    definition: str
    transitions: int
    replayed: int = 0
    refusals: int = 0
    boundaries: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every transition was replayed and the service agreed on each check."""
        return not self.mismatches and self.replayed == self.transitions

    def summary(self) -> str:
        """One line: how much of the model was replayed and how it went."""
        verdict = "conforms" if self.ok else f"{len(self.mismatches)} mismatches"
        return (f"{self.definition}: {self.replayed} of {self.transitions} model transitions "
                f"replayed, {self.refusals} refusals and {self.boundaries} deadline boundaries "
                f"checked: {verdict}")

    def explain(self, limit: int = 10) -> str:
        """The summary, then the first `limit` mismatches."""
        lines = [self.summary(), *(str(m) for m in self.mismatches[:limit])]
        if len(self.mismatches) > limit:
            lines.append(f"... and {len(self.mismatches) - limit} more")
        return "\n".join(lines)


def replay_model(definition: Definition[Any, Any], make_driver: Callable[[], Driver]) -> Conformance:
    """Replay every move of `definition`'s explored model through fresh drivers; the tally."""
    probe = make_driver()
    space = explore(definition, probe.settings)
    walk = _Walker(definition, space, probe, make_driver)
    tally = Conformance(str(definition.name), space.transitions)
    for config in space.parent:
        for step, target in space.moves.get(config, ()):
            tally.mismatches += walk.move(config, step, target)
            tally.replayed += 1
        for found in walk.refusals(config):
            tally.refusals += 1
            tally.mismatches += found
        for found in walk.boundaries(config):
            tally.boundaries += 1
            tally.mismatches += found
    return tally


def assert_conforms(definition: Definition[Any, Any], make_driver: Callable[[], Driver]) -> Conformance:
    """`replay_model`, raising `AssertionError` with the mismatches unless the service conforms."""
    tally = replay_model(definition, make_driver)
    if not tally.ok:
        raise AssertionError(tally.explain())
    return tally


class _Run:
    """One driver walked along model steps, keeping each deadline's start time as the model sees it."""

    def __init__(self, walker: _Walker) -> None:
        self.w = walker
        self.driver = walker.make_driver()
        self.driver.start()
        d = walker.d
        self.state: Any = d.initial
        self.labels: list[str] = [str(d.created_by)]
        self.started: dict[str, datetime | None] = {
            dl.name: self.driver.now() if d.initial in dl.states and d.created_by in dl.starts else None
            for dl in d.deadlines
        }

    def take(self, step: Step) -> WorkflowError | None:
        """Drive `step` (an event, or the clock to the deadline's end) and follow it in the model."""
        self.labels += [*step.implied, str(step)]
        if step.is_clock:
            self.driver.advance_to(self.w.end(self, step.deadline))
            return None
        error = self.driver.act(step.event, step.outcome)
        for event in (*step.implied, step.event):
            outcome = Outcome.OK if event != step.event else step.outcome
            self._moved(event, outcome)
        return error

    def walk(self, steps: tuple[Step, ...]) -> None:
        for step in steps:
            self.take(step)

    def _moved(self, event: str, outcome: str) -> None:
        d = self.w.d
        edge = d.edge(self.state, event, outcome)
        if edge is None and outcome == Outcome.WRONG:
            edge = d.edge(self.state, event, Outcome.EXHAUSTED)
        if edge is None:
            return
        for dl in d.deadlines:
            if edge.dest not in dl.states:
                self.started[dl.name] = None
            elif event in dl.starts:
                self.started[dl.name] = self.driver.now()
            elif edge.source not in dl.states:
                self.started[dl.name] = None
        self.state = edge.dest


class _Walker:
    """The checks of one definition against fresh drivers."""

    def __init__(self, d: Definition[Any, Any], space: Space, probe: Driver,
                 make_driver: Callable[[], Driver]) -> None:
        self.d = d
        self.space = space
        self.probe = probe
        self.make_driver = make_driver
        self.validity: dict[str, timedelta] = {dl.name: deadline_validity(dl, probe.settings)
                                               for dl in d.deadlines}
        self.slots = tuple(dict.fromkeys(dl.attribute for dl in d.deadlines))
        self.events = [str(e) for e in d.events()]
        self.counted = {str(e.event) for e in d.edges if e.outcome != Outcome.OK}

    def end(self, run: _Run, deadline: str) -> datetime:
        start = run.started[deadline]
        assert start is not None, f"the model lets {deadline} pass while it is not running"
        return start + self.validity[deadline]

    def reach(self, config: Config) -> _Run:
        run = _Run(self)
        run.walk(self.space.steps_to(config))
        return run

    def move(self, config: Config, step: Step, target: Config) -> list[Mismatch]:
        """Take one model move from `config` on a fresh run; mismatches with `target`."""
        run = self.reach(config)
        error = run.take(step)
        found = self.compare(run, target, f"{step} lands in {target.state}")
        expects_error = step.outcome != Outcome.OK and step.event not in run.driver.system
        if expects_error and error is None:
            found.append(self._mismatch(run, f"{step} is refused", "an error", "no error"))
        if step.outcome == Outcome.OK and error is not None and not step.is_clock:
            found.append(self._mismatch(run, f"{step} succeeds", "no error", _kind(error)))
        return found

    def refusals(self, config: Config) -> Iterator[list[Mismatch]]:
        """Every event and answer the model does not offer from `config`: refused, nothing changes.

        In a configuration whose deadline has passed, every event of the app records the expiry
        instead; the service's own events (a delivery, a failure) leave it for the sweeper.
        """
        moves = self.space.moves.get(config, ())
        offered = {(s.event, Outcome.WRONG if s.outcome == Outcome.EXHAUSTED else s.outcome)
                   for s, _ in moves if not s.is_clock}
        expired = next((t for s, t in moves if s.event == self.d.expire_event), None)
        run: _Run | None = None
        for event in self.events:
            for outcome in self._answers(event):
                if (event, outcome) in offered:
                    continue
                if config.due and expired is not None and event not in self.probe.system:
                    yield self._refused(self.reach(config), event, outcome, expired, "expired")
                    continue
                kind = self._kind(config, event)
                run = run or self.reach(config)
                found = self._refused(run, event, outcome, config, kind)
                if found:  # judge it again alone, away from earlier refusals on the same run
                    run = None
                    found = self._refused(self.reach(config), event, outcome, config, kind)
                yield found

    def boundaries(self, config: Config) -> Iterator[list[Mismatch]]:
        """Each running deadline of `config`: not over at T−1 s; over at T+1 s (T is a model move)."""
        if config.due:
            return
        for n, dl in enumerate(self.d.deadlines):
            if config.phases[n] == IDLE or config.state not in dl.states:
                continue
            expire = next((t for s, t in self.space.moves.get(config, ()) if s.deadline == dl.name), None)
            run = self.reach(config)
            run.driver.advance_to(self.end(run, dl.name) - SECOND)
            run.labels.append(f"clock to {dl.name} − 1 s")
            yield self.compare(run, config, f"{dl.name} is not over 1 s before its end")
            if expire is None:
                continue
            run = self.reach(config)
            run.driver.advance_to(self.end(run, dl.name) + SECOND)
            run.labels.append(f"clock to {dl.name} + 1 s")
            event = self.d.expire_event
            error = run.driver.act(event, Outcome.OK)
            run.labels.append(str(event))
            landing = next(t for s, t in self.space.moves[expire] if s.event == event)
            found = self.compare(run, landing, f"{dl.name} is over 1 s after its end")
            if error is not None and event not in run.driver.system:
                found.append(self._mismatch(run, "expire succeeds", "no error", _kind(error)))
            yield found

    def _answers(self, event: str) -> tuple[str, ...]:
        wrong = event in self.probe.wrong_answers or event in self.counted
        return (Outcome.OK, Outcome.WRONG) if wrong else (Outcome.OK,)

    def _kind(self, config: Config, event: str) -> str:
        if not self.d.allows(config.state, event):
            return "not allowed"
        edge = self.d.edge(config.state, event, Outcome.OK)
        if edge is not None and edge.counter is not None:
            return "at its bound"
        return "refused by its guard"

    def _refused(self, run: _Run, event: str, outcome: str, target: Config, kind: str) -> list[Mismatch]:
        run.labels.append(f"{event} ({outcome})")
        error = run.driver.act(event, outcome)
        found = self.compare(run, target, f"{event} ({outcome}) is refused ({kind})")
        if event in run.driver.system:
            return found
        allowed = isinstance(error, TransitionNotAllowed)
        if error is None or (kind in ("not allowed", "expired")) != allowed:
            found.append(self._mismatch(run, f"{event} ({outcome}) is refused", kind, _kind(error)))
        if not found:
            run.labels.pop()
        return found

    def compare(self, run: _Run, target: Config, check: str) -> list[Mismatch]:
        """Mismatches between the service's instance and the model's `target` configuration."""
        seen = run.driver.observe()
        expected, observed = self._expected(run, target), self._view(seen, target)
        if expected == observed:
            return []
        return [self._mismatch(run, check, _show(expected), _show(observed))]

    def _expected(self, run: _Run, target: Config) -> dict[str, object]:
        view: dict[str, object] = {"state": str(target.state)}
        live = self.space.live.get(target.state, ())
        for c, value, alive in zip(self.d.counters, target.counts, live, strict=False):
            if alive:
                view[c.name] = value
        for slot in self.slots:
            view[slot] = None
        for n, dl in enumerate(self.d.deadlines):
            start = run.started.get(dl.name)
            if target.state in dl.states and target.phases[n] != IDLE and start is not None:
                view[dl.attribute] = start + self.validity[dl.name]
        return view

    def _view(self, seen: Observed, target: Config) -> dict[str, object]:
        view: dict[str, object] = {"state": str(seen.state)}
        live = self.space.live.get(target.state, ())
        for c, alive in zip(self.d.counters, live, strict=False):
            if alive:
                view[c.name] = seen.counters.get(c.name)
        for slot in self.slots:
            view[slot] = seen.slots.get(slot)
        return view

    def _mismatch(self, run: _Run, check: str, expected: str, observed: str) -> Mismatch:
        return Mismatch(tuple(run.labels), check, expected, observed)


def _kind(error: WorkflowError | None) -> str:
    return "no error" if error is None else f"{type(error).__name__}: {error}"


def _show(view: dict[str, object]) -> str:
    return ", ".join(f"{k}={v:%H:%M:%S}" if isinstance(v, datetime) else f"{k}={v}"
                     for k, v in view.items())
