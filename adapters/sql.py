"""`SqlStore`: the durable `Store` on SQLite (embedded default) or PostgreSQL (psycopg 3).

Tables are SQLModel's (`adapters.sql_schema`); statements are SQLAlchemy Core, compiled once
per store for its dialect and run on pooled driver connections, one transaction per call.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Collection, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from sqlalchemy import Engine, bindparam, create_engine, event, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql import ClauseElement, Select

from adapters import sql_codec as codec
from adapters.sql_schema import ACTIVATIONS, AUDIT, OUTBOX, UtcDateTime, ensure_schema
from workflow.definition import State
from workflow.domain import Activation, AuditEvent, Change, Delivery, OutboxMessage
from workflow.errors import ConcurrencyConflict, StorageError

_A, _O, _U = ACTIVATIONS, OUTBOX, AUDIT
_RETRYABLE = {"40001", "40P01"}  # serialization failure, deadlock: as good as a conflict
_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")
_FIXED = ("id", "subject", "created_at")  # set at creation by the service


class SqlStore:
    """A `Store` over an SQLAlchemy URL: `sqlite:///path` or `postgresql+psycopg://...`.

    SQLite runs in WAL mode with a busy timeout and takes the write lock when a write
    begins (`BEGIN IMMEDIATE`), so concurrent writers queue instead of failing;
    `synchronous="NORMAL"` survives process crashes, `"FULL"` also power loss. PostgreSQL
    honours the URL's options (e.g. `?options=-csearch_path%3Dschema`) and claims outbox
    rows with `FOR UPDATE SKIP LOCKED`. The schema is created on first use; a database of
    another schema version is refused with `StorageError`. Thread-safe (at most
    `3 * pool_size` connections; more threads wait their turn), and fork-safe: a forked
    child opens connections of its own.
    """

    def __init__(self, url: str, *, pool_size: int = 5, busy_timeout: float = 30.0,
                 synchronous: str = "NORMAL", echo: bool = False) -> None:
        if synchronous.upper() not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {', '.join(_SYNCHRONOUS)}")
        parsed = _url(url)
        self.dialect_name = parsed.get_backend_name()
        self.where = parsed.render_as_string(hide_password=True)
        self._sqlite = self.dialect_name == "sqlite"
        memory = self._sqlite and parsed.database in (None, "", ":memory:")
        self._serial: AbstractContextManager[Any] = threading.RLock() if memory else nullcontext()
        self._ready = False
        self._ready_lock = threading.Lock()
        try:
            self.engine = _engine(parsed, self._sqlite, memory, pool_size, busy_timeout,
                                  synchronous.upper(), echo)
        except (SQLAlchemyError, ImportError) as exc:
            raise StorageError(f"cannot open {self.where}: {type(exc).__name__}") from exc
        self._driver_error: type[Exception] = self.engine.dialect.loaded_dbapi.Error
        self._sql = _Statements(self.engine.dialect)
        _forget_connections_after_fork(self.engine)

    # -- reads --------------------------------------------------------------------------------

    def get(self, activation_id: str) -> Activation | None:
        with self._driver("get", write=False) as cursor:
            rows = self._sql.get.rows(cursor, id=activation_id)
        return codec.activation(rows[0]) if rows else None

    def find(self, subject: str, states: Collection[State]) -> list[Activation]:
        if not states:
            return []
        names = {f"s{i}": str(s) for i, s in enumerate(sorted(states))}
        with self._driver("find", write=False) as cursor:
            rows = self._sql.find(len(names)).rows(cursor, subject=subject, **names)
        return [codec.activation(r) for r in rows]

    def requests_since(self, subject: str, since: datetime) -> list[datetime]:
        with self._driver("requests_since", write=False) as cursor:
            rows = self._sql.requests_since.rows(cursor, subject=subject, since=since)
        return [r["created_at"] for r in rows]

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

    def activation_ids(self, after: str | None, limit: int) -> list[str]:
        with self._driver("activation_ids", write=False) as cursor:
            rows = self._sql.ids_after.rows(cursor, after=after or "", limit=limit)
        return [str(r["id"]) for r in rows]

    def list_activations(self, limit: int = 100) -> list[Activation]:
        with self._driver("list_activations", write=False) as cursor:
            rows = self._sql.newest.rows(cursor, limit=limit)
        return [codec.activation(r) for r in rows]

    # -- writes -------------------------------------------------------------------------------

    def commit(self, change: Change) -> None:
        sql = self._sql
        writes = sorted(change.writes, key=lambda w: w.activation.id)  # one lock order
        outbox = {m.id: m for m in change.outbox}.values()
        with self._driver("commit", write=True) as cursor:
            for w in writes:
                row = codec.activation_row(w.activation)
                if w.expected_version is None:
                    done = len(sql.insert.rows(cursor, **row))
                else:
                    keys = {"w_id": row["id"], "w_expected": w.expected_version}
                    done = (sql.update.run(cursor, **keys, **row)
                            or sql.update_all.run(cursor, **keys, **row))
                if done != 1:
                    raise ConcurrencyConflict(f"activation {w.activation.id} changed meanwhile")
            if outbox:
                sql.upsert.run_many(cursor, [codec.outbox_row(m) for m in outbox])
            if change.audit:
                sql.append.run_many(cursor, [codec.audit_row(e) for e in change.audit])

    def claim_outbox(self, now: datetime, limit: int, lease: timedelta) -> list[OutboxMessage]:
        with self._driver("claim_outbox", write=True) as cursor:
            rows = self._sql.claim.rows(cursor, now=now, until=now + lease, limit=limit)
        rows.sort(key=lambda r: (r["due_at"], r["created_at"], r["n"]))
        return [codec.outbox(r) for r in rows]

    # -- lifecycle ----------------------------------------------------------------------------

    def ensure_schema(self) -> None:
        """Create the schema in an empty database, else check that it is this release's."""
        if self._ready:
            return
        with self._ready_lock:
            if self._ready:
                return
            try:
                with self._serial, self.engine.connect() as conn, conn.begin():
                    if self._sqlite:
                        conn.exec_driver_sql("BEGIN IMMEDIATE")
                    ensure_schema(conn, self.where)
            except SQLAlchemyError as exc:
                raise self._translate("open the database", getattr(exc, "orig", exc)) from exc
            self._ready = True

    def close(self) -> None:
        """Close every pooled connection; the store reconnects if used again."""
        self.engine.dispose()

    def __enter__(self) -> SqlStore:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SqlStore({self.where!r})"

    # -- plumbing -----------------------------------------------------------------------------

    @contextmanager
    def _driver(self, what: str, *, write: bool) -> Iterator[Any]:
        """A driver cursor in one transaction (reads: autocommit on PostgreSQL), errors translated."""
        self.ensure_schema()
        with self._serial:
            try:
                conn = self.engine.raw_connection()
            except SQLAlchemyError as exc:
                raise self._translate(what, getattr(exc, "orig", exc)) from exc
            driver: Any = conn.driver_connection
            try:
                if not self._sqlite:
                    driver.autocommit = not write
                cursor = conn.cursor()
                if write and self._sqlite:
                    cursor.execute("BEGIN IMMEDIATE")
                yield cursor
                if write:
                    conn.commit()
            except BaseException as exc:
                with suppress(Exception):
                    conn.rollback()
                if isinstance(exc, self._driver_error):
                    if not self._sqlite and getattr(driver, "closed", False):
                        conn.invalidate()  # the server connection is gone
                    raise self._translate(what, exc) from exc
                if isinstance(exc, (ValueError, TypeError)):
                    raise StorageError(f"{what}: a value cannot be stored or read "
                                       f"({type(exc).__name__}: {exc})") from exc
                raise
            finally:
                if not self._sqlite:
                    with suppress(Exception):
                        driver.autocommit = False
                conn.close()

    def _translate(self, what: str, exc: object) -> Exception:
        if getattr(exc, "sqlstate", None) in _RETRYABLE:
            return ConcurrencyConflict(f"{what}: the database refused a concurrent change")
        return StorageError(f"{what} failed on {self.where}: {_reason(exc)}")


class _Compiled:
    """A Core statement compiled once for a dialect; runs on a driver cursor, converting times."""

    def __init__(self, statement: ClauseElement, dialect: Dialect,
                 keys: list[str] | None = None) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=keys)
        self.sql = str(compiled)
        self.dialect = dialect
        self.order: list[str] | None = list(getattr(compiled, "positiontup", None) or []) or None
        binds = getattr(compiled, "binds", {})
        self.defaults = {name: b.value for name, b in binds.items()
                         if not b.required and b.callable is None and b.value is not None}
        self.times = {name: b.type for name, b in binds.items() if isinstance(b.type, UtcDateTime)}
        exported = getattr(statement, "exported_columns", ())
        self.columns = [c.name for c in exported]
        self.result_times = {c.name: c.type for c in exported if isinstance(c.type, UtcDateTime)}

    def params(self, values: Mapping[str, Any]) -> Any:
        bound = {**self.defaults, **values}
        for name, kind in self.times.items():
            if name in bound:
                bound[name] = kind.process_bind_param(bound[name], self.dialect)
        return bound if self.order is None else [bound[name] for name in self.order]

    def run(self, cursor: Any, **values: Any) -> int:
        """Execute; the number of rows changed."""
        cursor.execute(self.sql, self.params(values))
        count: int = cursor.rowcount
        return count

    def run_many(self, cursor: Any, rows: list[dict[str, Any]]) -> None:
        """Execute once per row of values."""
        cursor.executemany(self.sql, [self.params(r) for r in rows])

    def rows(self, cursor: Any, **values: Any) -> list[dict[str, Any]]:
        """Execute; the rows returned, by column name, times aware UTC."""
        cursor.execute(self.sql, self.params(values))
        found = []
        for raw in cursor.fetchall():
            row = dict(zip(self.columns, raw, strict=True))
            for name, kind in self.result_times.items():
                try:
                    row[name] = kind.process_result_value(row[name], self.dialect)
                except ValueError as exc:
                    ident = row.get("id") or row.get("activation_id") or "?"
                    raise StorageError(f"row {ident}: unreadable time in {name}; the database "
                                       "is damaged") from exc
            found.append(row)
        return found


class _Statements:
    """Every statement the store runs, compiled for one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        is_sqlite = dialect.name == "sqlite"
        insert = sqlite.insert if is_sqlite else postgresql.insert
        every = [c.name for c in _A.columns]
        self.get = _Compiled(select(_A).where(_A.c.id == bindparam("id")), dialect)
        self.insert = _Compiled(insert(_A).on_conflict_do_nothing(index_elements=["id"])
                                .returning(_A.c.version), dialect, every)
        # `subject` and `created_at` never change in practice: leaving them out of SET spares
        # SQLite rewriting their index entries; a write that does change them takes `update_all`.
        by_version = update(_A).where(_A.c.id == bindparam("w_id"),
                                      _A.c.version == bindparam("w_expected"))
        self.update = _Compiled(by_version.where(_A.c.subject == bindparam("subject"),
                                                 _A.c.created_at == bindparam("created_at")),
                                dialect, [c for c in every if c not in _FIXED])
        self.update_all = _Compiled(by_version, dialect, [c for c in every if c != "id"])
        upsert = insert(_O)
        self.upsert = _Compiled(upsert.on_conflict_do_update(index_elements=["id"], set_={
            c.name: upsert.excluded[c.name] for c in _O.columns if c.name not in ("n", "id")}),
            dialect, [c.name for c in _O.columns if c.name != "n"])
        self.append = _Compiled(_U.insert(), dialect, [c.name for c in _U.columns if c.name != "n"])
        self.requests_since = _Compiled(
            select(_A.c.created_at).where(_A.c.subject == bindparam("subject"),
                                          _A.c.created_at >= bindparam("since"))
            .order_by(_A.c.created_at), dialect)
        self.due = _Compiled(select(_A.c.id).where(_A.c.due_at <= bindparam("now"))
                             .order_by(_A.c.due_at, _A.c.id).limit(bindparam("limit")), dialect)
        self.outbox_of = _Compiled(select(_O).where(_O.c.activation_id == bindparam("activation_id"))
                                   .order_by(_O.c.created_at, _O.c.n), dialect)
        self.audit_trail = _Compiled(select(_U).where(_U.c.activation_id == bindparam("activation_id"))
                                     .order_by(_U.c.seq, _U.c.n), dialect)
        self.newest = _Compiled(select(_A).order_by(_A.c.created_at.desc(), _A.c.id.desc())
                                .limit(bindparam("limit")), dialect)
        self.ids_after = _Compiled(select(_A.c.id).where(_A.c.id > bindparam("after"))
                                   .order_by(_A.c.id).limit(bindparam("limit")), dialect)
        due: Select[Any] = (
            select(_O.c.n)
            .where(_O.c.status == str(Delivery.PENDING), _O.c.due_at <= bindparam("now"),
                   or_(_O.c.claimed_until.is_(None), _O.c.claimed_until <= bindparam("now")))
            .order_by(_O.c.due_at, _O.c.created_at, _O.c.n).limit(bindparam("limit")))
        if not is_sqlite:
            due = due.with_for_update(skip_locked=True)
        self.claim = _Compiled(update(_O).where(_O.c.n.in_(due))
                               .values(claimed_until=bindparam("until")).returning(*_O.columns),
                               dialect)
        self._find: dict[int, _Compiled] = {}

    def find(self, count: int) -> _Compiled:
        """The query for a subject's activations in `count` states (bound as s0, s1, ...)."""
        if count not in self._find:
            states: list[Any] = [bindparam(f"s{i}") for i in range(count)]
            self._find[count] = _Compiled(
                select(_A).where(_A.c.subject == bindparam("subject"), _A.c.state.in_(states))
                .order_by(_A.c.created_at, _A.c.id), self.dialect)
        return self._find[count]


def _url(url: str) -> URL:
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


def _engine(url: URL, is_sqlite: bool, memory: bool, pool_size: int, busy_timeout: float,
            synchronous: str, echo: bool) -> Engine:
    if not is_sqlite:
        return create_engine(url, pool_size=pool_size, max_overflow=2 * pool_size, echo=echo)
    args: dict[str, Any] = {"check_same_thread": False, "timeout": busy_timeout}
    if memory:
        engine = create_engine(url, connect_args=args, poolclass=StaticPool, echo=echo)
    else:
        engine = create_engine(url, connect_args=args, pool_size=pool_size,
                               max_overflow=2 * pool_size, echo=echo)
    timeout_ms = int(busy_timeout * 1000)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the store emits BEGIN itself
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {timeout_ms}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute(f"PRAGMA synchronous = {synchronous}")
        cursor.close()

    return engine


def _forget_connections_after_fork(engine: Engine) -> None:
    """A forked child must not share the parent's connections: it opens its own."""
    ref = weakref.ref(engine)

    def in_child() -> None:
        forked = ref()
        if forked is not None:
            forked.dispose(close=False)

    os.register_at_fork(after_in_child=in_child)


def _reason(exc: object) -> str:
    """The driver's error kind and first line, never the statement or its parameters."""
    text = str(exc).strip()
    first = text.splitlines()[0][:200] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
