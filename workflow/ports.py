"""What the engine needs from the outside world, one Protocol per port.

Adapters implement these; `adapters.memory` holds fakes that record what they were given,
and `workflow.testing` holds the contract suites every implementation must pass.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from workflow.definition import State
from workflow.domain import Activation, AuditEvent, Change, OutboxMessage, Step
from workflow.events import DomainEvent
from workflow.messages import DirectoryEntry, Email, Sms


@runtime_checkable
class Clock(Protocol):
    """The source of time."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


@runtime_checkable
class Mailer(Protocol):
    """Delivers e-mails.

    `send` returns once the message is accepted; it raises `DeliveryFailed` otherwise,
    `transient=True` when trying again may succeed. `email.message_id` is stable across
    retries of one outbox message, so a receiver can drop duplicates.
    """

    def send(self, email: Email) -> None:
        """Deliver `email` or raise `DeliveryFailed`."""
        ...


@runtime_checkable
class SmsGateway(Protocol):
    """Delivers SMS; same contract as `Mailer`."""

    def send(self, sms: Sms) -> None:
        """Deliver `sms` or raise `DeliveryFailed`."""
        ...


@runtime_checkable
class EventSink(Protocol):
    """Receives the durable feed of domain events (`workflow.events`).

    `publish` returns once the event is accepted; it raises `DeliveryFailed` otherwise,
    `transient=True` when trying again may succeed (the outbox retries with back-off).
    Delivery is at-least-once: the same event may come again, so a receiver drops
    duplicates by `event.key`. The events of one activation come in their order.
    """

    def publish(self, event: DomainEvent) -> None:
        """Deliver `event` or raise `DeliveryFailed`."""
        ...


@runtime_checkable
class Directory(Protocol):
    """The directory of record (Annuaire Santé).

    `lookup` returns the entry of exactly that identifier, None when it is unknown, and
    raises `DirectoryUnavailable` when it cannot tell.
    """

    def lookup(self, national_id: str) -> DirectoryEntry | None:
        """The entry for `national_id`, or None."""
        ...


@runtime_checkable
class Store(Protocol):
    """Durable state: activations, outbox and audit trail.

    Every read returns a copy the caller may change freely. `commit` applies a `Change`
    atomically: each `Write` with an `expected_version` succeeds only if the stored version
    still equals it, and each `Turn` only if the subject's turn counter still equals its
    `expected`, else nothing is applied and `ConcurrencyConflict` is raised; an insert of an
    existing id is also a conflict. Stored times are timezone-aware UTC.
    """

    def get(self, activation_id: str) -> Activation | None:
        """The activation with this id, or None."""
        ...

    def find(self, subject: str, states: Collection[State]) -> list[Activation]:
        """The activations of `subject` (a pseudonym) whose state is in `states`."""
        ...

    def requests_since(self, subject: str, since: datetime) -> list[datetime]:
        """Creation times of `subject`'s activations created at or after `since`, oldest first."""
        ...

    def commit(self, change: Change) -> None:
        """Apply `change` whole, or raise and apply nothing."""
        ...

    def due_for_expiry(self, now: datetime, limit: int) -> list[str]:
        """Ids of up to `limit` activations whose deadline is at or before `now`."""
        ...

    def claim_outbox(self, now: datetime, limit: int, lease: timedelta) -> list[OutboxMessage]:
        """Claim up to `limit` pending messages due at `now`, oldest due first.

        A claimed message is not returned to another caller until `lease` has passed; its
        `claimed_until` is set in the returned copy and in the store.
        """
        ...

    def outbox_of(self, activation_id: str) -> list[OutboxMessage]:
        """Every outbox message of an activation, oldest first."""
        ...

    def audit_trail(self, activation_id: str) -> list[AuditEvent]:
        """The audit events of an activation (or of request refusals, for ""), by `seq`."""
        ...

    def list_activations(self, limit: int = 100) -> list[Activation]:
        """The most recently created activations, newest first."""
        ...

    def turn(self, subject: str) -> int:
        """How many committed changes took a `Turn` of `subject` (0 before the first)."""
        ...

    def steps(self, activation_id: str, after: int = 0, limit: int = 100) -> list[Step]:
        """The activation's steps numbered above `after` (audit events with `step > after`),
        oldest first, at most `limit`; the cost does not grow with the steps before them."""
        ...
