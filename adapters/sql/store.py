"""`SqlStore`: the durable `Store` on SQLite (embedded default) or PostgreSQL (psycopg 3).

Tables are SQLModel's (`adapters.sql.schema`), brought up to date by `adapters.sql.migrate`;
statements are SQLAlchemy Core (`adapters.sql.statements`), compiled once and run on the
pooled connection's driver cursor (`adapters.sql.direct`) in the `Connection`'s transaction,
one per call, a commit's as one batch (`adapters.sql.batch`: sent together on PostgreSQL);
rows become records in `adapters.sql.codec`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Collection, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError, StatementError
from sqlalchemy.pool import NullPool, StaticPool

from adapters.sql import codec, migrate
from adapters.sql.batch import batch
from adapters.sql.checkpoints import BACKSTOP_PAGES, Checkpoints
from adapters.sql.direct import begin_immediate
from adapters.sql.fair import FairSemaphore
from adapters.sql.logins import LoginStatements, LoginTables, write_logins
from adapters.sql.statements import FIXED, Statements
from adapters.sql.writers import Writers
from workflow.definition import State
from workflow.domain import Activation, AuditEvent, Change, OutboxMessage, Step
from workflow.errors import ConcurrencyConflict, StorageError

_RETRYABLE = {"40001", "40P01"}  # serialization failure, deadlock: as good as a conflict
_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")
_NO_LOCK = nullcontext()  # reusable: it holds nothing


@dataclass(slots=True)
class Ride:
    """Statements that go last in a later write transaction (`SqlStore.along`)."""

    rider: Callable[[Connection], object]
    done: bool = False


class SqlStore(LoginTables):
    """A `Store` over an SQLAlchemy URL: `sqlite:///path` or `postgresql+psycopg://...`.

    SQLite runs in WAL mode with a busy timeout and takes the write lock when a write
    begins (`BEGIN IMMEDIATE`), so concurrent writers queue instead of failing;
    `synchronous="NORMAL"` survives process crashes, `"FULL"` also power loss. PostgreSQL
    honours the URL's options (e.g. `?options=-csearch_path%3Dschema`) and claims outbox
    rows with `FOR UPDATE SKIP LOCKED`. The schema is created on first use; a database of
    another schema version is refused with `StorageError`. Thread-safe: at most
    `3 * pool_size` connections in use at once, more threads wait their turn (first come,
    first served, up to `busy_timeout` seconds); up to `pool_size` stay open between calls
    (a broken one is dropped, the others are closed). Fork-safe: a forked child opens
    connections of its own (on SQLite, fork while no other thread is inside a store call:
    SQLite's own locks are not reset in the child).
    """

    def __init__(self, url: str, *, pool_size: int = 5, busy_timeout: float = 30.0,
                 synchronous: str = "NORMAL", echo: bool = False) -> None:
        if synchronous.upper() not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {', '.join(_SYNCHRONOUS)}")
        if type(pool_size) is not int or pool_size < 1:
            raise ValueError(f"pool_size must be a whole number of at least 1, not {pool_size!r}")
        parsed = driver_url(url)
        self.dialect_name = parsed.get_backend_name()
        self.where = shown_url(parsed)
        self._sqlite = self.dialect_name == "sqlite"
        memory = self._sqlite and parsed.database in (None, "", ":memory:")
        sqlite_file = self._sqlite and not memory
        self._serial: AbstractContextManager[Any] = threading.RLock() if memory else nullcontext()
        # SQLite has one writer at a time: writers queue on a lock, and processes on a file
        # lock, instead of polling the database's lock with the busy handler's growing sleeps
        self._writing: AbstractContextManager[Any] = (
            Writers(None if str(parsed.database).startswith("file:") else str(parsed.database),
                    busy_timeout) if sqlite_file else nullcontext())
        self._ready = False
        self._ready_lock = threading.Lock()
        try:
            self.engine = _engine(parsed, self._sqlite, memory, busy_timeout,
                                  synchronous.upper(), echo)
        except (SQLAlchemyError, ImportError) as exc:
            raise StorageError(f"cannot open {self.where}: {type(exc).__name__}") from exc
        # a file's checkpoints run on a thread of their own, on a connection of their own
        self._checkpoints = Checkpoints(connect=self.engine.raw_connection) if sqlite_file else None
        self._driver_error: type[Exception] = self.engine.dialect.loaded_dbapi.Error
        self._sql = Statements(self.engine.dialect)
        self._logins = LoginStatements(self.engine.dialect)
        self._held = threading.local()  # this thread's `unit()` connection, last head read
        # connections kept open between calls (a checkout and return cost more than a statement)
        self._kept: list[Connection] = []
        self._keep, self._in_use = pool_size, 3 * pool_size
        self._places = FairSemaphore(self._in_use)  # connections in use: first come, first served
        self._wait = busy_timeout
        self._forked: list[Connection] = []  # a parent's, kept from being closed or reused
        self._forks = 0  # forks this store went through (in a child: one more than its parent)
        _forget_connections_after_fork(self)

    # -- reads --------------------------------------------------------------------------------

    def get(self, activation_id: str) -> Activation | None:
        with self._driver("get", write=False) as cursor:
            rows = self._sql.get_with_head.rows(cursor, id=activation_id)
        if not rows:
            return None
        row = rows[0]
        seq, digest = row.pop("head_seq"), row.pop("head_hash")
        # kept for this thread's next store call if it is `trail_head` of the same activation
        # (the trust check): any other call forgets it, so it always goes with the row just read
        self._held.head = (activation_id, None if seq is None else (
            codec.whole(seq, f"audit event of activation {activation_id}"), str(digest)))
        return codec.activation(row)

    def find(self, subject: str, states: Collection[State]) -> list[Activation]:
        if not states:
            return []
        with self._driver("find", write=False) as cursor:
            wanted = {f"state{i}": s for i, s in enumerate(sorted({str(s) for s in states}))}
            rows = self._sql.find(len(wanted)).rows(cursor, subject=subject, **wanted)
        return [codec.activation(r) for r in rows]

    def requests_since(self, subject: str, since: datetime) -> list[datetime]:
        with self._driver("requests_since", write=False) as cursor:
            rows = self._sql.requests_since.rows(cursor, subject=subject, since=since)
        return [codec.created_at(r) for r in rows]

    def turn(self, subject: str) -> int:
        with self._driver("turn", write=False) as cursor:
            rows = self._sql.turn.rows(cursor, subject=subject)
        return codec.whole(rows[0]["turn"], "identifier turn") if rows else 0

    def due_for_expiry(self, now: datetime, limit: int) -> list[str]:
        with self._driver("due_for_expiry", write=False) as cursor:
            rows = self._sql.due.rows(cursor, now=now, limit=limit)
        return [r["id"] for r in rows]

    def outbox_of(self, activation_id: str) -> list[OutboxMessage]:
        with self._driver("outbox_of", write=False) as cursor:
            rows = self._sql.outbox_of.rows(cursor, activation_id=activation_id)
        return [codec.outbox(r) for r in rows]

    def audit_trail(self, activation_id: str) -> list[AuditEvent]:
        with self._driver("audit_trail", write=False) as cursor:
            rows = self._sql.audit_trail.rows(cursor, activation_id=activation_id)
        return [codec.audit(r) for r in rows]

    def trail_head(self, activation_id: str) -> tuple[int, str] | None:
        kept: tuple[str, tuple[int, str] | None] | None = getattr(self._held, "head", None)
        if kept is not None:
            self._held.head = None  # used once: a later call reads again
            if kept[0] == activation_id:
                return kept[1]
        with self._driver("trail_head", write=False) as cursor:
            rows = self._sql.trail_head.rows(cursor, activation_id=activation_id)
        return (codec.whole(rows[0]["seq"], f"audit event of {activation_id}"),
                str(rows[0]["hash"])) if rows else None

    def refusal_head(self, subject: str) -> tuple[int, str] | None:
        with self._driver("refusal_head", write=False) as cursor:
            rows = self._sql.refusal_head.rows(cursor, subject=subject)
        return (codec.whole(rows[0]["seq"], "refused request's audit event"),
                str(rows[0]["hash"])) if rows else None

    def activation_ids(self, after: str | None, limit: int) -> list[str]:
        with self._driver("activation_ids", write=False) as cursor:
            rows = self._sql.ids_after.rows(cursor, after=after or "", limit=limit)
        return [str(r["id"]) for r in rows]

    def list_activations(self, limit: int = 100,
                         before: tuple[datetime, str] | None = None) -> list[Activation]:
        with self._driver("list_activations", write=False) as cursor:
            rows = (self._sql.newest.rows(cursor, limit=limit) if before is None else
                    self._sql.older.rows(cursor, limit=limit, before_at=before[0], before_id=before[1]))
        return [codec.activation(r) for r in rows]

    def steps(self, activation_id: str, after: int = 0, limit: int = 100) -> list[Step]:
        with self._driver("steps", write=False) as cursor:
            rows = self._sql.steps.rows(cursor, activation_id=activation_id, after=after, limit=limit)
        return [codec.step(r) for r in rows]

    # -- writes -------------------------------------------------------------------------------

    def commit(self, change: Change) -> None:
        sql = self._sql
        writes = sorted(change.writes, key=lambda w: w.activation.id)  # one lock order
        outbox = {m.id: m for m in change.outbox}.values()
        # logins go through `Connection.execute`, which reads each answer as it comes: no pipeline
        with self._driver("commit", write=True) as conn, batch(conn, pipeline=not change.logins) as b:
            for t in sorted(change.turns, key=lambda t: t.subject):  # turns first: one lock order
                turned = "another change of this identifier came first"
                if t.expected == 0:
                    b.expect_one(turned, sql.first_turn, subject=t.subject)
                else:
                    b.expect_one(turned, sql.next_turn, who=t.subject, expected=t.expected)
            for w in writes:
                row = codec.activation_row(w.activation)
                moved = f"activation {w.activation.id} changed meanwhile"
                if w.expected_version is None:
                    b.expect_one(moved, sql.insert, **row)
                    continue
                keys = {"w_id": row.pop("id"), "w_expected": w.expected_version}
                if b.pipelined:  # PostgreSQL: its count is read with the others'
                    b.expect_one(moved, sql.update_all, **keys, **row)
                    continue
                kept = {k: v for k, v in row.items() if k not in FIXED}
                if not (sql.update.run(conn, **keys, w_subject=row["subject"],
                                       w_created=row["created_at"], **kept)
                        or sql.update_all.run(conn, **keys, **row)):
                    raise ConcurrencyConflict(moved)
            if change.logins:
                write_logins(conn, self._logins, change.logins)
            if outbox:
                b.send_many(sql.upsert, [codec.outbox_row(m) for m in outbox])
            if change.audit:
                b.send_many(sql.append, [codec.audit_row(e) for e in change.audit])
            if change.answer is not None:
                b.send(sql.answer, **codec.answer_row(change.answer))

    def claim_outbox(self, now: datetime, limit: int, lease: timedelta) -> list[OutboxMessage]:
        with self._driver("claim_outbox", write=True, alone=True) as cursor:
            rows = self._sql.claim.rows(cursor, now=now, until=now + lease, limit=limit)
        rows.sort(key=lambda r: (r["due_at"], r["created_at"], r["n"]))
        return [codec.outbox(r) for r in rows]

    # -- lifecycle ----------------------------------------------------------------------------

    def ensure_schema(self) -> tuple[str | None, str]:
        """Bring the database to this release's schema (creating it when empty) and check it;
        (the schema revision it was at, the one it is at now). Runs once per store."""
        if self._ready:
            return migrate.HEAD, migrate.HEAD
        with self._ready_lock:
            if self._ready:
                return migrate.HEAD, migrate.HEAD
            try:
                with self._serial:
                    conn = self._connect("open the database")
                    try:
                        with conn.begin():
                            if self._sqlite:
                                conn.exec_driver_sql("BEGIN IMMEDIATE")
                            moved = migrate.upgrade(conn, self.where)
                            migrate.check(conn, self.where)
                    finally:
                        self._release(conn)  # kept: the first call after it needs one
            except SQLAlchemyError as exc:
                raise self._translate("open the database", getattr(exc, "orig", exc)) from exc
            self._ready = True
            return moved

    def settle(self, timeout: float = 30.0) -> bool:
        """Whether the log of a SQLite file has been copied back into the database as far as
        the checkpoints asked for so far go (they run on a thread of their own), waiting up to
        `timeout` seconds; True at once for PostgreSQL and in-memory SQLite."""
        return self._checkpoints is None or self._checkpoints.settle(timeout)

    def close(self) -> None:
        """Close every pooled connection; the store reconnects if used again. `StorageError`
        inside a write of this thread (it would wait for that write, which waits for it)."""
        if getattr(self._held, "writing", False):
            raise StorageError("close the store after the write this thread is inside, not in it")
        if self._checkpoints is not None:
            self._checkpoints.close()
        kept, self._kept = self._kept, []
        for conn in kept:
            with suppress(Exception):
                conn.close()
        self.engine.dispose()
        if isinstance(self._writing, Writers):
            self._writing.close()

    def __enter__(self) -> SqlStore:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SqlStore({self.where!r})"

    # -- plumbing -----------------------------------------------------------------------------

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """One of the store's connections (kept between calls), also for tables of its database
        that are not the store's own (the HTTP layer's proofs, idempotency keys and guesses):
        no connection is opened per call. What the block leaves uncommitted is rolled back."""
        with self._serial:
            conn = self._connect("open a connection")
            forks = self._forks
            try:
                yield conn
            finally:
                if self._forks == forks:  # a child forked in the block leaves the parent's alone
                    self._release(conn)

    def writing(self, what: str = "write") -> AbstractContextManager[Connection]:
        """One of the store's connections in a write transaction, committed when the block ends
        (rolled back on error), also for tables of its database that are not the store's own:
        on SQLite it holds the database's write lock (`BEGIN IMMEDIATE`), queued behind this
        process's other writers as the store's own commits are. Errors are `StorageError` (or
        `ConcurrencyConflict`) naming `what`."""
        return self._driver(what, write=True)

    @contextmanager
    def along(self, rider: Callable[[Connection], object]) -> Iterator[Ride]:
        """Make `rider(connection)` the last statements of the next write transaction this
        thread commits on the store within the block, as a part of it: it commits with that
        transaction, or goes again in the next one if that one is rolled back (an exception
        it raises rolls its transaction back and comes out of the store call as it is).
        `Ride.done` says whether a transaction committed with it; it rides at most once."""
        before = getattr(self._held, "ride", None)
        ride = self._held.ride = Ride(rider)
        try:
            yield ride
        finally:
            self._held.ride = before

    def unit(self) -> AbstractContextManager[None]:
        """Run this thread's store calls in the block on one pooled connection.

        On PostgreSQL the reads join the transaction that the next `commit` closes, so a
        request that reads, then commits, is one transaction (a refused commit rolls it back;
        later reads begin another). On SQLite the reads stay outside the write lock, which
        `commit` still takes last. Nested units are the outer one.
        """
        return nullcontext() if getattr(self._held, "conn", None) is not None else self._unit()

    @contextmanager
    def _unit(self) -> Iterator[None]:
        self.ensure_schema()
        with self.connection() as conn:  # rolls back what the block read after its last commit
            self._held.conn = conn
            try:
                yield
            finally:
                self._held.conn = None

    @contextmanager
    def _driver(self, what: str, *, write: bool, alone: bool = False) -> Iterator[Connection]:
        """A connection in one transaction (reads, and a write `alone` in its statement:
        autocommit on PostgreSQL, no BEGIN and COMMIT round trips), errors translated after a
        rollback (`_failure`); inside `unit()`, the unit's connection."""
        self._held.head = None  # the head kept by `get` serves only the very next call
        held: Connection | None = getattr(self._held, "conn", None)
        if held is not None:
            with self._transaction(what, held, write):
                yield held
            return
        self.ensure_schema()
        with self._serial:  # `connection()` inline: this runs on every store call
            conn = self._connect(what)
            autocommit = not self._sqlite and (alone or not write)
            driver: Any = conn.connection.dbapi_connection
            try:
                if autocommit:  # one statement on its own: no transaction to open and close
                    driver.autocommit = True
                with self._transaction(what, conn, write):
                    yield conn
            finally:
                if autocommit:
                    try:
                        driver.autocommit = False
                    except Exception:  # never kept as it is: closed instead
                        conn.invalidate()
                self._release(conn)

    @contextmanager
    def _transaction(self, what: str, conn: Connection, write: bool) -> Iterator[None]:
        """The block as one transaction of `conn`: a write waits its turn, begins (SQLite's
        `BEGIN IMMEDIATE`: the driver leaves BEGIN to us), runs this thread's rider last
        (`along`: rows it locks stay locked for the commit only) and commits; errors are
        translated after a rollback (`_failure`)."""
        if write:
            self._one_write_at_a_time(what)
        try:
            with self._writing if write else _NO_LOCK:
                try:
                    if write and self._sqlite:
                        begin_immediate(conn)
                    yield
                    if write:
                        ride = self._ride(conn)
                        conn.commit()
                        if ride is not None:
                            ride.done = True
                except BaseException as exc:
                    failure = self._failure(what, conn, exc)
                    if failure is None:
                        raise
                    raise failure from exc
        finally:
            if write:
                self._held.writing = False
        if write and self._checkpoints is not None:  # the turn is over: others write meanwhile
            self._checkpoints.after_commit(conn.connection.dbapi_connection)

    def _one_write_at_a_time(self, what: str) -> None:
        """Mark this thread as writing; `StorageError` if it already is: a write begun inside
        another of the same thread would wait for that one, which waits for it, forever."""
        if getattr(self._held, "writing", False):
            raise StorageError(f"{what}: this thread is already inside a write of this store "
                               "(a `writing()` block, or a rider of `along`); end that one first")
        self._held.writing = True

    def _ride(self, conn: Connection) -> Ride | None:
        """Run this thread's rider in `conn`'s write, if it has one still to go: that ride."""
        ride: Ride | None = getattr(self._held, "ride", None)
        if ride is None or ride.done:
            return None
        ride.rider(conn)
        return ride

    def _connect(self, what: str) -> Connection:
        """A place among the connections in use (in turn), then a kept connection or a new one
        from the pool; `_release` gives both back."""
        if not self._places.acquire(self._wait):
            raise StorageError(f"{what}: no database connection came free within "
                               f"{self._wait:g} s ({self._in_use} in use)")
        with suppress(IndexError):
            return self._kept.pop()  # atomic: no two threads get the same one
        try:
            return self.engine.connect()
        except BaseException as exc:
            self._places.release()
            if isinstance(exc, SQLAlchemyError):
                raise self._translate(what, getattr(exc, "orig", exc)) from exc
            raise

    def _release(self, conn: Connection) -> None:
        """Give back `conn`'s place, and keep it for the next call (at most `pool_size` kept)
        with its transaction rolled back; a connection that broke, or one too many, is closed."""
        try:
            try:
                if conn.in_transaction():
                    conn.rollback()
                driver: Any = conn.connection.dbapi_connection
                keep = (not conn.invalidated and len(self._kept) < self._keep
                        and not getattr(driver, "closed", False)  # psycopg: the link is lost
                        and getattr(driver, "autocommit", False) is not True)
            except Exception:  # a connection that cannot be rolled back is not kept
                keep = False
            if keep:
                self._kept.append(conn)
                return
            with suppress(Exception):
                conn.close()
        finally:
            self._places.release()

    def _after_fork(self) -> None:
        """In a forked child: never use nor close the parent's connections (kept, or held by a
        unit), and start with locks of its own (a parent's thread may have held one)."""
        self._forks += 1
        self._forked.extend(self._kept)
        self._kept = []
        self._held = threading.local()
        self._places = FairSemaphore(self._in_use)
        self._ready_lock = threading.Lock()
        if isinstance(self._writing, Writers):
            self._writing.after_fork()
        if not isinstance(self._serial, nullcontext):
            self._serial = threading.RLock()

    def _failure(self, what: str, conn: Connection, exc: BaseException) -> Exception | None:
        """Roll back; the `StorageError` / `ConcurrencyConflict` that `exc` is (None: as it is)."""
        with suppress(Exception):
            conn.rollback()
        if isinstance(exc, StatementError) and isinstance(exc.orig, (ValueError, TypeError,
                                                                     OverflowError)):
            return StorageError(f"{what}: a value cannot be stored or read "
                                f"({type(exc.orig).__name__}: {exc.orig})")
        if isinstance(exc, OverflowError):  # the driver's: a number too large for its column
            return StorageError(f"{what}: a value cannot be stored ({type(exc).__name__})")
        if isinstance(exc, DBAPIError):
            return self._translate(what, exc.orig)
        if isinstance(exc, (self._driver_error, SQLAlchemyError)):  # driver: a statement on its cursor
            return self._translate(what, exc)
        return None

    def _translate(self, what: str, exc: object) -> Exception:
        if getattr(exc, "sqlstate", None) in _RETRYABLE or _duplicate(exc):
            return ConcurrencyConflict(f"{what}: the database refused a concurrent change")
        return StorageError(f"{what} failed on {self.where}: {_reason(exc)}")


def _duplicate(exc: object) -> bool:
    """Whether a unique index refused a row: an audit event chained after a head another commit
    took first (every other insert of an existing key is an upsert or a checked conflict)."""
    return (getattr(exc, "sqlstate", None) == "23505"
            or getattr(exc, "sqlite_errorname", None) == "SQLITE_CONSTRAINT_UNIQUE")


_SECRET_OPTIONS = ("pass", "secret", "token")  # query options whose values are hidden when shown


def shown_url(url: str | URL) -> str:
    """`url` fit to show: its password, and the values of query options that may hold one
    (`password`, `sslpassword`, ...), as `***`."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "(not a database URL)"
    query = {k: ("***" if any(w in k.lower() for w in _SECRET_OPTIONS) else v)
             for k, v in parsed.query.items()}
    return parsed.set(query=query).render_as_string(hide_password=True).replace("%2A%2A%2A", "***")


def driver_url(url: str) -> URL:
    """The URL with its driver: pysqlite for SQLite, psycopg 3 for PostgreSQL (the only ones)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ValueError("not a database URL (sqlite:///path or postgresql+psycopg://...)") from exc
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgresql", "postgres") and driver in ("", "psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and driver in ("", "pysqlite"):
        return parsed
    raise ValueError(f"SqlStore runs on sqlite:///path or postgresql+psycopg://..., "
                     f"not {parsed.drivername!r}")


def _engine(url: URL, is_sqlite: bool, memory: bool, busy_timeout: float,
            synchronous: str, echo: bool) -> Engine:
    """The engine: it opens connections and closes them; the store keeps them (`_kept`) and
    limits how many are in use (`_places`), so it needs no pool of its own (but one shared
    connection for an in-memory SQLite database)."""
    if not is_sqlite:
        return create_engine(url, poolclass=NullPool, echo=echo)
    args: dict[str, Any] = {"check_same_thread": False, "timeout": busy_timeout}
    pool = StaticPool if memory else NullPool
    engine = create_engine(url, connect_args=args, poolclass=pool, echo=echo)
    timeout_ms = int(busy_timeout * 1000)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the store emits BEGIN itself
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {timeout_ms}")
        _use_wal(cursor, busy_timeout)
        cursor.execute(f"PRAGMA synchronous = {synchronous}")
        cursor.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_PAGES}")  # `Checkpoints` first
        cursor.close()

    return engine


def _use_wal(cursor: Any, timeout: float) -> None:
    """Switch the database to WAL (once per file; later connections find it done).

    The switch needs the file to itself, and SQLite answers "database is locked" at once,
    without waiting the busy timeout, when other connections are opening it at that moment
    (many stores' first use): try again, with back-off, until the busy timeout.
    """
    deadline, pause = time.monotonic() + timeout, 0.001
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
                return
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(pause)
            pause = min(2 * pause, 0.05)


def _forget_connections_after_fork(store: SqlStore) -> None:
    """A forked child must not share the parent's connections: it opens its own."""
    ref = weakref.ref(store)

    def in_child() -> None:
        forked = ref()
        if forked is not None:
            forked._after_fork()
            forked.engine.dispose(close=False)

    os.register_at_fork(after_in_child=in_child)


def _reason(exc: object) -> str:
    """The driver's error kind and first line, never the statement or its parameters."""
    text = str(exc).strip()
    first = text.splitlines()[0][:200] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
