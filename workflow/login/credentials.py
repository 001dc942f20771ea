"""What the login needs from the activation: the active credential and its counted PIN check."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from workflow.domain import Activation, Change
from workflow.errors import WorkflowError


@dataclass(frozen=True, slots=True)
class PinAttempt:
    """One PIN typed for a login, as the credential counted it: `outcome` of its
    `authenticate` edge (`ok`, `wrong`, `exhausted`), and the change that records it."""

    outcome: str
    attempts_left: int | None
    change: Change


class Credentials(Protocol):
    """The credentials (active activations) a login checks its PIN against."""

    def active_credential(self, subject: str) -> Activation | None:
        """The subject's active credential, or None."""
        ...

    def audit_refusal(self, subject: str, action: str, actor: str, refused: WorkflowError) -> None:
        """Chain a refused `action` of `subject` that made no flow (nothing else changes)."""
        ...

    def credential(self, activation_id: str) -> Activation:
        """The activation with this id, checked against its trail (`ActivationNotFound`)."""
        ...

    def pin_right(self, credential: Activation, pin: str) -> bool:
        """Whether `pin` is the credential's PIN (nothing counted)."""
        ...

    def count_pin(self, credential: Activation, right: bool, now: datetime) -> PinAttempt:
        """The credential's `authenticate` step for a right or wrong PIN (not committed)."""
        ...

    def commit(self, change: Change, now: datetime, outcome: object = None) -> None:
        """Commit `change` with the feed rows of the credential's transitions in it, and the
        answer to `outcome` (a result or a refusal) when the caller asked for one."""
        ...
