"""Activation requests per client address: at most `limit` in any `period` seconds (a sliding window).

`MemoryRequestRate` counts in one process. `SqlRequestRate` counts in tables of the service's
database (`ecps_request_address`, `ecps_request_slot`; addresses kept as keyed digests), each
request counted and compared in a write transaction serialised per address, so that every
server process (`--workers N`, or several servers on one database) counts together and the
limit holds for all of them at once (`create_app` picks it when the store is a `SqlStore`).
`counted` runs a request with its count: in the request's own write transaction on a SQLite
store (`SqlRequestRate.along`), else first, on its own.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    delete,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from adapters.api.tables import Tables
from adapters.sql import SqlStore
from adapters.sql.statements import Statement

ADDRESSES = 100_000  # addresses `MemoryRequestRate` remembers at most (the oldest are forgotten)
SWEEP_EVERY = 256  # requests counted by one process between two sweeps of expired rows


class RequestRate(Protocol):
    """Counts activation requests by client address."""

    def admit(self, address: str, now: float) -> int:
        """0 (and the request counted) if `address` is under its limit at `now` (seconds),
        else the seconds until it is (the request not counted)."""
        ...


class RateExceeded(Exception):
    """An address is past its limit: `wait` seconds until it is not."""

    def __init__(self, wait: int) -> None:
        super().__init__(f"too many requests from this address; retry in {wait} s")
        self.wait = wait


def _refused_until(free: float, now: float) -> RateExceeded:
    return RateExceeded(_wait(free, 0, now))


def _wait(oldest: float, period: int, now: float) -> int:
    return max(1, math.ceil(oldest + period - now))


def _refuse_past(wait: int) -> None:
    if wait:
        raise RateExceeded(wait)


@contextmanager
def counted(rates: RequestRate, address: str, now: float) -> Iterator[None]:
    """The block as one request of `address` at `now`, against `rates`: in the block's own
    write transaction where `rates` can (`SqlRequestRate.along`), else counted first; past
    the limit, `RateExceeded`."""
    along = getattr(rates, "along", None)
    if along is not None:
        with along(address, now):
            yield
        return
    _refuse_past(rates.admit(address, now))
    yield


class MemoryRequestRate:
    """The requests of the last `period` seconds, by address, in this process's memory."""

    def __init__(self, limit: int, period: int) -> None:
        self.limit, self.period = limit, period
        self._lock = threading.Lock()
        self._starts: dict[str, deque[float]] = {}

    def admit(self, address: str, now: float) -> int:
        with self._lock:
            times = self._starts.pop(address, None) or deque()
            while times and times[0] <= now - self.period:
                times.popleft()
            self._starts[address] = times  # re-inserted last: the dict keeps recent ones last
            if len(times) >= self.limit:
                return _wait(times[0], self.period, now)
            times.append(now)
            if len(self._starts) > ADDRESSES:
                del self._starts[next(iter(self._starts))]
            return 0


_META = MetaData()
_ADDRESSES = Table(  # one row per address: how many requests it was ever admitted (its turn)
    "ecps_request_address", _META,
    Column("address", String(64), primary_key=True),  # a keyed digest of the address
    Column("turns", Integer, nullable=False),
    Column("last_at", Float, nullable=False, index=True),
)
_SLOTS = Table(  # and the times of its last `limit` admitted requests, in a ring
    "ecps_request_slot", _META,
    Column("address", String(64), primary_key=True),
    Column("slot", Integer, primary_key=True, autoincrement=False),
    Column("at", Float, nullable=False, index=True),
)


def _taken(slot: Any, cutoff: Any) -> Any:
    """`slot` (an insert) taking the slot only if its time is `cutoff` or older: its time if so."""
    return slot.on_conflict_do_update(index_elements=["address", "slot"],
                                      set_={"at": slot.excluded.at},
                                      where=_SLOTS.c.at <= cutoff).returning(_SLOTS.c.at)


class SqlRequestRate:
    """Requests counted in two tables of a `SqlStore`'s database (or an engine's), shared by
    every process using it: per address, its number of admitted requests and the times of the
    last `limit` in a ring. A request is admitted when the slot it would take holds a time
    older than the period (the `limit`-th request before it left the window), so each call
    costs the same however many requests an address makes. Each call is one write
    transaction, serialised per address (on SQLite by the database's write lock, on PostgreSQL
    by the lock on the address's row), so that two processes never both take the last place.
    On PostgreSQL the turn and its slot are one statement (one round trip). Every
    `sweep_every` calls, rows whose times all left the window are removed. `digest` turns an
    address into what is stored: give a keyed one (e.g. the service's `keys.digest`), since a
    plain hash of an IPv4 address is reversed by trying them all."""

    def __init__(self, database: SqlStore | Engine, limit: int, period: int,
                 digest: Callable[[str], str]) -> None:
        self.limit, self.period = limit, period
        self._digest = digest
        self._db = Tables(database, "request rate tables", _META)
        self._store = database if isinstance(database, SqlStore) else None
        dialect = self._db.engine.dialect
        self._postgres = dialect.name == "postgresql"
        upsert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
        a, s = _ADDRESSES, _SLOTS
        address, now, cutoff = (bindparam("who", type_=String()), bindparam("now", type_=Float()),
                                bindparam("cutoff", type_=Float()))
        # the address's next turn, its row locked until the transaction ends
        turn = upsert(a).values(address=address, turns=1, last_at=now).on_conflict_do_update(
            index_elements=["address"], set_={"turns": a.c.turns + 1, "last_at": now},
        ).returning(a.c.turns)
        self._turn = Statement(turn, dialect)
        # the turn's slot, taken if its time left the window (or it is new): a row if admitted
        self._take = Statement(_taken(upsert(s).values(address=address, slot=bindparam("place"),
                                                         at=now), cutoff), dialect)
        # on PostgreSQL both in one statement: one round trip (SQLite runs no such CTE)
        turned = turn.cte("turned")
        self._turn_and_take = Statement(_taken(upsert(s).from_select(
            ["address", "slot", "at"],
            select(address, (turned.c.turns - 1) % bindparam("ring", type_=Integer()), now)),
            cutoff), dialect) if self._postgres else None
        self._give_back = Statement(update(a).where(a.c.address == address)
                                    .values(turns=a.c.turns - 1).returning(a.c.turns), dialect)
        self._held = Statement(select(s.c.at).where(s.c.address == address,
                                                    s.c.slot == bindparam("place")), dialect)
        # rows whose times all left the window: removing any of them changes no answer (rows
        # another transaction holds are left for a later sweep: a sweep never waits)
        self._sweeps = (
            Statement(delete(a).where(a.c.address.in_(
                select(a.c.address).where(a.c.last_at <= cutoff).limit(1000)
                .with_for_update(skip_locked=True).scalar_subquery())), dialect),
            Statement(delete(s).where(tuple_(s.c.address, s.c.slot).in_(
                select(s.c.address, s.c.slot).where(s.c.at <= cutoff).limit(1000)
                .with_for_update(skip_locked=True))), dialect),
        )
        self.sweep_every = SWEEP_EVERY
        self._calls = 0
        self._calls_lock = threading.Lock()
        # addresses this process saw refused: until when (no other process can free them sooner)
        self._refused: dict[str, float] = {}
        self._refused_lock = threading.Lock()

    def admit(self, address: str, now: float) -> int:
        key, cutoff = self._digest(address)[:64], now - self.period
        sweep = self._due_for_sweep()
        try:
            with self._writing() as conn:
                free = self._count(conn, key, now, cutoff)
            if sweep:
                self._sweep(cutoff)
        except SQLAlchemyError as exc:
            raise self._db.unavailable(exc) from exc
        return 0 if free is None else _wait(free, 0, now)

    @contextmanager
    def along(self, address: str, now: float) -> Iterator[None]:
        """The block as one request of `address` at `now`, counted in the first write
        transaction it commits on a SQLite store (one transaction less per request), or on its
        own when it ends without one; past the limit, `RateExceeded` (the block's transaction
        rolled back). On PostgreSQL, or a bare engine, counted on its own first: there the
        address's row would stay locked until the request's commit, so that one address's
        requests would wait for each other's commits (measured 10% slower). Once refused, an
        address is refused by this process without the database until its place comes free
        (no other process can free it sooner), before the block runs: past the limit, an
        address's requests cost no directory lookup nor any other work, but the first refused
        in each process."""
        key, cutoff = self._digest(address)[:64], now - self.period
        self._still_refused(key, now)
        if self._due_for_sweep():  # first, as `admit`: never a failure after the block's commit
            try:
                self._sweep(cutoff)
            except SQLAlchemyError as exc:
                raise self._db.unavailable(exc) from exc
        if self._store is None or self._postgres:
            self._alone(key, now, cutoff)
            yield
            return

        def rider(conn: Connection) -> None:
            free = self._count(conn, key, now, cutoff)
            if free is not None:
                raise self._remember(key, free, now)

        try:
            with self._store.along(rider) as ride:
                yield
        except RateExceeded:
            raise
        except BaseException:
            if not ride.done:  # failed before any commit: it counts all the same
                self._alone(key, now, cutoff)
            raise
        if not ride.done:
            self._alone(key, now, cutoff)

    def _alone(self, key: str, now: float, cutoff: float) -> None:
        try:
            with self._writing() as conn:
                free = self._count(conn, key, now, cutoff)
        except SQLAlchemyError as exc:
            raise self._db.unavailable(exc) from exc
        if free is not None:
            raise self._remember(key, free, now)

    def _still_refused(self, key: str, now: float) -> None:
        """`RateExceeded` if this process saw `key` refused until later than `now`."""
        free = self._refused.get(key)
        if free is None:
            return
        if now < free:
            raise _refused_until(free, now)
        with self._refused_lock:
            if self._refused.get(key) == free:
                del self._refused[key]

    def _remember(self, key: str, free: float, now: float) -> RateExceeded:
        with self._refused_lock:
            self._refused.pop(key, None)
            self._refused[key] = free  # last: the oldest go first past ADDRESSES
            if len(self._refused) > ADDRESSES:
                del self._refused[next(iter(self._refused))]
        return _refused_until(free, now)

    def _due_for_sweep(self) -> bool:
        with self._calls_lock:
            self._calls += 1
            return self._calls % self.sweep_every == 0

    def _count(self, conn: Connection, key: str, now: float, cutoff: float) -> float | None:
        """Count a request of `key` in `conn`'s write transaction: None, or (the turn given
        back) the time its place comes free."""
        if self._turn_and_take is not None:
            taken = self._turn_and_take.rows(conn, who=key, now=now, cutoff=cutoff,
                                             ring=self.limit)
        else:
            turn = int(self._turn.rows(conn, who=key, now=now)[0]["turns"])
            taken = self._take.rows(conn, who=key, place=(turn - 1) % self.limit,
                                    now=now, cutoff=cutoff)
        if taken:
            return None
        turn = int(self._give_back.rows(conn, who=key)[0]["turns"])  # the slot is held
        return float(self._held.rows(conn, who=key, place=turn % self.limit)[0]["at"]) + self.period

    def _sweep(self, cutoff: float) -> None:
        with self._writing() as conn:
            for statement in self._sweeps:
                statement.run(conn, cutoff=cutoff)

    def close(self) -> None:
        """Close an engine made here (a given store or engine is left open)."""
        self._db.close()

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A connection in a write transaction, committed when the block ends."""
        if self._store is not None:
            with self._store.writing("count a request") as conn:
                yield conn
            return
        with self._db.begin() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            yield conn
