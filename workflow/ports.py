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
from workflow.login.definition import LoginState
from workflow.login.record import Login
from workflow.messages import DirectoryEntry, Email, Push, Sms


@runtime_checkable
class Closable(Protocol):
    """An adapter holding resources to release (a store's database connections)."""

    def close(self) -> None:
        """Release them; the adapter is not used after."""
        ...


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
class PushGateway(Protocol):
    """Delivers login notifications to the app; same contract as `Mailer`.

    `push.message_id` is stable across retries of one outbox message, so the app can drop
    duplicates; `DeliveryFailed.retry_after` (seconds), when set, asks for a later retry.
    """

    def send(self, push: Push) -> None:
        """Deliver `push` or raise `DeliveryFailed`."""
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

    Every read returns a copy the caller may change freely, and changing what was committed
    afterwards changes nothing stored. Every field of an activation reads back equal to what
    was written. `commit` applies a `Change` atomically: each `Write` with an
    `expected_version` succeeds only if the stored version still equals it, and each `Turn`
    only if the subject's turn counter still equals its `expected`, else nothing is applied and
    `ConcurrencyConflict` is raised; an insert of an existing id is also a conflict. Stored
    times are timezone-aware UTC, exact to the microsecond. (`workflow.testing.StoreContract`
    checks each sentence of these docstrings; each of its tests cites the one it enforces.)
    """

    def get(self, activation_id: str) -> Activation | None:
        """The activation with this id, or None when it was never stored."""
        ...

    def find(self, subject: str, states: Collection[State]) -> list[Activation]:
        """The activations of `subject` (a pseudonym) whose state is in `states`, and no other."""
        ...

    def requests_since(self, subject: str, since: datetime) -> list[datetime]:
        """Creation times of `subject`'s activations created at or after `since` (inclusive), oldest first."""
        ...

    def commit(self, change: Change) -> None:
        """Apply `change` whole, or raise and apply nothing.

        Each `Write` with an `expected_version` succeeds only if the stored version still
        equals it, else nothing of the change is applied and `ConcurrencyConflict` is raised.
        An update of an id never stored is a conflict, not an insert. An insert of an existing
        id is a conflict. Of concurrent writers from one version, exactly one wins. An update
        saves every field. Outbox messages are upserted by id. Audit events are appended. An
        audit event with a `seq` above 0 whose activation id, subject and `seq` are already
        stored is a conflict (two writers chained after one head).
        """
        ...

    def due_for_expiry(self, now: datetime, limit: int) -> list[str]:
        """Ids of up to `limit` activations in flight whose deadline is at or before `now`, soonest first.

        An activation's deadline is the earlier of its step deadline and its flow deadline
        (`Activation.due_at()`); a terminal activation is never due. The bound is inclusive:
        a deadline equal to `now` is due. Ties may come in any order. The query follows
        updates: a moved deadline or a flow that ended is what it sees.
        """
        ...

    def claim_outbox(self, now: datetime, limit: int, lease: timedelta) -> list[OutboxMessage]:
        """Claim up to `limit` pending messages due at or before `now`, oldest due first.

        A claimed message is not returned to another caller until `lease` has passed; its
        `claimed_until` is set in the returned copy and in the store. Concurrent claims never
        share a message. A message rescheduled with a later due time waits for it. Only the
        returned messages are leased: the others keep no claim, so a message claimed later is
        leased from that later `now`. (A dispatcher that claims each message just before sending
        it thus holds it for as long as its own delivery takes.)
        """
        ...

    def outbox_of(self, activation_id: str) -> list[OutboxMessage]:
        """Every outbox message of an activation, one per id, oldest first."""
        ...

    def audit_trail(self, activation_id: str) -> list[AuditEvent]:
        """The audit events of an activation, by `seq`, across commits.

        Refusals of requests share the activation id "": all are kept, by `seq`, in arrival
        order among equal ones. (Each subject's refusals are chained from seq 1; those recorded
        before refusals were chained have seq 0.)
        """
        ...

    def list_activations(self, limit: int = 100,
                         before: tuple[datetime, str] | None = None) -> list[Activation]:
        """The most recently created activations, newest first, at most `limit`; with `before`
        (a creation time and an id), only those below it in that order, ties by id: a next page."""
        ...

    def turn(self, subject: str) -> int:
        """How many committed changes took a `Turn` of `subject` (0 before the first)."""
        ...

    def steps(self, activation_id: str, after: int = 0, limit: int = 100) -> list[Step]:
        """The activation's steps numbered above `after` (audit events with `step > after`),
        oldest first, at most `limit`; the cost does not grow with the steps before them."""
        ...


@runtime_checkable
class LoginStore(Protocol):
    """A store that also keeps logins (needed by the login workflow; its writes come in
    `Change.logins`, compared-and-set on their version like activations, in the same commit).

    Every read returns a copy the caller may change freely; a login's audit trail is read with
    `audit_trail(login_id)`.
    """

    def get_login(self, login_id: str) -> Login | None:
        """The login with this id, or None when it was never stored."""
        ...

    def logins_of(self, activation_id: str, states: Collection[LoginState]) -> list[Login]:
        """The logins of a credential whose state is in `states`, oldest first."""
        ...

    def logins_since(self, subject: str, since: datetime) -> list[datetime]:
        """Creation times of `subject`'s logins created at or after `since`, oldest first."""
        ...

    def login_ids(self, after: str | None, limit: int) -> list[str]:
        """Up to `limit` login ids greater than `after` (all when None), in id order."""
        ...

    def list_logins(self, limit: int, before: tuple[datetime, str] | None = None) -> list[Login]:
        """Up to `limit` logins newest first (creation time, then id), those below `before` only
        when it is given (a later page of a list)."""
        ...

    def logins_due(self, now: datetime, limit: int) -> list[str]:
        """Ids of up to `limit` logins whose validity ends at or before `now`, soonest first
        (a login that ended has none)."""
        ...

    def turn(self, subject: str) -> int:
        """How many committed changes took a `Turn` of `subject` (as `Store.turn`): a new
        login takes one, so the per-identifier limit holds under concurrency."""
        ...


@runtime_checkable
class DumpableStore(Store, Protocol):
    """A `Store` that can show everything it keeps, as a table dump would (optional).

    The test kit searches the dump for raw secrets after every step of the stateful suite
    and after whole flows (`secrets_at_rest`); a store without `dump` is searched only
    through what the port reads back.
    """

    def dump(self) -> str | bytes:
        """Every row the store keeps, every table, as text or raw bytes."""
        ...


@runtime_checkable
class BrowsableStore(Protocol):
    """A store that can list every activation id page by page (audit verification streams it).

    Optional: a store without it is verified through `list_activations`, all in one go.
    """

    def activation_ids(self, after: str | None, limit: int) -> list[str]:
        """Up to `limit` activation ids greater than `after` (all when None), in id order."""
        ...


@runtime_checkable
class TrailHeads(Protocol):
    """A store that reads the newest audit event of an activation in one indexed read (optional).

    The service compares it with the head its row records before acting, so events cut from
    the end of a trail are seen at once; without it only the row's seal is checked.
    """

    def trail_head(self, activation_id: str) -> tuple[int, str] | None:
        """(seq, hash) of the activation's newest audit event, or None when it has none."""
        ...


@runtime_checkable
class RefusalHeads(Protocol):
    """A store that reads the newest chained refusal of a subject in one indexed read (optional).

    The service chains each refused request after it; without it the service finds the head
    among every refusal (`audit_trail("")`), which grows with them.
    """

    def refusal_head(self, subject: str) -> tuple[int, str] | None:
        """(seq, hash) of `subject`'s newest refused request with `seq` above 0, or None."""
        ...


def in_process(store: object) -> bool:
    """Whether `store`'s rows live in the service's own process (`MemoryStore` sets
    `in_process = True`): nothing outside the service can edit them, so the service neither
    seals nor checks them. Every other store (SQL, an embedder's Redis...) gets sealed rows,
    checked at each load."""
    return bool(getattr(store, "in_process", False))
