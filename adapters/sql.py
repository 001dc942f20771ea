"""`SqlStore`: the durable `Store` on SQLite (embedded default) or PostgreSQL (psycopg 3).

Tables are SQLModel's (`adapters.sql_schema`). Every method is one transaction on one
engine per store; the hot path (`get`, `commit`) runs SQLAlchemy Core statements compiled
once for the engine's dialect straight on the pooled driver connection.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from sqlalchemy import Engine, Table, bindparam, create_engine, event, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql import ClauseElement, Executable

from adapters import sql_codec as codec
from adapters.sql_schema import ACTIVATIONS, AUDIT, OUTBOX, UtcDateTime, ensure_schema
from workflow.definition import State
from workflow.domain import Activation, AuditEvent, Change, Delivery, OutboxMessage
from workflow.errors import ConcurrencyConflict, StorageError

_A, _O, _U = ACTIVATIONS, OUTBOX, AUDIT
_RETRYABLE = {"40001", "40P01"}  # serialization failure, deadlock: as good as a conflict
_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")


class SqlStore:
    """A `Store` over an SQLAlchemy URL: `sqlite:///path` or `postgresql+psycopg://...`.

    SQLite runs in WAL mode with a busy timeout and takes the write lock when a write
    begins (`BEGIN IMMEDIATE`), so concurrent writers queue instead of failing;
    `synchronous="NORMAL"` survives process crashes, `"FULL"` also power loss. PostgreSQL
    honours the URL's options (e.g. `?options=-csearch_path%3Dschema`). The schema is
    created on first use, and a database of another schema version is refused.
    """

    def __init__(self, url: str, *, pool_size: int = 8, busy_timeout: float = 30.0,
                 synchronous: str = "NORMAL", echo: bool = False) -> None:
        if synchronous.upper() not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {', '.join(_SYNCHRONOUS)}")
        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise ValueError("not a database URL (sqlite:///path or "
                             "postgresql+psycopg://...)") from exc
        self.dialect_name = parsed.get_backend_name()
        self.where = parsed.render_as_string(hide_password=True)
        if self.dialect_name not in ("sqlite", "postgresql"):
            raise ValueError(f"SqlStore supports sqlite and postgresql, not {self.dialect_name!r}")
        self._sqlite = self.dialect_name == "sqlite"
        memory = self._sqlite and parsed.database in (None, "", ":memory:")
        self._serial: AbstractContextManager[Any] = threading.RLock() if memory else nullcontext()
        self._ready = False
        self._ready_lock = threading.Lock()
        try:
            self.engine = _engine(url, self._sqlite, memory, pool_size, busy_timeout,
                                  synchronous.upper(), echo)
        except (SQLAlchemyError, ImportError) as exc:
            raise StorageError(f"cannot open {self.where}: {type(exc).__name__}") from exc
        dialect = self.engine.dialect
        self._driver_error: type[Exception] = dialect.loaded_dbapi.Error
        insert = sqlite.insert if self._sqlite else postgresql.insert
        upsert = insert(_O)
        self._get = _Compiled(select(_A).where(_A.c.id == bindparam("id")), dialect, _A)
        self._insert = _Compiled(
            insert(_A).on_conflict_do_nothing(index_elements=["id"]).returning(_A.c.version),
            dialect, _A, [c.name for c in _A.columns])
        self._update = _Compiled(
            update(_A).where(_A.c.id == bindparam("w_id"), _A.c.version == bindparam("w_expected")),
            dialect, _A, [c.name for c in _A.columns if c.name != "id"])
        self._upsert = _Compiled(
            upsert.on_conflict_do_update(index_elements=["id"], set_={
                c.name: upsert.excluded[c.name] for c in _O.columns if c.name not in ("n", "id")}),
            dialect, _O, [c.name for c in _O.columns if c.name != "n"])
        self._append = _Compiled(_U.insert(), dialect, _U,
                                 [c.name for c in _U.columns if c.name != "n"])

    # -- the hot path: compiled statements on the driver connection ----------------------

    def get(self, activation_id: str) -> Activation | None:
        with self._driver("get", write=False) as cursor:
            cursor.execute(self._get.sql, self._get.params({"id": activation_id}))
            found = cursor.fetchone()
        return None if found is None else codec.activation(self._get.row(found))

    def commit(self, change: Change) -> None:
        writes = sorted(change.writes, key=lambda w: w.activation.id)  # one lock order
        outbox = {m.id: m for m in change.outbox}.values()
        with self._driver("commit", write=True) as cursor:
            for w in writes:
                row = codec.activation_row(w.activation)
                if w.expected_version is None:
                    cursor.execute(self._insert.sql, self._insert.params(row))
                    done = len(cursor.fetchall())
                else:
                    row["w_id"], row["w_expected"] = row["id"], w.expected_version
                    cursor.execute(self._update.sql, self._update.params(row))
                    done = cursor.rowcount
                if done != 1:
                    raise ConcurrencyConflict(f"activation {w.activation.id} changed meanwhile")
            if outbox:
                cursor.executemany(self._upsert.sql,
                                   [self._upsert.params(codec.outbox_row(m)) for m in outbox])
            if change.audit:
                cursor.executemany(self._append.sql,
                                   [self._append.params(codec.audit_row(e)) for e in change.audit])

    # -- the other reads and the outbox claim: Core on an SQLAlchemy connection -------------

    def find(self, subject: str, states: Collection[State]) -> list[Activation]:
        if not states:
            return []
        query = (select(_A).where(_A.c.subject == subject, _A.c.state.in_([str(s) for s in states]))
                 .order_by(_A.c.created_at, _A.c.id))
        return [codec.activation(r) for r in self._rows("find", query)]

    def requests_since(self, subject: str, since: datetime) -> list[datetime]:
        query = (select(_A.c.created_at).where(_A.c.subject == subject, _A.c.created_at >= since)
                 .order_by(_A.c.created_at))
        return [r["created_at"] for r in self._rows("requests_since", query)]

    def due_for_expiry(self, now: datetime, limit: int) -> list[str]:
        query = select(_A.c.id).where(_A.c.due_at <= now).order_by(_A.c.due_at, _A.c.id).limit(limit)
        return [r["id"] for r in self._rows("due_for_expiry", query)]

    def outbox_of(self, activation_id: str) -> list[OutboxMessage]:
        query = (select(_O).where(_O.c.activation_id == activation_id)
                 .order_by(_O.c.created_at, _O.c.n))
        return [codec.outbox(r) for r in self._rows("outbox_of", query)]

    def audit_trail(self, activation_id: str) -> list[AuditEvent]:
        query = select(_U).where(_U.c.activation_id == activation_id).order_by(_U.c.seq, _U.c.n)
        return [codec.audit(r) for r in self._rows("audit_trail", query)]

    def list_activations(self, limit: int = 100) -> list[Activation]:
        query = select(_A).order_by(_A.c.created_at.desc(), _A.c.id.desc()).limit(limit)
        return [codec.activation(r) for r in self._rows("list_activations", query)]

    def claim_outbox(self, now: datetime, limit: int, lease: timedelta) -> list[OutboxMessage]:
        due = (select(_O.c.n)
               .where(_O.c.status == str(Delivery.PENDING), _O.c.due_at <= now,
                      or_(_O.c.claimed_until.is_(None), _O.c.claimed_until <= now))
               .order_by(_O.c.due_at, _O.c.created_at, _O.c.n).limit(limit))
        if not self._sqlite:
            due = due.with_for_update(skip_locked=True)
        with self._core("claim_outbox", write=True) as conn:
            picked = list(conn.execute(due).scalars())
            if not picked:
                return []
            claim = (update(_O).where(_O.c.n.in_(picked)).values(claimed_until=now + lease)
                     .returning(*_O.columns))
            rows = conn.execute(claim).mappings().all()
        ordered = sorted(rows, key=lambda r: (r["due_at"], r["created_at"], r["n"]))
        return [codec.outbox(r) for r in ordered]

    # -- lifecycle ------------------------------------------------------------------------

    def ensure_schema(self) -> None:
        """Create the schema in an empty database, else check that it is this release's."""
        if self._ready:
            return
        with self._ready_lock:
            if not self._ready:
                with self._core("open the database", write=True, check=False) as conn:
                    ensure_schema(conn, self.where)
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

    # -- plumbing -------------------------------------------------------------------------

    def _rows(self, what: str, query: Executable) -> list[Mapping[Any, Any]]:
        with self._core(what, write=False) as conn:
            return list(conn.execute(query).mappings().all())

    @contextmanager
    def _core(self, what: str, *, write: bool, check: bool = True) -> Iterator[Connection]:
        if check:
            self.ensure_schema()
        try:
            with self._serial, self.engine.connect() as conn:
                if not write:
                    yield conn
                    return
                with conn.begin():
                    if self._sqlite:
                        conn.exec_driver_sql("BEGIN IMMEDIATE")
                    yield conn
        except SQLAlchemyError as exc:
            raise self._translate(what, exc, getattr(exc, "orig", None)) from exc
        except (ValueError, TypeError) as exc:
            raise _unreadable(what, exc) from exc

    @contextmanager
    def _driver(self, what: str, *, write: bool) -> Iterator[Any]:
        self.ensure_schema()
        with self._serial:
            try:
                conn = self.engine.raw_connection()
            except SQLAlchemyError as exc:
                raise self._translate(what, exc, getattr(exc, "orig", None)) from exc
            try:
                cursor = conn.cursor()
                if write and self._sqlite:
                    cursor.execute("BEGIN IMMEDIATE")
                yield cursor
                if write:
                    conn.commit()
            except BaseException as exc:
                _quietly(conn.rollback)
                if isinstance(exc, self._driver_error):
                    if not self._sqlite and getattr(exc, "sqlstate", None) is None:
                        conn.invalidate()  # the server connection is gone
                    raise self._translate(what, exc, exc) from exc
                if isinstance(exc, (ValueError, TypeError)):
                    raise _unreadable(what, exc) from exc
                raise
            finally:
                conn.close()

    def _translate(self, what: str, exc: BaseException, orig: object) -> Exception:
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            return StorageError(f"{what}: lost the connection to {self.where}")
        state = getattr(orig, "sqlstate", None)
        if state in _RETRYABLE:
            return ConcurrencyConflict(f"{what}: the database refused a concurrent change")
        return StorageError(f"{what} failed on {self.where}: {_reason(orig or exc)}")


class _Compiled:
    """A Core statement compiled once for a dialect, with the table's value conversions."""

    def __init__(self, statement: ClauseElement, dialect: Dialect, table: Table,
                 keys: list[str] | None = None) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=keys)
        self.sql = str(compiled)
        self.order: list[str] | None = list(getattr(compiled, "positiontup", None) or []) or None
        if dialect.paramstyle not in ("qmark", "pyformat", "named"):
            raise StorageError(f"unsupported driver parameter style {dialect.paramstyle}")
        self.dialect = dialect
        self.columns = [c.name for c in table.columns]
        self.times = {c.name: c.type for c in table.columns if isinstance(c.type, UtcDateTime)}

    def params(self, values: Mapping[str, Any]) -> Any:
        """Driver parameters for `values` (times in the stored form)."""
        bound = dict(values)
        for name, kind in self.times.items():
            if name in bound:
                bound[name] = kind.process_bind_param(bound[name], self.dialect)
        return bound if self.order is None else [bound[name] for name in self.order]

    def row(self, found: Any) -> dict[str, Any]:
        """A fetched row by column name, times aware UTC."""
        row = dict(zip(self.columns, found, strict=True))
        for name, kind in self.times.items():
            row[name] = kind.process_result_value(row[name], self.dialect)
        return row


def _engine(url: str, is_sqlite: bool, memory: bool, pool_size: int, busy_timeout: float,
            synchronous: str, echo: bool) -> Engine:
    if not is_sqlite:
        return create_engine(url, pool_size=pool_size, max_overflow=4 * pool_size, echo=echo)
    args: dict[str, Any] = {"check_same_thread": False, "timeout": busy_timeout}
    if memory:
        engine = create_engine(url, connect_args=args, poolclass=StaticPool, echo=echo)
    else:
        engine = create_engine(url, connect_args=args, pool_size=pool_size,
                               max_overflow=4 * pool_size, echo=echo)
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


def _unreadable(what: str, exc: Exception) -> StorageError:
    return StorageError(f"{what}: a stored value is unreadable or a value cannot be stored "
                        f"({type(exc).__name__}); the database may be damaged")


def _reason(exc: object) -> str:
    """The driver's error kind and first line, never the statement or its parameters."""
    text = str(exc).strip()
    first = text.splitlines()[0][:200] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _quietly(action: Any) -> None:
    with suppress(Exception):  # the connection is being discarded anyway
        action()
