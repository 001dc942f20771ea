"""A workflow's own code: its guards and effects, bound to the definition's events by name.

Building `Bindings` checks them against the definition: an event that labels edges with no
binding, or a binding for no edge, is a `DefinitionError` naming it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from workflow.engine.model import Counter, Definition, Outcome
from workflow.errors import DefinitionError, VerificationFailed, WorkflowError

W = TypeVar("W")


@dataclass(frozen=True, slots=True)
class Wrong:
    """A guard's verdict that the answer was wrong: it is counted, and refused with `error`."""

    message: str
    error: type[VerificationFailed] = VerificationFailed


@dataclass(frozen=True, slots=True)
class Binding(Generic[W]):
    """The code of one event: `parse` its input, `guard` it, then `effect` on an `ok` edge.

    `guard` returns None for `ok` or a `Wrong`, and raises a `WorkflowError` to refuse;
    `on_wrong` runs when the answer was wrong; `at_bound` makes the refusal of a counted
    action whose counter is at its bound; `reason` turns the input into the audit reason,
    `closing` is the reason a flow closed by this event keeps. `system=True` marks an event
    only the engine fires.
    """

    event: str
    parse: Callable[[Any], Any] | None = None
    guard: Callable[[W, Any], Wrong | None] | None = None
    effect: Callable[[W, Any], None] | None = None
    on_wrong: Callable[[W, Any], None] | None = None
    at_bound: Callable[[W, Counter], WorkflowError] | None = None
    reason: Callable[[Any], str] | None = None
    closing: str | None = None
    system: bool = False


class Bindings(Generic[W]):
    """The bindings of one definition, checked to cover exactly its events."""

    def __init__(self, definition: Definition[Any, Any], bindings: Iterable[Binding[W]]) -> None:
        self.definition = definition
        self._by_event: dict[str, Binding[W]] = {}
        for b in bindings:
            if b.event in self._by_event:
                raise DefinitionError(f"two bindings for event {b.event!r}", (str(b.event),))
            self._by_event[str(b.event)] = b
        problems = list(self._problems())
        if problems:
            raise DefinitionError(
                f"the code of {definition.name!r} does not fit its definition: " + "; ".join(
                    f"{rule}: {', '.join(names)}" for rule, names in problems),
                tuple(n for _, names in problems for n in names))

    def __getitem__(self, event: str) -> Binding[W]:
        return self._by_event[event]

    def _problems(self) -> Iterator[tuple[str, list[str]]]:
        d = self.definition
        events = {str(e.event) for e in d.edges} | {str(i.first) for i in d.implied}
        bound = set(self._by_event)
        if missing := sorted(events - bound):
            yield "edges with no guard implementation", missing
        if extra := sorted(bound - events):
            yield "implementations for no edge", extra
        wrong = {str(e.event) for e in d.edges if e.outcome != Outcome.OK}
        counted = {str(e.event) for e in d.edges if e.outcome == Outcome.OK and e.counter}
        for name, b in sorted(self._by_event.items()):
            if name not in events:
                continue
            if name in wrong and (b.guard is None or b.system):
                yield "wrong answers with no guard to give them", [name]
            if b.on_wrong is not None and name not in wrong:
                yield "wrong-answer code for an event with no wrong edge", [name]
            if name in counted and b.at_bound is None:
                yield "counted actions with no refusal at their bound", [name]
            if b.at_bound is not None and name not in counted:
                yield "a refusal at a bound for an event with no counted edge", [name]
