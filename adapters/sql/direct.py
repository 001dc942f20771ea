"""Runs a Core statement on the pooled connection's DB-API cursor, compiled once per column set.

`Connection.execute` builds an execution context, a result object and its processors on every
call; on the store's hot path that costs more than the SQL itself. Here each statement is
compiled once (per set of parameter names, as `Connection.execute` would) with the engine's
dialect, its bind and result processors are taken once from the column types, and the string
runs on the driver's cursor. What this relies on from SQLAlchemy is pinned by
`tests/unit/test_sql_direct.py`: `Compiled.string`, `.positiontup`, `.binds`, the types'
`dialect_impl(...).bind_processor` / `.result_processor`, `Connection.connection`, and
the `_has_events` flags of `Engine` and `Connection`.

Statements with expanding or post-compiled parameters, and engines that echo or have
connection event listeners (which only `Connection.execute` calls), stay on `Connection.execute`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import StatementError
from sqlalchemy.sql import ClauseElement, Executable

Processor = Callable[[Any], Any]


class Compiled:
    """One statement compiled for one dialect and one set of parameter names."""

    __slots__ = ("_pick", "_results", "_slots", "binds", "columns", "defaults", "names",
                 "positional", "sql")

    def __init__(self, statement: ClauseElement, dialect: Dialect, keys: Sequence[str]) -> None:
        compiled: Any = statement.compile(dialect=dialect, column_keys=list(keys))
        self.sql: str = compiled.string
        self.positional = bool(dialect.positional)
        self.names: tuple[str, ...] = (tuple(compiled.positiontup) if self.positional
                                       else tuple(compiled.binds))
        pick = itemgetter(*self.names) if self.names else (lambda _given: ())
        self._pick: Callable[[dict[str, Any]], Any] = (
            pick if len(self.names) != 1 else lambda given: (pick(given),))
        self.defaults = {name: b.effective_value for name, b in compiled.binds.items()
                         if not b.required}
        self.binds: tuple[tuple[str, Processor], ...] = tuple(
            (name, proc) for name, b in compiled.binds.items()
            if (proc := b.type.dialect_impl(dialect).bind_processor(dialect)) is not None)
        processors = dict(self.binds)  # positional: each place of a processed name, in order
        self._slots = tuple((i, processors[name]) for i, name in enumerate(self.names)
                            if name in processors) if self.positional else ()
        returned = getattr(statement, "exported_columns", ())
        self.columns: dict[str, Any] = {c.name: c.type for c in returned}
        self._results: tuple[tuple[str, ...], tuple[tuple[int, Processor], ...]] | None = None

    def parameters(self, values: dict[str, Any]) -> Any:
        """The driver's parameters for `values` (defaults filled in, processors applied)."""
        given = {**self.defaults, **values} if self.defaults else values
        try:
            if self.positional:
                row = list(self._pick(given))
                for i, proc in self._slots:
                    row[i] = proc(row[i])
                return row
            given = dict(given)
            for name, proc in self.binds:
                if name in given:
                    given[name] = proc(given[name])
        except (ValueError, TypeError, OverflowError) as exc:
            raise StatementError(str(exc), None, None, exc) from exc  # no parameters: no secrets
        return given

    def readers(self, cursor: Any, dialect: Dialect
                ) -> tuple[tuple[str, ...], tuple[tuple[int, Processor], ...]]:
        """The column names of a result, and the processors of its columns that have one
        (read from the first result's cursor once: the compiled string names its columns)."""
        if self._results is None:
            description = cursor.description
            names = tuple(d[0] for d in description)
            procs: list[tuple[int, Processor]] = []
            for i, d in enumerate(description):
                kind = self.columns.get(d[0])
                proc = (None if kind is None else
                        kind.dialect_impl(dialect).result_processor(dialect, d[1]))
                if proc is not None:
                    procs.append((i, proc))
            self._results = (names, tuple(procs))
        return self._results


class Direct:
    """A statement run on the DB-API cursor of a connection; see the module's docstring."""

    def __init__(self, statement: Executable, dialect: Dialect) -> None:
        self.statement = statement
        self.dialect = dialect
        self._compiled: dict[tuple[str, ...], Compiled | None] = {}

    def compiled(self, keys: tuple[str, ...]) -> Compiled | None:
        """The statement compiled for these parameter names; None if it must run through
        `Connection.execute` (expanding or post-compiled parameters)."""
        try:
            return self._compiled[keys]
        except KeyError:
            pass
        assert isinstance(self.statement, ClauseElement)
        c: Compiled | None = Compiled(self.statement, self.dialect, keys)
        assert c is not None
        if "POSTCOMPILE" in c.sql:
            c = None
        self._compiled[keys] = c
        return c

    def cursor(self, conn: Connection, keys: tuple[str, ...]) -> tuple[Compiled, Any] | None:
        """The compiled form and a driver cursor in the connection's transaction; None if the
        statement must go through `Connection.execute`."""
        if not plain(conn):
            return None
        c = self.compiled(keys)
        if c is None:
            return None
        if not conn.in_transaction():
            conn.begin()  # as `Connection.execute` autobegins: commit and rollback see it
        return c, conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]

    def run(self, conn: Connection, values: dict[str, Any]) -> int | None:
        """Execute; rows changed, or None if it must go through `Connection.execute`."""
        cursor = self.send(conn, values)
        if cursor is None:
            return None
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def send(self, conn: Connection, values: dict[str, Any]) -> Any | None:
        """Execute without reading the outcome: the driver cursor, left open for the caller to
        read (`rowcount`) and close (in psycopg's pipeline mode, once the answers came back);
        None if it must go through `Connection.execute`."""
        found = self.cursor(conn, tuple(values))
        if found is None:
            return None
        c, cursor = found
        try:
            cursor.execute(c.sql, c.parameters(values))
        except BaseException:
            cursor.close()
            raise
        return cursor

    def run_many(self, conn: Connection, rows: list[dict[str, Any]]) -> bool:
        """Execute once per row; False if it must go through `Connection.execute`."""
        found = self.cursor(conn, tuple(rows[0]))
        if found is None:
            return False
        c, cursor = found
        try:
            if len(rows) == 1:  # psycopg's executemany costs a pipeline's extra round trips
                cursor.execute(c.sql, c.parameters(rows[0]))
            else:
                cursor.executemany(c.sql, [c.parameters(r) for r in rows])
            return True
        finally:
            cursor.close()

    def rows(self, conn: Connection, values: dict[str, Any]) -> list[dict[str, Any]] | None:
        """Execute; the rows by column name (processed as `Connection.execute` would), or None
        if it must go through `Connection.execute`."""
        found = self.cursor(conn, tuple(values))
        if found is None:
            return None
        c, cursor = found
        try:
            cursor.execute(c.sql, c.parameters(values))
            fetched = cursor.fetchall()
            names, procs = c.readers(cursor, self.dialect)
        finally:
            cursor.close()
        if not procs:
            return [dict(zip(names, r, strict=True)) for r in fetched]
        out = []
        for r in fetched:
            row = list(r)
            for i, proc in procs:
                row[i] = proc(row[i])
            out.append(dict(zip(names, row, strict=True)))
        return out


def begin_immediate(conn: Connection) -> None:
    """SQLite's `BEGIN IMMEDIATE` (the write lock, taken now) on the connection's driver, in the
    transaction `Connection.commit` and `.rollback` end; through `exec_driver_sql` unless `plain`."""
    if not plain(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        return
    if not conn.in_transaction():
        conn.begin()
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute("BEGIN IMMEDIATE")
    finally:
        cursor.close()


def plain(conn: Connection) -> bool:
    """Whether statements may skip `Connection.execute`: the engine neither echoes nor has
    connection event listeners (`before_cursor_execute`, ...), which only it would call."""
    engine = conn.engine
    return not (engine.echo or engine._has_events or conn._has_events)
