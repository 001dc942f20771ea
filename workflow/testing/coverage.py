"""Definition coverage: which states, edges (guard outcomes included) and deadline boundaries a run hit.

The property suite records into `COVERAGE`; `missing()` names what the definition has and the run never hit.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from workflow.definition import DEFINITION, Definition, Event, Outcome, State

BOUNDARY_OFFSETS: tuple[int, ...] = (-1, 0, 1)
"""Seconds around each deadline T that a run must probe: T-1 s (still open), T and T+1 s (over)."""

EdgeKey = tuple[State, Event, Outcome]


@dataclass(frozen=True, slots=True)
class Missing:
    """What a run never hit; false when nothing is missing."""

    states: tuple[State, ...] = ()
    edges: tuple[EdgeKey, ...] = ()
    boundaries: tuple[tuple[str, int], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.states or self.edges or self.boundaries)

    def lines(self) -> list[str]:
        """One readable line per missing item."""
        return [
            *(f"state {s}" for s in self.states),
            *(f"edge {s} --{e}/{o}-->" for s, e, o in self.edges),
            *(f"boundary {name} {_offset(off)}" for name, off in self.boundaries),
        ]

    def __str__(self) -> str:
        return "; ".join(self.lines()) or "nothing missing"


class Coverage:
    """A thread-safe tally of what a run exercised, judged against `definition`."""

    def __init__(self, definition: Definition[Any, Any] = DEFINITION) -> None:
        self.definition = definition
        self._lock = threading.Lock()
        self.states: Counter[State] = Counter()
        self.edges: Counter[EdgeKey] = Counter()
        self.boundaries: Counter[tuple[str, int | float]] = Counter()

    def hit_state(self, state: State | str) -> None:
        """Record that an activation was seen in `state`."""
        with self._lock:
            self.states[State(state)] += 1

    def hit_edge(self, source: State | str, event: Event | str,
                 outcome: Outcome | str = Outcome.OK) -> None:
        """Record that `event` with guard `outcome` was taken from `source`."""
        with self._lock:
            self.edges[(State(source), Event(event), Outcome(outcome))] += 1

    def hit_boundary(self, deadline_name: str, offset: int | float | timedelta) -> None:
        """Record an event tried at `offset` (seconds or a timedelta) from the deadline `deadline_name`."""
        seconds = offset.total_seconds() if isinstance(offset, timedelta) else float(offset)
        key: int | float = int(seconds) if seconds.is_integer() else seconds
        with self._lock:
            self.boundaries[(str(deadline_name), key)] += 1

    def required_boundaries(self) -> tuple[tuple[str, int], ...]:
        """Each deadline of the definition at each offset of `BOUNDARY_OFFSETS`."""
        return tuple((d.name, off) for d in self.definition.deadlines for off in BOUNDARY_OFFSETS)

    def missing(self) -> Missing:
        """The definition's states, edges and boundaries never hit."""
        with self._lock:
            return Missing(
                tuple(s for s in self.definition.states if not self.states[s]),
                tuple(e.key for e in self.definition.edges if not self.edges[e.key]),
                tuple(b for b in self.required_boundaries() if not self.boundaries[b]),
            )

    def unexpected(self) -> list[EdgeKey]:
        """Edges recorded that the definition does not have (a bug in the engine or the harness)."""
        known = {e.key for e in self.definition.edges}
        with self._lock:
            return sorted(k for k in self.edges if k not in known)

    def empty(self) -> bool:
        """Whether nothing was recorded yet."""
        with self._lock:
            return not (self.states or self.edges or self.boundaries)

    def reset(self) -> None:
        """Forget everything recorded."""
        with self._lock:
            self.states.clear()
            self.edges.clear()
            self.boundaries.clear()

    def merge(self, other: Coverage) -> None:
        """Add what `other` recorded to this tally."""
        with other._lock:
            states, edges, bounds = Counter(other.states), Counter(other.edges), Counter(other.boundaries)
        with self._lock:
            self.states.update(states)
            self.edges.update(edges)
            self.boundaries.update(bounds)

    def report(self) -> str:
        """A plain-text summary: hit/total per kind, then each item missing or unexpected."""
        d, gaps = self.definition, self.missing()
        n_edges, n_bounds = len(d.edges), len(self.required_boundaries())
        lines = [
            f"definition coverage of {d.name!r}:",
            f"  states      {len(d.states) - len(gaps.states)}/{len(d.states)}",
            f"  edges       {n_edges - len(gaps.edges)}/{n_edges} (guard outcomes ok/wrong/exhausted)",
            f"  boundaries  {n_bounds - len(gaps.boundaries)}/{n_bounds} (each deadline at T-1s, T, T+1s)",
        ]
        lines += [f"  MISSING {line}" for line in gaps.lines()]
        lines += [f"  UNEXPECTED edge {s} --{e}/{o}-->" for s, e, o in self.unexpected()]
        return "\n".join(lines)


def _offset(seconds: int) -> str:
    return "T" if seconds == 0 else f"T{seconds:+d}s"


COVERAGE = Coverage()
"""The tally the shipped `ActivationMachine` records into; the pytest plugin prints its report."""
