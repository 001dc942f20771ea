"""The statements of one write, sent without waiting for each answer where the driver allows.

On PostgreSQL a statement waits for its answer: BEGIN, each statement and COMMIT are a round
trip each, and a commit of the store was five of them. In psycopg's pipeline mode the
statements of a write go out together and their answers come back at one sync: the counts
that decide a conflict are read then, before COMMIT. Elsewhere (SQLite, or statements that
must go through `Connection.execute`) each runs and is checked in turn, as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from sqlalchemy import Connection

from adapters.sql.direct import plain
from adapters.sql.statements import Statement
from workflow.errors import ConcurrencyConflict


class Batch:
    """Statements sent on `conn` in its write transaction; see the module's docstring."""

    def __init__(self, conn: Connection, pipelined: bool) -> None:
        self.conn = conn
        self.pipelined = pipelined
        self._pending: list[tuple[Any, str]] = []  # (driver cursor, conflict if not one row)

    def send(self, statement: Statement, **values: Any) -> None:
        """Run `statement`; its outcome is not read."""
        if self.pipelined:
            self._pending.append((self._sent(statement, values), ""))
        else:
            statement.run(self.conn, **values)

    def send_many(self, statement: Statement, rows: list[dict[str, Any]]) -> None:
        """Run `statement` once per row of values; the outcomes are not read."""
        statement.run_many(self.conn, rows)

    def expect_one(self, conflict: str, statement: Statement, **values: Any) -> None:
        """Run `statement`, which must change (or return) exactly one row: else
        `ConcurrencyConflict(conflict)`, at once or when the batch ends."""
        if self.pipelined:
            self._pending.append((self._sent(statement, values), conflict))
        elif statement.count(self.conn, **values) != 1:
            raise ConcurrencyConflict(conflict)

    def _sent(self, statement: Statement, values: dict[str, Any]) -> Any:
        cursor = statement.direct.send(self.conn, values)
        if cursor is None:  # `batch` pipelines only plain connections; the store's statements compile
            raise RuntimeError("a pipelined statement must run on the driver's cursor")
        return cursor

    def _check(self) -> None:
        """`ConcurrencyConflict` for the first statement expected to change one row that did not."""
        for cursor, conflict in self._pending:
            if conflict and cursor.rowcount != 1:
                raise ConcurrencyConflict(conflict)

    def _close(self) -> None:
        pending, self._pending = self._pending, []
        for cursor, _ in pending:
            cursor.close()


@contextmanager
def batch(conn: Connection, *, pipeline: bool = True) -> Iterator[Batch]:
    """The block's statements as one `Batch` on `conn`: pipelined on psycopg when `pipeline`
    and the connection is plain (`adapters.sql.direct.plain`), the answers read and the counts
    checked as the block ends; otherwise each statement runs and is checked in turn."""
    driver: Any = conn.connection.dbapi_connection
    start = getattr(driver, "pipeline", None) if pipeline and plain(conn) else None
    if start is None or not _pipelines():
        yield Batch(conn, False)
        return
    b = Batch(conn, True)
    try:
        with start():  # its end sends them all and reads every answer (a failed one raises)
            yield b
        b._check()
    finally:
        b._close()


@cache
def _pipelines() -> bool:
    """Whether psycopg's libpq has pipeline mode (libpq 14 or later; the binary wheel's has)."""
    import psycopg

    return bool(psycopg.Pipeline.is_supported())
