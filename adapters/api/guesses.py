"""Wrong operator tokens, counted: past `FAILURES` in `WINDOW` seconds from one address, that
address waits; past `FAILURES_ALL` from all addresses together (a local proxy may let a client
choose its address), every address does. The API's operator routes and the console's sign-in
count into one counter, so a guesser gains nothing by alternating them. A token is counted
as wrong before it is compared (`guess`, which also says whether the address must wait first,
in one step) and the count is taken back if it was right (`right`): concurrent guesses from
one address compare at most `FAILURES` tokens, never one more.

`Guesses` counts in memory (one process); `SqlGuesses` in a table of the service's database
(`ecps_operator_guess`, addresses kept as keyed digests), so that several server processes count
together (`create_app` picks it when the store is a `SqlStore`, with the service's key).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    case,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.exc import SQLAlchemyError

from adapters.api.settings import token_digest
from adapters.api.tables import Tables
from adapters.sql import SqlStore

FAILURES = 5  # wrong tokens an address may give in WINDOW seconds
FAILURES_ALL = 100  # and all addresses together
WINDOW = 60
ADDRESSES = 10_000  # addresses whose failures are remembered at once (the oldest are forgotten)
_EVERYONE = ""  # the key of the failures of all addresses
_PG_LOCK = 0x6563_7073_6775  # the advisory lock that PostgreSQL sessions' guesses take in turn


class GuessCounter(Protocol):
    """Counts wrong operator tokens by address and says how long an address must wait."""

    def wait(self, address: str) -> int:
        """Seconds `address` must wait before its token is even compared; 0 if none."""
        ...

    def failed(self, address: str) -> None:
        """Count a wrong token given from `address`."""
        ...

    def guess(self, address: str) -> int:
        """Seconds `address` must wait before its token is even compared; 0 when it may be
        compared, the token then counted as wrong (in the same step) until `right` says not."""
        ...

    def right(self, address: str) -> None:
        """Take back the count of a token `guess` let through from `address`: it was right."""
        ...


def _held_off(mine: int, first_mine: float | None, everyone: int, first_all: float | None,
              now: float) -> int:
    """Seconds to wait, from the failures in the window (this address's, everyone's)."""
    for count, first, bound in ((mine, first_mine, FAILURES), (everyone, first_all, FAILURES_ALL)):
        if count >= bound and first is not None:
            return max(1, math.ceil(first + WINDOW - now))
    return 0


class Guesses:
    """The recent wrong operator tokens, by address, in memory; `clock` (seconds) dates them."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._failed: dict[str, deque[float]] = {}

    def wait(self, address: str) -> int:
        """Seconds `address` must wait before its token is even compared; 0 if none."""
        now = self._clock()
        with self._lock:
            return self._wait(address, now)

    def failed(self, address: str) -> None:
        """Count a wrong token given from `address`."""
        now = self._clock()
        with self._lock:
            self._count(address, now)

    def guess(self, address: str) -> int:
        """`wait`, and when it is 0 the token counted as wrong, under one lock."""
        now = self._clock()
        with self._lock:
            wait = self._wait(address, now)
            if not wait:
                self._count(address, now)
            return wait

    def right(self, address: str) -> None:
        """Take back the newest count of `address` (its token was right)."""
        with self._lock:
            mine = self._failed.get("@" + address)
            if mine:
                at = mine.pop()
                everyone = self._failed.get(_EVERYONE)
                if everyone is not None and at in everyone:
                    everyone.remove(at)

    def _wait(self, address: str, now: float) -> int:
        counts: list[tuple[int, float | None]] = []
        for key in ("@" + address, _EVERYONE):
            failed = self._failed.get(key) or deque()
            while failed and failed[0] <= now - WINDOW:
                failed.popleft()
            counts.append((len(failed), failed[0] if failed else None))
        (mine, first_mine), (everyone, first_all) = counts
        return _held_off(mine, first_mine, everyone, first_all, now)

    def _count(self, address: str, now: float) -> None:
        key = "@" + address
        if key not in self._failed and len(self._failed) >= ADDRESSES:
            self._failed.pop(next(k for k in self._failed if k != _EVERYONE))
        for k in (key, _EVERYONE):
            self._failed.setdefault(k, deque()).append(now)


_META = MetaData()
_TABLE = Table(
    "ecps_operator_guess", _META,
    Column("n", Integer, primary_key=True, autoincrement=True),
    Column("address", String(64), nullable=False),  # a digest of the address, not the address
    Column("at", Float, nullable=False, index=True),
)
_INSERT = insert(_TABLE)



class SqlGuesses:
    """Wrong operator tokens kept in the `ecps_operator_guess` table (of a `SqlStore`'s database,
    on its connections; or an engine's, or a database URL's), shared by every process using
    it; `clock` is wall time in seconds (the processes' common clock). Addresses are stored as
    `digest(address)`: give a keyed one (e.g. the service's `keys.digest`), since a plain hash
    of an IPv4 address is reversed by trying them all."""

    def __init__(self, database: SqlStore | Engine | str,
                 clock: Callable[[], float] = time.time,
                 digest: Callable[[str], str] | None = None) -> None:
        self._clock = clock
        self._digest = digest or token_digest
        self._db = Tables(database, "operator guesses table", _META)
        self._store = database if isinstance(database, SqlStore) else None

    def close(self) -> None:
        """Close an engine made here (a given store or engine is left open)."""
        self._db.close()

    def wait(self, address: str) -> int:
        now = self._clock()
        try:
            with self._db.begin() as db:
                return self._wait(db, self._digest(address)[:64], now)
        except SQLAlchemyError as exc:
            raise self._db.unavailable(exc) from exc

    def failed(self, address: str) -> None:
        now = self._clock()
        try:
            with self._db.begin() as db:
                self._count(db, self._digest(address)[:64], now)
        except SQLAlchemyError as exc:
            raise self._db.unavailable(exc) from exc

    def guess(self, address: str) -> int:
        """`wait`, and when it is 0 the token counted as wrong, in one write transaction that
        the guesses of every process take in turn (SQLite's write lock, or an advisory lock)."""
        key, now = self._digest(address)[:64], self._clock()
        try:
            with self._writing() as db:
                wait = self._wait(db, key, now)
                if not wait:
                    self._count(db, key, now)
                return wait
        except SQLAlchemyError as exc:
            raise self._db.unavailable(exc) from exc

    def right(self, address: str) -> None:
        """Take back the newest count of `address` (its token was right)."""
        t = _TABLE
        newest = select(func.max(t.c.n)).where(t.c.address == self._digest(address)[:64])
        try:
            with self._writing() as db:
                db.execute(delete(t).where(t.c.n == newest.scalar_subquery()))
        except SQLAlchemyError as exc:
            raise self._db.unavailable(exc) from exc

    def _wait(self, db: Connection, key: str, now: float) -> int:
        t = _TABLE
        mine = t.c.address == key
        counted = select(func.coalesce(func.sum(case((mine, 1), else_=0)), 0),
                         func.min(case((mine, t.c.at), else_=None)),
                         func.count(), func.min(t.c.at)).where(t.c.at > now - WINDOW)
        row = db.execute(counted).one()
        return _held_off(int(row[0]), row[1], int(row[2]), row[3], now)

    def _count(self, db: Connection, key: str, now: float) -> None:
        t = _TABLE
        db.execute(delete(t).where(t.c.at <= now - WINDOW))
        db.execute(_INSERT, {"address": key, "at": now})

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A write transaction that other guesses wait for, committed when the block ends."""
        if self._store is not None:
            with self._store.writing("count an operator token") as conn:
                self._serialise(conn)
                yield conn
            return
        with self._db.begin() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            self._serialise(conn)
            yield conn

    @staticmethod
    def _serialise(conn: Connection) -> None:
        if conn.dialect.name == "postgresql":  # SQLite's write lock serialises already
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK})")
