"""The generic interpreter: applies everything a definition declares to one instance.

Given an instance (any object with `state`, `closed_reason`, and one attribute per counter
and per deadline slot), an event and the guard's outcome, it takes the edge, counts, decides
`wrong` from `exhausted` against the bound, (re)starts and clears deadlines, records implied
events first and closes the instance on a terminal state. It never runs a side effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol

from workflow.engine.machine import Workflow
from workflow.engine.model import Counter, Definition, E, Edge, Outcome, S, counter_bound, deadline_validity
from workflow.errors import DefinitionError, TransitionNotAllowed


class Instance(Protocol):
    """What the interpreter reads and writes; counters and deadline slots are attributes too."""

    state: Any
    closed_reason: str


@dataclass(frozen=True, slots=True)
class Move(Generic[S]):
    """One edge the interpreter took."""

    event: str
    outcome: str
    source: S | None
    dest: S
    reason: str


class AtBound(Exception):
    """A counted action asked for while its counter is at its bound (the caller says why)."""

    def __init__(self, counter: Counter, bound: int) -> None:
        super().__init__(counter.name)
        self.counter = counter
        self.bound = bound


@dataclass(frozen=True, slots=True)
class _Plan:
    """What taking one edge does to counters and deadline slots, worked out once."""

    edge: Edge[Any, Any]
    counter: str | None
    bound: int
    resets: str | None
    slots: tuple[tuple[str, timedelta | None, bool], ...]  # (slot, restart validity, keep)
    terminal: bool


class Interpreter(Generic[S, E]):
    """Runs a definition with the bounds and validities of `settings` (read once)."""

    def __init__(self, workflow: Workflow[S, E], settings: object) -> None:
        d = workflow.definition
        self.workflow = workflow
        self.definition: Definition[S, E] = d
        try:
            self.bounds = {c.name: counter_bound(c, settings) for c in d.counters}
            self.validity: dict[str, timedelta] = {dl.name: deadline_validity(dl, settings)
                                                   for dl in d.deadlines}
        except DefinitionError as exc:
            raise DefinitionError(f"definition {d.name!r} cannot run with these settings: {exc}",
                                  exc.offenders) from exc
        self._slots = tuple(dict.fromkeys(dl.attribute for dl in d.deadlines))
        self._plans: dict[tuple[str, str, str], _Plan] = {e.key: self._plan(e) for e in d.edges}
        self._exhausts = {(e.source, e.event) for e in d.edges if e.outcome == Outcome.EXHAUSTED}
        self._attempts = self._attempt_counters()

    def _plan(self, e: Edge[S, E]) -> _Plan:
        d = self.definition
        slots: list[tuple[str, timedelta | None, bool]] = []
        for slot in self._slots:
            covering = [dl for dl in d.deadlines if dl.attribute == slot and e.dest in dl.states]
            if not covering:
                slots.append((slot, None, False))
                continue
            dl = covering[0]
            if e.event in dl.starts:
                slots.append((slot, self.validity[dl.name], False))
            else:
                slots.append((slot, None, e.source in dl.states))
        bound = self.bounds.get(e.counter or "", 0)
        return _Plan(e, e.counter, bound, e.resets, tuple(slots), e.dest in d.terminal)

    def _attempt_counters(self) -> dict[str, str]:
        """Per state, the counter of the wrong answers given there (or that lead back to it)."""
        found: dict[str, str] = {}
        for e in self.definition.edges:
            if e.outcome == Outcome.WRONG and e.counter:
                found.setdefault(str(e.source), e.counter)
        for e in self.definition.edges:
            if e.outcome == Outcome.WRONG and e.counter:
                found.setdefault(str(e.dest), e.counter)
        return found

    # -- creating and reading an instance ------------------------------------------------------

    def create(self, instance: Instance, now: datetime) -> Move[S]:
        """Start `instance` in the initial state, with the deadlines its creation starts."""
        d = self.definition
        instance.state = d.initial
        for dl in d.deadlines:
            if d.initial in dl.states and d.created_by in dl.starts:
                setattr(instance, dl.attribute, now + self.validity[dl.name])
        return Move(d.created_by, Outcome.OK, None, d.initial, "")

    def due_at(self, instance: Instance) -> datetime | None:
        """When the instance's running deadlines end first (None when none runs)."""
        return self.definition.due_at(instance)

    def is_due(self, instance: Instance, now: datetime) -> bool:
        """Whether a deadline has passed (deadlines are exclusive: `now >= deadline`)."""
        due = self.due_at(instance)
        return due is not None and now >= due

    def attempts_left(self, instance: Instance, state: str) -> int | None:
        """Wrong answers still allowed in `state` before its counter locks (None: none counted)."""
        counter = self._attempts.get(str(state))
        if counter is None:
            return None
        value: int = getattr(instance, counter)
        return self.bounds[counter] - value

    # -- taking edges --------------------------------------------------------------------------

    def admit(self, instance: Instance, event: str) -> None:
        """Refuse a counted action whose counter is at its bound (`AtBound`)."""
        plan = self._plans.get((instance.state, event, Outcome.OK))
        if plan is not None and plan.counter is not None and getattr(instance, plan.counter) >= plan.bound:
            raise AtBound(self.definition.counter(plan.counter), plan.bound)

    def apply(self, instance: Instance, event: str, now: datetime, outcome: str = Outcome.OK,
              reason: str = "", closing: str | None = None) -> list[Move[S]]:
        """Take `event` with the guard's `outcome`, implied events first; returns the moves.

        A `wrong` answer that brings its counter to the bound takes the `exhausted` edge.
        On a terminal state `closed_reason` becomes `closing` (default: the reason).
        """
        moves = []
        implied = self.definition.implied_before(instance.state, event)
        if implied is not None:
            moves.append(self._take(instance, implied.first, Outcome.OK, now, implied.reason, None))
        if outcome == Outcome.WRONG and (instance.state, event) in self._exhausts:
            plan = self._plans.get((instance.state, event, Outcome.WRONG))
            if plan is not None and plan.counter and getattr(instance, plan.counter) + 1 >= plan.bound:
                outcome = Outcome.EXHAUSTED
        moves.append(self._take(instance, event, outcome, now, reason, closing))
        return moves

    def _take(self, instance: Instance, event: str, outcome: str, now: datetime, reason: str,
              closing: str | None) -> Move[S]:
        source = instance.state
        plan = self._plans.get((source, event, outcome))
        if plan is None:
            raise TransitionNotAllowed(str(source), str(event))
        dest = self.workflow.fire(source, event, outcome)
        instance.state = dest
        if plan.counter is not None:
            setattr(instance, plan.counter, getattr(instance, plan.counter) + 1)
        if plan.resets is not None:
            setattr(instance, plan.resets, 0)
        for slot, validity, keep in plan.slots:
            if validity is not None:
                setattr(instance, slot, now + validity)
            elif not keep:
                setattr(instance, slot, None)
        if plan.terminal:
            if closing is not None:
                instance.closed_reason = closing
            elif outcome == Outcome.EXHAUSTED:
                instance.closed_reason = f"too many attempts ({plan.counter})"
            else:
                instance.closed_reason = reason
        return Move(event, outcome, source, dest, reason)
