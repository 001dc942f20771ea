"""Signed-out console sessions, remembered until they would have expired, so that a copy of a
signed-out cookie is refused: in memory (`MemorySignOuts`, one process) or in a table of the
service's database (`SqlSignOuts`, `ecps_console_signout`, every server process using it; only a
digest of each session's nonce is kept)."""

from __future__ import annotations

import threading
from typing import Protocol

from sqlalchemy import Column, Engine, Float, MetaData, String, Table, delete, insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from adapters.api.settings import token_digest
from adapters.api.tables import Tables
from adapters.sql import SqlStore


class SignOuts(Protocol):
    """Remembers signed-out sessions (by nonce) until they would have expired."""

    def end(self, nonce: str, until: float, now: float) -> None:
        """Remember `nonce` as signed out until `until`."""
        ...

    def ended(self, nonce: str, now: float) -> bool:
        """Whether `nonce` was signed out (and would still be live)."""
        ...


class MemorySignOuts:
    """Signed-out sessions kept in memory, for one process's lifetime."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ended: dict[str, float] = {}

    def end(self, nonce: str, until: float, now: float) -> None:
        with self._lock:
            self._ended = {n: t for n, t in self._ended.items() if t >= now}
            self._ended[nonce] = until

    def ended(self, nonce: str, now: float) -> bool:
        with self._lock:
            return self._ended.get(nonce, now - 1) >= now


_META = MetaData()
_TABLE = Table(
    "ecps_console_signout", _META,
    Column("nonce", String(64), primary_key=True),  # SHA-256 of the session's nonce
    Column("until", Float, nullable=False, index=True),
)



class SqlSignOuts:
    """Signed-out sessions kept in the `ecps_console_signout` table (of a `SqlStore`'s database,
    on its connections; or an engine's, or a database URL's)."""

    def __init__(self, database: SqlStore | Engine | str) -> None:
        self._db = Tables(database, "console sign-outs table", _META)

    def close(self) -> None:
        """Close an engine made here (a given store or engine is left open)."""
        self._db.close()

    def end(self, nonce: str, until: float, now: float) -> None:
        t = _TABLE
        try:
            with self._db.begin() as db:
                db.execute(delete(t).where(t.c.until < now))
            try:
                with self._db.begin() as db:
                    db.execute(insert(t).values(nonce=token_digest(nonce), until=until))
            except IntegrityError:  # signed out before: already remembered
                pass
        except SQLAlchemyError as exc:
            raise self._db.unavailable(exc) from exc

    def ended(self, nonce: str, now: float) -> bool:
        t = _TABLE
        try:
            with self._db.begin() as db:
                found = db.execute(select(t.c.until).where(t.c.nonce == token_digest(nonce),
                                                           t.c.until >= now)).first()
        except SQLAlchemyError as exc:
            raise self._db.unavailable(exc) from exc
        return found is not None
