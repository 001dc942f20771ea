"""In-memory adapters that record what they were given: for tests, dry runs and the demo.

They keep the same contracts as the real adapters (`workflow.testing` checks both).
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right, insort
from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from workflow.definition import State
from workflow.domain import Activation, Answer, AuditEvent, Change, Delivery, OutboxMessage, Step
from workflow.errors import ConcurrencyConflict
from workflow.events import DomainEvent
from workflow.login.definition import LoginState
from workflow.login.record import Login, copy_login
from workflow.messages import DirectoryEntry, Email, Push, Sms
from workflow.work import copy_activation


class MemoryStore:
    """A thread-safe store in a dict, with compare-and-set on the version."""

    in_process = True  # rows no one outside the service can edit: neither sealed nor checked

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._activations: dict[str, Activation] = {}
        self._by_subject: dict[str, list[str]] = {}  # each subject's activation ids, oldest first
        self._outbox: dict[str, OutboxMessage] = {}
        self._outbox_of: dict[str, dict[str, None]] = {}  # activation id -> its message ids, in order
        self._pending: list[tuple[datetime, datetime, int, str]] = []  # (due, created, order, id), sorted
        self._queued: dict[str, tuple[datetime, datetime, int, str]] = {}  # id -> its key in _pending
        self._order: dict[str, int] = {}  # message id -> when it was first committed
        self._audit: dict[str, list[AuditEvent]] = {}
        self._steps: dict[str, list[AuditEvent]] = {}  # each activation's transitions, by step
        self._turns: dict[str, int] = {}
        self._logins: dict[str, Login] = {}
        self._chained: set[tuple[str, str, int]] = set()  # (activation id, subject, seq > 0) stored
        self._refusal_heads: dict[str, tuple[int, str]] = {}  # subject -> its newest chained refusal
        self.answers: dict[str, Answer] = {}  # idempotency answers committed with their change

    def get(self, activation_id: str) -> Activation | None:
        with self._lock:
            found = self._activations.get(activation_id)
            return copy_activation(found) if found else None

    def find(self, subject: str, states: Collection[State]) -> list[Activation]:
        with self._lock:
            return [copy_activation(a) for a in self._of(subject) if a.state in states]

    def requests_since(self, subject: str, since: datetime) -> list[datetime]:
        with self._lock:
            return sorted(a.created_at for a in self._of(subject) if a.created_at >= since)

    def turn(self, subject: str) -> int:
        with self._lock:
            return self._turns.get(subject, 0)

    def commit(self, change: Change) -> None:
        with self._lock:
            for turn in change.turns:
                if self._turns.get(turn.subject, 0) != turn.expected:
                    raise ConcurrencyConflict("another change of this identifier came first")
            links = [(e.activation_id, e.subject, e.seq) for e in change.audit if e.seq > 0]
            if len(set(links)) != len(links) or not self._chained.isdisjoint(links):
                raise ConcurrencyConflict("an audit event was chained after the same head meanwhile")
            for write in change.writes:
                stored = self._activations.get(write.activation.id)
                current = None if stored is None else stored.version
                if current != write.expected_version:
                    raise ConcurrencyConflict(f"activation {write.activation.id} changed meanwhile")
            for lw in change.logins:
                known = self._logins.get(lw.login.id)
                if (None if known is None else known.version) != lw.expected_version:
                    raise ConcurrencyConflict(f"login {lw.login.id} changed meanwhile")
            for lw in change.logins:
                self._logins[lw.login.id] = copy_login(lw.login)
            for write in change.writes:
                a = write.activation
                old = self._activations.get(a.id)
                if old is None or old.subject != a.subject:
                    if old is not None:
                        self._by_subject[old.subject].remove(a.id)
                    self._by_subject.setdefault(a.subject, []).append(a.id)
                self._activations[a.id] = copy_activation(a)
            for turn in change.turns:
                self._turns[turn.subject] = turn.expected + 1
            if change.answer is not None:
                self.answers[change.answer.key] = change.answer
            for message in change.outbox:
                self._outbox[message.id] = replace(message)
                self._outbox_of.setdefault(message.activation_id, {})[message.id] = None
                self._requeue(message)
            self._chained.update(links)
            for event in change.audit:
                self._audit.setdefault(event.activation_id, []).append(event)
                if not event.activation_id and event.seq > self._refusal_heads.get(event.subject, (0, ""))[0]:
                    self._refusal_heads[event.subject] = (event.seq, event.hash)
                if event.step:
                    insort(self._steps.setdefault(event.activation_id, []), event, key=_step)

    def get_login(self, login_id: str) -> Login | None:
        with self._lock:
            found = self._logins.get(login_id)
            return copy_login(found) if found else None

    def logins_of(self, activation_id: str, states: Collection[LoginState]) -> list[Login]:
        with self._lock:
            found = [g for g in self._logins.values()
                     if g.activation_id == activation_id and g.state in states]
            return [copy_login(g) for g in sorted(found, key=lambda g: (g.created_at, g.id))]

    def logins_since(self, subject: str, since: datetime) -> list[datetime]:
        with self._lock:
            return sorted(g.created_at for g in self._logins.values()
                          if g.subject == subject and g.created_at >= since)

    def logins_due(self, now: datetime, limit: int) -> list[str]:
        with self._lock:
            due = sorted((g.expires_at, g.id) for g in self._logins.values()
                         if g.expires_at is not None and g.expires_at <= now)
            return [lid for _, lid in due[:limit]]

    def login_ids(self, after: str | None, limit: int) -> list[str]:
        with self._lock:
            return sorted(i for i in self._logins if after is None or i > after)[:limit]

    def list_logins(self, limit: int, before: tuple[datetime, str] | None = None) -> list[Login]:
        with self._lock:
            newest = sorted((g for g in self._logins.values()
                             if before is None or (g.created_at, g.id) < before),
                            key=lambda g: (g.created_at, g.id), reverse=True)
            return [copy_login(g) for g in newest[:limit]]

    def _of(self, subject: str) -> list[Activation]:
        """The stored records of `subject` (caller holds the lock)."""
        return [self._activations[i] for i in self._by_subject.get(subject, ())]

    def due_for_expiry(self, now: datetime, limit: int) -> list[str]:
        with self._lock:
            due = sorted((d, a.id) for a in self._activations.values()
                         if (d := a.due_at()) is not None and d <= now)
            return [aid for _, aid in due[:limit]]

    def _requeue(self, m: OutboxMessage) -> None:
        """Keep `_pending` holding exactly the pending messages, by due time (caller holds the lock)."""
        key = self._queued.pop(m.id, None)
        if key is not None:
            del self._pending[bisect_left(self._pending, key)]
        if m.status == Delivery.PENDING:
            order = self._order.setdefault(m.id, len(self._order))
            key = (m.due_at, m.created_at, order, m.id)
            insort(self._pending, key)
            self._queued[m.id] = key

    def claim_outbox(self, now: datetime, limit: int, lease: timedelta) -> list[OutboxMessage]:
        """Walks only the pending messages due by `now`; the cost does not grow with those done."""
        with self._lock:
            due: list[OutboxMessage] = []
            for due_at, _, _, mid in self._pending:
                if due_at > now or len(due) == limit:
                    break
                m = self._outbox[mid]
                if m.claimed_until is None or m.claimed_until <= now:
                    due.append(m)
            for m in due:
                m.claimed_until = now + lease
            return [replace(m) for m in due]

    def outbox_of(self, activation_id: str) -> list[OutboxMessage]:
        with self._lock:
            return [replace(self._outbox[i]) for i in self._outbox_of.get(activation_id, ())]

    def audit_trail(self, activation_id: str) -> list[AuditEvent]:
        with self._lock:
            return sorted(self._audit.get(activation_id, []), key=lambda e: e.seq)

    def trail_head(self, activation_id: str) -> tuple[int, str] | None:
        with self._lock:
            trail = self._audit.get(activation_id)
            if not trail:
                return None
            newest = trail[-1]  # appended in order: each commit's events follow the last head
            return newest.seq, newest.hash

    def refusal_head(self, subject: str) -> tuple[int, str] | None:
        with self._lock:
            return self._refusal_heads.get(subject)

    def activation_ids(self, after: str | None, limit: int) -> list[str]:
        with self._lock:
            return sorted(i for i in self._activations if after is None or i > after)[:limit]

    def list_activations(self, limit: int = 100,
                         before: tuple[datetime, str] | None = None) -> list[Activation]:
        with self._lock:
            newest = sorted((a for a in self._activations.values()
                             if before is None or (a.created_at, a.id) < before),
                            key=lambda a: (a.created_at, a.id), reverse=True)
            return [copy_activation(a) for a in newest[:limit]]

    def dump(self) -> str:
        """Every record it keeps (activations, outbox, audit), one per line, as a table dump would."""
        with self._lock:
            rows = [*map(repr, self._activations.values()), *map(repr, self._outbox.values()),
                    *map(repr, self._logins.values()),
                    *(repr(e) for trail in self._audit.values() for e in trail)]
        return "\n".join(rows)

    def steps(self, activation_id: str, after: int = 0, limit: int = 100) -> list[Step]:
        with self._lock:
            events = self._steps.get(activation_id, [])
            start = bisect_right(events, after, key=_step)
            return [e.as_step() for e in events[start:start + limit]]


def _step(event: AuditEvent) -> int:
    return event.step


class MemoryMailer:
    """Records every e-mail it accepts in `sent`."""

    def __init__(self) -> None:
        self.sent: list[Email] = []

    def send(self, email: Email) -> None:
        self.sent.append(email)


class MemorySms:
    """Records every SMS it accepts in `sent`."""

    def __init__(self) -> None:
        self.sent: list[Sms] = []

    def send(self, sms: Sms) -> None:
        self.sent.append(sms)


class MemoryPush:
    """Records every login notification it accepts in `sent`."""

    def __init__(self) -> None:
        self.sent: list[Push] = []

    def send(self, push: Push) -> None:
        self.sent.append(push)


class StaticDirectory:
    """A directory held in memory: entries (or a mapping of identifier to entry)."""

    def __init__(self, entries: Iterable[DirectoryEntry] | Mapping[str, DirectoryEntry] = ()) -> None:
        values = entries.values() if isinstance(entries, Mapping) else entries
        self._entries = {e.national_id: e for e in values}

    def lookup(self, national_id: str) -> DirectoryEntry | None:
        return self._entries.get(national_id)


class MemorySink:
    """Records every domain event it accepts in `events` (duplicates included, as delivered)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[DomainEvent] = []

    def publish(self, event: DomainEvent) -> None:
        with self._lock:
            self.events.append(event)

    def unique(self) -> list[DomainEvent]:
        """The events without duplicates (first delivery of each key), in arrival order."""
        with self._lock:
            first: dict[str, DomainEvent] = {}
            for event in self.events:
                first.setdefault(event.key, event)
            return list(first.values())
