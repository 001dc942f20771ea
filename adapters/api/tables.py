"""Where the HTTP layer's own tables (proofs' `jti`, idempotency keys, wrong operator tokens,
console sign-outs) are reached: through the service's `SqlStore` (its kept connections), an
engine, or a database URL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from sqlalchemy import Connection, Engine, MetaData, Table, create_engine
from sqlalchemy.exc import SQLAlchemyError

from adapters.sql import SqlStore
from workflow.errors import StorageError


class Tables:
    """Transactions on the database of `database`, where `tables` (named `what` in errors) are
    made if missing: by the store's migrations in a `SqlStore`'s database, else created here;
    `close` disposes only an engine made here."""

    def __init__(self, database: SqlStore | Engine | str, what: str,
                 tables: MetaData | Table) -> None:
        self.what = what
        self._owned = isinstance(database, str)
        try:
            if isinstance(database, SqlStore):
                self.engine = database.engine
                self._connect: Callable[[], AbstractContextManager[Connection]] = database.connection
                database.ensure_schema()  # its migrations make these tables
            else:
                self.engine = database if isinstance(database, Engine) else create_engine(
                    database.replace("postgresql://", "postgresql+psycopg://", 1))
                self._connect = self.engine.connect
                self.create(tables)
        except SQLAlchemyError as exc:
            raise self.unavailable(exc) from exc

    def unavailable(self, exc: Exception) -> StorageError:
        """The error to raise for a failure of these tables (its kind only: no secret)."""
        return StorageError(f"{self.what} unavailable ({type(exc).__name__})")

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection in a transaction, committed when the block ends (rolled back on error)."""
        with self._connect() as conn, conn.begin():
            yield conn

    def create(self, tables: MetaData | Table) -> None:
        """Create these tables where missing (on one of the connections, as every call); a
        second try when the first fails: another process may have created them meanwhile."""
        for last in (False, True):
            try:
                with self.begin() as conn:
                    if isinstance(tables, Table):
                        tables.create(conn, checkfirst=True)
                    else:
                        tables.create_all(conn)
                return
            except SQLAlchemyError:
                if last:
                    raise

    def close(self) -> None:
        """Close the connections of an engine made here (a given store or engine is left open)."""
        if self._owned:
            self.engine.dispose()
