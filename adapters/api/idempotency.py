"""Stored answers of POST requests by `Idempotency-Key`: a retry gets the first answer back.

`MemoryIdempotency` lives as long as its app; `SqlIdempotency` keeps the answers in a small
table (`ecps_idempotency`) of the service's database, so they survive restarts and are
shared by several server processes (`create_app` picks it when the store is a `SqlStore`).
Keys are kept 24 hours. Bodies are never stored, only a keyed fingerprint of them, and
answers hold no secret.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Engine, and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from adapters.api.tables import Tables
from adapters.sql import SqlStore
from adapters.sql.schema import IDEMPOTENCY

TTL_SECONDS = 24 * 3600
STALE_SECONDS = 120  # a reservation older than this is taken over (its request died)
PURGE_EVERY = 256  # reservations between two purges of the expired keys (one transaction less)


@dataclass(frozen=True, slots=True)
class Saved:
    """The answer stored for a key."""

    status: int
    body: bytes
    headers: dict[str, str]


class KeyReused(Exception):
    """The key was used with another request (another path or body)."""


class KeyBusy(Exception):
    """A request with this key is still being answered."""


class IdempotencyStore(Protocol):
    """Reserve a key, then save the answer (or release the key)."""

    def reserve(self, key: str, fingerprint: str, now: float) -> Saved | None:
        """None: go ahead (the key is now ours); Saved: replay it; or KeyReused / KeyBusy."""
        ...

    def save(self, key: str, answer: Saved) -> None:
        """Store the answer of the reserved key."""
        ...

    def release(self, key: str) -> None:
        """Forget a reservation whose answer is not to be kept."""
        ...


@dataclass(slots=True)
class _Entry:
    fingerprint: str
    created: float
    answer: Saved | None = None


class MemoryIdempotency:
    """Answers kept in memory, for one app's lifetime."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}

    def reserve(self, key: str, fingerprint: str, now: float) -> Saved | None:
        with self._lock:
            self._entries = {k: e for k, e in self._entries.items()
                             if e.created > now - TTL_SECONDS}
            entry = self._entries.get(key)
            if entry is None or (entry.answer is None and entry.created <= now - STALE_SECONDS):
                self._entries[key] = _Entry(fingerprint, now)
                return None
            return _decide(entry.fingerprint, fingerprint, entry.answer)

    def save(self, key: str, answer: Saved) -> None:
        with self._lock:
            if key in self._entries:
                self._entries[key].answer = answer

    def release(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)


def _decide(stored: str, fingerprint: str, answer: Saved | None) -> Saved:
    if stored != fingerprint:
        raise KeyReused
    if answer is None:
        raise KeyBusy
    return answer


_TABLE = IDEMPOTENCY


class SqlIdempotency:
    """Answers kept in the `ecps_idempotency` table of a database.

    Give it the service's `SqlStore`, so it runs on the store's connections and their settings
    (SQLite busy timeout, WAL), or an engine, or a database URL. Reservations
    are its own; the answer to a change is committed with the change by the store (the service
    call runs under `ActivationService.answering`), and saved again here when nothing changed.
    """

    def __init__(self, database: SqlStore | Engine | str) -> None:
        self._lock = threading.Lock()
        self._reserved = 0
        self._db = Tables(database, "idempotency table", _TABLE)

    def reserve(self, key: str, fingerprint: str, now: float) -> Saved | None:
        t = _TABLE
        with self._lock:
            self._reserved += 1
            purge = self._reserved % PURGE_EVERY == 1
        try:
            if purge:
                with self._db.begin() as db:
                    db.execute(delete(t).where(t.c.created <= now - TTL_SECONDS))
            try:
                with self._db.begin() as db:
                    db.execute(insert(t).values(key=key, fingerprint=fingerprint, created=now,
                                                status=0, body=b"", headers="{}"))
                return None
            except IntegrityError:
                pass
            with self._db.begin() as db:
                taken = db.execute(update(t).where(  # a dead reservation, or an expired key
                    t.c.key == key, or_(and_(t.c.status == 0, t.c.created <= now - STALE_SECONDS),
                                        t.c.created <= now - TTL_SECONDS),
                ).values(fingerprint=fingerprint, created=now, status=0, body=b"",
                         headers="{}")).rowcount
                if taken == 1:
                    return None
                row = db.execute(select(t).where(t.c.key == key)).one_or_none()
        except SQLAlchemyError as exc:
            raise self._db.unavailable(exc) from exc
        if row is None:  # expired and purged meanwhile: try once more
            return self.reserve(key, fingerprint, now)
        answer = None if row.status == 0 else Saved(row.status, bytes(row.body),
                                                    json.loads(row.headers))
        return _decide(row.fingerprint, fingerprint, answer)

    def save(self, key: str, answer: Saved) -> None:
        t = _TABLE
        try:
            with self._db.begin() as db:
                db.execute(update(t).where(t.c.key == key).values(
                    status=answer.status, body=answer.body, headers=json.dumps(answer.headers)))
        except SQLAlchemyError as exc:
            raise self._db.unavailable(exc) from exc

    def release(self, key: str) -> None:
        t = _TABLE
        try:
            with self._db.begin() as db:
                db.execute(delete(t).where(t.c.key == key, t.c.status == 0))
        except SQLAlchemyError as exc:
            raise self._db.unavailable(exc) from exc

