"""The `jti` of every device proof seen, remembered for the proof window, so none is used twice.

`MemoryReplay` lives as long as its app; `SqlReplay` keeps them in a small table
(`ecps_proof_jti`) of the service's database, shared by several server processes
(`create_app` picks it, on the store's own connections, when the store is a `SqlStore`).
Only a digest of (key thumbprint, jti) is kept.
"""

from __future__ import annotations

import threading
from typing import Protocol

from sqlalchemy import Column, Engine, Float, MetaData, String, Table, delete, insert
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from adapters.api.tables import Tables
from adapters.sql import SqlStore

PURGE_EVERY = 256  # first uses between two purges of the expired entries


class ReplayStore(Protocol):
    """Remembers proof identifiers until they expire."""

    def first_use(self, key: str, now: float, until: float) -> bool:
        """True (and `key` remembered until `until`) if `key` was not seen before, else False."""
        ...


class MemoryReplay:
    """Proof identifiers kept in memory, for one app's lifetime."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, float] = {}
        self._uses = 0

    def first_use(self, key: str, now: float, until: float) -> bool:
        with self._lock:
            self._uses += 1
            if self._uses % PURGE_EVERY == 0:
                self._seen = {k: t for k, t in self._seen.items() if t > now}
            expires = self._seen.get(key)
            if expires is not None and expires > now:
                return False
            self._seen[key] = until
            return True


_META = MetaData()
_TABLE = Table(
    "ecps_proof_jti", _META,
    Column("key", String(64), primary_key=True),
    Column("expires", Float, nullable=False, index=True),
)
_INSERT = insert(_TABLE)  # built once: this runs on every app call


class SqlReplay:
    """Proof identifiers kept in the `ecps_proof_jti` table (of a `SqlStore`'s database, on its
    connections; or an engine's, or a database URL's)."""

    def __init__(self, database: SqlStore | Engine | str) -> None:
        self._lock = threading.Lock()
        self._uses = 0
        self._db = Tables(database, "proof table", _META)

    def close(self) -> None:
        """Close an engine made here (a given store or engine is left open)."""
        self._db.close()

    def first_use(self, key: str, now: float, until: float) -> bool:
        t = _TABLE
        with self._lock:
            self._uses += 1
            purge = self._uses % PURGE_EVERY == 1
        try:
            if purge:
                with self._db.begin() as db:
                    db.execute(delete(t).where(t.c.expires <= now))
            try:
                with self._db.begin() as db:
                    db.execute(_INSERT, {"key": key, "expires": until})
            except IntegrityError:
                return self._take_over_expired(key, now, until)
            return True
        except SQLAlchemyError as exc:
            raise self._db.unavailable(exc) from exc

    def _take_over_expired(self, key: str, now: float, until: float) -> bool:
        """A stored but expired key counts as new (the purge had not run yet)."""
        t = _TABLE
        with self._db.begin() as db:
            gone = db.execute(delete(t).where(t.c.key == key, t.c.expires <= now)).rowcount
        if not gone:
            return False
        try:
            with self._db.begin() as db:
                db.execute(_INSERT, {"key": key, "expires": until})
        except IntegrityError:
            return False
        return True
