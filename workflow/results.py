"""What a service call returns: a value that says what happened."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from workflow.definition import State
from workflow.domain import Step


@dataclass(frozen=True, slots=True)
class Started:
    """A new activation, with the masked contacts the app shows."""

    activation_id: str
    state: State
    masked_email: str
    masked_phone: str
    deadline: datetime
    superseded: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StepResult:
    """The steps one call took (usually one), ending in `state`."""

    activation_id: str
    state: State
    steps: tuple[Step, ...]

    @property
    def step(self) -> Step:
        """The last step taken."""
        return self.steps[-1]


@dataclass(frozen=True, slots=True)
class ActivationStatus:
    """An activation as the app or an operator sees it (no secret, contacts masked).

    `history` holds its most recent steps (up to 100, oldest first), `history_total` the
    count of all of them (`ActivationService.history` pages through every one).
    """

    activation_id: str
    state: State
    history: tuple[Step, ...]
    deadline: datetime | None
    attempts_left: int | None
    masked_email: str
    masked_phone: str
    created_at: datetime
    counters: dict[str, int]
    closed_reason: str = ""
    history_total: int = 0


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """Steps of an activation, oldest first: those numbered `after + 1` onwards (the first is 1).

    `next_after` is the `after` that reads the next page, None once the last step is here.
    """

    activation_id: str
    after: int
    steps: tuple[Step, ...]
    total: int

    @property
    def next_after(self) -> int | None:
        """The cursor of the next page, or None when this page reaches the newest step."""
        end = self.after + len(self.steps)
        return end if end < self.total else None
