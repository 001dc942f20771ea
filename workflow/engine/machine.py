"""The one `transitions` machine built from a definition, shared by every instance.

This is the only module that imports `transitions`; `MachineError` never leaves it.
"""

from __future__ import annotations

from typing import Any, Generic

from transitions import Machine, MachineError

from workflow.engine.model import Definition, E, Outcome, S
from workflow.errors import TransitionNotAllowed


class _OutcomeIs:
    """A `transitions` condition true when the trigger's `outcome` keyword equals ours."""

    __slots__ = ("outcome",)

    def __init__(self, outcome: str) -> None:
        self.outcome = outcome

    def __call__(self, outcome: str = Outcome.OK, **_: object) -> bool:
        return outcome == self.outcome


class _Cursor:
    """The plain object a shared machine moves; never added to the machine."""

    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


class Workflow(Generic[S, E]):
    """A definition compiled once into one shared `transitions` machine.

    `fire` moves a state along an edge; the machine never holds a model of its own, and is not
    changed once built (`fire` keeps its answers).
    """

    def __init__(self, definition: Definition[S, E], *, auto_transitions: bool = False) -> None:
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
        self._triggers: dict[str, Any] = {name: ev.trigger for name, ev in self.machine.events.items()}
        self._fired: dict[tuple[str, str, str], S | None] = {}
        # answers are kept for the definition's own names only, so that made-up ones cannot grow it
        self._names = ({str(st) for st in definition.states}, set(self._triggers),
                       {str(o) for o in Outcome} | {str(e.outcome) for e in definition.edges})

    def fire(self, state: str, event: str, outcome: str = Outcome.OK) -> S:
        """The state after `event` with `outcome` in `state`; refusals raise `TransitionNotAllowed`.

        The machine's answer depends on these three alone (its only conditions are outcomes):
        each is asked of it once and kept, refusals too (for the definition's own names).
        """
        key = (str(state), str(event), str(outcome))
        try:
            dest = self._fired[key]
        except KeyError:
            dest = self._ask(*key)
            states, events, outcomes = self._names
            if key[0] in states and key[1] in events and key[2] in outcomes:
                self._fired[key] = dest
        if dest is None:
            raise TransitionNotAllowed(key[0], key[1])
        return dest

    def _ask(self, state: str, event: str, outcome: str) -> S | None:
        """The machine's destination for `event` with `outcome` in `state`; None if refused
        (a state the definition does not name included)."""
        if state not in self._names[0]:
            return None
        cursor = _Cursor(state)
        trigger = self._triggers.get(event)
        try:
            moved = trigger is not None and trigger(cursor, outcome=outcome)
        except MachineError:
            moved = False
        return self.definition.state(cursor.state) if moved else None

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
