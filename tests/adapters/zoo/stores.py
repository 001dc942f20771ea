"""Broken stores, each a `MemoryStore` with one bug a real adapter could have."""

from __future__ import annotations

import json
import time
from collections.abc import Collection
from dataclasses import replace
from datetime import datetime, timedelta

from adapters.memory import MemoryStore
from workflow.definition import State
from workflow.domain import Activation, AuditEvent, Change, Delivery, OutboxMessage, Step
from workflow.errors import ConcurrencyConflict
from workflow.security import Keyring
from workflow.testing.at_rest import at_rest_settings
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
            for event in change.audit:
                self._audit.setdefault(event.activation_id, []).append(event)


class VersionBlindStore(MemoryStore):
    """Ignores `expected_version`: the last writer wins."""

    def commit(self, change: Change) -> None:
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
        self._keys = Keyring(at_rest_settings())
        self.rows: list[str] = []

    def commit(self, change: Change) -> None:
        super().commit(change)
        for w in change.writes:
            self.rows.append(self._keys.unseal(w.activation.contacts).decode())
        for m in change.outbox:
            if m.payload and m.status == Delivery.PENDING:
                self.rows.append(json.dumps(json.loads(self._keys.unseal(m.payload))))

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
