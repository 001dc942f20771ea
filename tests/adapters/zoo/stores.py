"""Broken stores, each a `MemoryStore` with one bug a real adapter could have."""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from adapters.memory import MemoryStore
from workflow.definition import State
from workflow.domain import Activation, AuditEvent, Change, Delivery, MessageKind, OutboxMessage, Step
from workflow.errors import ConcurrencyConflict
from workflow.security import Keyring
from workflow.testing.at_rest import at_rest_settings
from workflow.testing.machine import machine_settings
from workflow.work import copy_activation


class LostUpdateStore(MemoryStore):
    """Checks the version, then writes in a second step: concurrent writers all 'win'."""

    def commit(self, change: Change) -> None:
        for write in change.writes:
            stored = self.get(write.activation.id)
            if (None if stored is None else stored.version) != write.expected_version:
                raise ConcurrencyConflict("changed meanwhile")
        time.sleep(0.002)  # the window between the check and the write
        with self._lock:
            for write in change.writes:
                self._activations[write.activation.id] = copy_activation(write.activation)
            for message in change.outbox:
                self._outbox[message.id] = replace(message)
                self._requeue(message)  # keep the pending messages' index
            for event in change.audit:
                self._audit.setdefault(event.activation_id, []).append(event)


class VersionBlindStore(MemoryStore):
    """Ignores `expected_version` (and so the audit chain's numbers): the last writer wins."""

    def commit(self, change: Change) -> None:
        with self._lock:  # forget the numbers taken, as a table without the chain's index would
            self._chained.difference_update((e.activation_id, e.subject, e.seq) for e in change.audit)
        blind = tuple(replace(w, expected_version=self._version(w.activation.id)) for w in change.writes)
        super().commit(replace(change, writes=blind))

    def _version(self, aid: str) -> int | None:
        stored = self._activations.get(aid)
        return None if stored is None else stored.version


class HalfCommitStore(MemoryStore):
    """Applies writes one by one: a stale write fails after the earlier ones were applied."""

    def commit(self, change: Change) -> None:
        super().commit(Change(outbox=change.outbox, audit=change.audit))
        for write in change.writes:
            super().commit(Change((write,)))


class ReorderedHistoryStore(MemoryStore):
    """Reads the history back newest first."""

    def steps(self, activation_id: str, after: int = 0, limit: int = 100) -> list[Step]:
        return super().steps(activation_id, after, limit)[::-1]


class OutboxDroppingStore(MemoryStore):
    """Commits the activations and the audit trail but drops the outbox rows."""

    def commit(self, change: Change) -> None:
        super().commit(replace(change, outbox=()))


class NaiveTimeStore(MemoryStore):
    """Reads times back naive (timezone dropped), as a careless TIMESTAMP column does."""

    def get(self, activation_id: str) -> Activation | None:
        found = super().get(activation_id)
        if found is not None:
            found.created_at = found.created_at.replace(tzinfo=None)
            found.flow_deadline = found.flow_deadline.replace(tzinfo=None)
        return found

    def requests_since(self, subject: str, since: datetime) -> list[datetime]:
        return [t.replace(tzinfo=None) for t in super().requests_since(subject, since)]


class SharedObjectStore(MemoryStore):
    """Hands out its own records instead of copies."""

    def get(self, activation_id: str) -> Activation | None:
        with self._lock:
            return self._activations.get(activation_id)

    def find(self, subject: str, states: Collection[State]) -> list[Activation]:
        with self._lock:
            return [a for a in self._activations.values() if a.subject == subject and a.state in states]


class LeaselessStore(MemoryStore):
    """Claims ignore the lease: a claimed message is handed out again at once."""

    def claim_outbox(self, now: datetime, limit: int, lease: timedelta) -> list[OutboxMessage]:
        with self._lock:
            for m in self._outbox.values():
                m.claimed_until = None
        return super().claim_outbox(now, limit, lease)


class UnorderedAuditStore(MemoryStore):
    """Returns the audit trail in arrival order instead of by `seq`."""

    def audit_trail(self, activation_id: str) -> list[AuditEvent]:
        with self._lock:
            return list(self._audit.get(activation_id, []))


class ExclusiveExpiryStore(MemoryStore):
    """Treats a deadline equal to `now` as not yet due (deadlines are exclusive: it is due)."""

    def due_for_expiry(self, now: datetime, limit: int) -> list[str]:
        return [aid for aid in super().due_for_expiry(now, limit)
                if (a := self.get(aid)) is not None and (d := a.due_at()) is not None and d < now]


class ClearTextStore(MemoryStore):
    """Holds the server key 'to encrypt at rest' but keeps decrypted contacts and messages instead."""

    def __init__(self) -> None:
        super().__init__()
        self._keys = [Keyring(at_rest_settings()), Keyring(machine_settings())]  # the kit's test keys
        self.rows: list[str] = []

    def _unseal(self, sealed: bytes) -> bytes:
        for keys in self._keys:
            try:
                return keys.unseal(sealed)
            except Exception:  # sealed under the other key
                continue
        return b""

    def commit(self, change: Change) -> None:
        super().commit(change)
        for w in change.writes:
            self.rows.append(self._unseal(w.activation.contacts).decode())
        for m in change.outbox:
            if m.payload and m.status == Delivery.PENDING:
                self.rows.append(self._unseal(m.payload).decode())

    def dump(self) -> str:
        """Every row it keeps, as a table dump would show them."""
        return "\n".join(self.rows)


class PayloadKeepingStore(MemoryStore):
    """Never erases a message's payload once sent (the upsert keeps the old payload)."""

    def commit(self, change: Change) -> None:
        with self._lock:
            kept = tuple(replace(m, payload=self._outbox[m.id].payload)
                         if m.id in self._outbox and not m.payload else m for m in change.outbox)
        super().commit(replace(change, outbox=kept))


COUNTERS = ("email_resends", "sms_resends", "sms_attempts", "pin_mismatches", "login_failures")


class CountersOutsideStore(MemoryStore):
    """Saves the attempt and resend counters before the compare-and-set, outside the transaction."""

    def commit(self, change: Change) -> None:
        with self._lock:
            for write in change.writes:
                stored = self._activations.get(write.activation.id)
                if stored is not None:
                    for name in COUNTERS:
                        setattr(stored, name, getattr(write.activation, name))
        super().commit(change)


class SmsDroppingStore(MemoryStore):
    """Keeps the e-mails of the outbox but silently drops every SMS row."""

    def commit(self, change: Change) -> None:
        kept = tuple(m for m in change.outbox if m.kind != MessageKind.SMS_CODE)
        super().commit(replace(change, outbox=kept))


class DoubleClaimStore(MemoryStore):
    """Claims in two steps (read the due rows, then mark them), so two dispatchers can share a row."""

    def claim_outbox(self, now: datetime, limit: int, lease: timedelta) -> list[OutboxMessage]:
        with self._lock:
            due = sorted((m for m in self._outbox.values() if m.status == Delivery.PENDING and m.due_at <= now
                          and (m.claimed_until is None or m.claimed_until <= now)),
                         key=lambda m: (m.due_at, m.created_at))[:limit]
        time.sleep(0.002)  # the window between the read and the mark
        with self._lock:
            for m in due:
                m.claimed_until = now + lease
            return [replace(m) for m in due]


class StaleDeadlineStore(MemoryStore):
    """Indexes each activation's deadline when it is first inserted and never updates the index."""

    def __init__(self) -> None:
        super().__init__()
        self._deadlines: dict[str, datetime | None] = {}

    def commit(self, change: Change) -> None:
        super().commit(change)
        for write in change.writes:
            self._deadlines.setdefault(write.activation.id, write.activation.due_at())

    def due_for_expiry(self, now: datetime, limit: int) -> list[str]:
        due = sorted((d, aid) for aid, d in self._deadlines.items() if d is not None and d <= now)
        return [aid for _, aid in due[:limit]]


class AuditDroppingStore(MemoryStore):
    """Appends only the first audit event of each change (a batch insert that keeps one row)."""

    def commit(self, change: Change) -> None:
        super().commit(replace(change, audit=change.audit[:1]))


class RefusalDroppingStore(MemoryStore):
    """Drops the audit events of refusals, keeping only transitions."""

    def commit(self, change: Change) -> None:
        super().commit(replace(change, audit=tuple(e for e in change.audit if e.outcome != "refused")))


class ReorderedStepsStore(MemoryStore):
    """Reads the history back with its second and third steps swapped (a sort on a coarse column)."""

    def steps(self, activation_id: str, after: int = 0, limit: int = 100) -> list[Step]:
        every = super().steps(activation_id, 0, 10**9)
        if len(every) >= 3:
            every[1], every[2] = every[2], every[1]
        return every[after:after + limit]


class TruncatedHistoryStore(MemoryStore):
    """Keeps only the last four steps of the history (a fixed-size column)."""

    def steps(self, activation_id: str, after: int = 0, limit: int = 100) -> list[Step]:
        every = super().steps(activation_id, 0, 10**9)
        return every[max(after, len(every) - 4):][:limit]


class ExtraExpiryStore(MemoryStore):
    """Also reports flows whose deadline is less than a minute away (a rounded-up comparison)."""

    def due_for_expiry(self, now: datetime, limit: int) -> list[str]:
        return super().due_for_expiry(now + timedelta(minutes=1), limit)


class FlowBlindExpiryStore(MemoryStore):
    """Forgets the whole-flow deadline: only step deadlines make a flow due (missing expiry rows)."""

    def due_for_expiry(self, now: datetime, limit: int) -> list[str]:
        with self._lock:
            due = sorted((a.step_deadline, a.id) for a in self._activations.values()
                         if a.due_at() is not None and a.step_deadline is not None and a.step_deadline <= now)
            return [aid for _, aid in due[:limit]]


class LimitlessExpiryStore(MemoryStore):
    """Ignores `limit` in the expiry query."""

    def due_for_expiry(self, now: datetime, limit: int) -> list[str]:
        return super().due_for_expiry(now, 10**9)


class TurnBlindStore(MemoryStore):
    """Ignores turns: never compares nor advances a subject's counter (a column left out of the commit)."""

    def turn(self, subject: str) -> int:
        return 0

    def commit(self, change: Change) -> None:
        super().commit(replace(change, turns=()))


class PagelessStepsStore(MemoryStore):
    """Reads the whole history whatever page is asked (`after` and `limit` left out of the query)."""

    def steps(self, activation_id: str, after: int = 0, limit: int = 100) -> list[Step]:
        return super().steps(activation_id, 0, 10**9)


class FieldDroppingStore(MemoryStore):
    """Reads the device's key thumbprint back empty (a column the store forgot)."""

    def get(self, activation_id: str) -> Activation | None:
        found = super().get(activation_id)
        if found is not None:
            found.device_thumbprint = ""
        return found


class SharedListStore(MemoryStore):
    """Lists its own records instead of copies (`get` and `find` copy)."""

    def list_activations(self, limit: int = 100,
                         before: tuple[datetime, str] | None = None) -> list[Activation]:
        with self._lock:
            return sorted((a for a in self._activations.values()
                           if before is None or (a.created_at, a.id) < before),
                          key=lambda a: (a.created_at, a.id), reverse=True)[:limit]


class CappedStepsStore(MemoryStore):
    """Ignores a `limit` of 5 or more (a page size fixed in the query)."""

    def steps(self, activation_id: str, after: int = 0, limit: int = 100) -> list[Step]:
        return super().steps(activation_id, after, limit if limit < 5 else 100)


class WholeSecondStore(MemoryStore):
    """Compares `requests_since` at whole seconds (a column without its microseconds)."""

    def requests_since(self, subject: str, since: datetime) -> list[datetime]:
        return super().requests_since(subject, since.replace(microsecond=0))


class CursorlessStore(MemoryStore):
    """Ignores `before`: every page is the first one."""

    def list_activations(self, limit: int = 100,
                         before: tuple[datetime, str] | None = None) -> list[Activation]:
        return super().list_activations(limit)


class ParisTimesStore(MemoryStore):
    """Reads the history's times and the last e-mail's back in Paris time (the same instants)."""

    def steps(self, activation_id: str, after: int = 0, limit: int = 100) -> list[Step]:
        return [replace(s, at=s.at.astimezone(_PARIS))
                for s in super().steps(activation_id, after, limit)]

    def get(self, activation_id: str) -> Activation | None:
        a = super().get(activation_id)
        if a is not None and a.last_email_at is not None:
            a.last_email_at = a.last_email_at.astimezone(_PARIS)
        return a


_PARIS = timezone(timedelta(hours=1), "Europe/Paris")
