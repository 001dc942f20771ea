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
    """An activation as the app or an operator sees it (no secret, contacts masked)."""

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
