"""Wrong operator tokens, counted: past `FAILURES` in `WINDOW` seconds from one address, that
address waits; past `FAILURES_ALL` from all addresses together (a local proxy may let a client
choose its address), every address does. The API's operator routes and the console's sign-in
count into one counter, so a guesser gains nothing by alternating them.

`Guesses` counts in memory (one process); `SqlGuesses` in a table of the service's database
(`ecps_operator_guess`, addresses kept as keyed digests), so that several server processes count
together (`create_app` picks it when the store is a `SqlStore`, with the service's key).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from sqlalchemy import (
    Column,
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


class GuessCounter(Protocol):
    """Counts wrong operator tokens by address and says how long an address must wait."""

    def wait(self, address: str) -> int:
        """Seconds `address` must wait before its token is even compared; 0 if none."""
        ...

    def failed(self, address: str) -> None:
        """Count a wrong token given from `address`."""
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
        counts: list[tuple[int, float | None]] = []
        with self._lock:
            for key in ("@" + address, _EVERYONE):
                failed = self._failed.get(key) or deque()
                while failed and failed[0] <= now - WINDOW:
                    failed.popleft()
                counts.append((len(failed), failed[0] if failed else None))
        (mine, first_mine), (everyone, first_all) = counts
        return _held_off(mine, first_mine, everyone, first_all, now)

    def failed(self, address: str) -> None:
        """Count a wrong token given from `address`."""
        now, key = self._clock(), "@" + address
        with self._lock:
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

    def close(self) -> None:
        """Close an engine made here (a given store or engine is left open)."""
        self._db.close()

    def wait(self, address: str) -> int:
        t, now = _TABLE, self._clock()
        mine = t.c.address == self._digest(address)[:64]
        counted = select(func.coalesce(func.sum(case((mine, 1), else_=0)), 0),
                         func.min(case((mine, t.c.at), else_=None)),
                         func.count(), func.min(t.c.at)).where(t.c.at > now - WINDOW)
        try:
            with self._db.begin() as db:
                row = db.execute(counted).one()
        except SQLAlchemyError as exc:
            raise self._db.unavailable(exc) from exc
        return _held_off(int(row[0]), row[1], int(row[2]), row[3], now)

    def failed(self, address: str) -> None:
        t, now = _TABLE, self._clock()
        try:
            with self._db.begin() as db:
                db.execute(delete(t).where(t.c.at <= now - WINDOW))
                db.execute(_INSERT, {"address": self._digest(address)[:64], "at": now})
        except SQLAlchemyError as exc:
            raise self._db.unavailable(exc) from exc
