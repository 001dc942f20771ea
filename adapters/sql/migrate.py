"""Brings a database to this release's schema with the Alembic migrations in `migrations/`.

An empty database gets every migration; one made by the first release (schema version "1" in
`ecps_meta`, no Alembic table) is stamped at revision 0001, then upgraded; one already at the
newest revision is left as it is; one upgraded by a newer release is refused, untouched.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import inspect, select
from sqlalchemy.engine import Connection

from adapters.sql.schema import META, TABLES
from workflow.errors import StorageError

VERSION_TABLE = "ecps_alembic_version"
FIRST_RELEASE = "0001"  # what a database of schema version "1" holds
_PG_LOCK = 0x6563_7073  # "ecps": serialises first use between processes
_SCRIPTS = Path(__file__).parent / "migrations"


def _config(conn: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["connection"] = conn
    return config


SCRIPTS = ScriptDirectory.from_config(_config())
HEAD = SCRIPTS.get_current_head() or ""


def revision(conn: Connection) -> str | None:
    """The Alembic revision the database is at (None: no Alembic table)."""
    found: str | None = MigrationContext.configure(
        conn, opts={"version_table": VERSION_TABLE}).get_current_revision()
    return found


def upgrade(conn: Connection, where: str) -> tuple[str | None, str]:
    """Upgrade inside the caller's write transaction; (revision before, revision after).

    `where` names the database in errors. On PostgreSQL an advisory lock serialises concurrent
    first uses; on SQLite the caller's `BEGIN IMMEDIATE` does.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK})")
    before = revision(conn)
    if before == HEAD:
        return before, HEAD
    config = _config(conn)
    if before is None:
        before = _unversioned(conn, where)
        if before is not None:
            command.stamp(config, before)
    else:
        try:
            SCRIPTS.get_revision(before)
        except CommandError:
            raise StorageError(
                f"{where} was upgraded by a newer release (schema revision {before!r}); this release "
                f"knows revisions up to {HEAD!r} and leaves it untouched") from None
    try:
        command.upgrade(config, "head")
    except RuntimeError as exc:
        raise StorageError(f"{where}: cannot upgrade the schema: {exc}") from exc
    return before, HEAD


def _unversioned(conn: Connection, where: str) -> str | None:
    """The revision a database without Alembic table is at: None if empty, 0001 if schema "1"."""
    present = set(inspect(conn).get_table_names())
    ours = {t.name for t in TABLES} - {"ecps_idempotency"}  # the HTTP API may have made that one
    if META.name not in present:
        if present & ours:
            raise StorageError(f"{where} holds ecps tables without a schema version; "
                               "it was not made by this release and is left untouched")
        return None
    version = conn.execute(select(META.c.value).where(META.c.key == "schema_version")).scalar()
    if version != "1":
        raise StorageError(f"{where} has ecps schema version {version!r}, which this release does "
                           f"not know (it upgrades version '1'); it is left untouched")
    return FIRST_RELEASE


def check(conn: Connection, where: str) -> None:
    """Refuse a database whose tables or columns are not all there (damaged schema)."""
    inspector = inspect(conn)
    present = set(inspector.get_table_names())
    for table in TABLES:
        if table.name not in present:
            raise StorageError(f"{where}: table {table.name} is missing (damaged schema)")
        found = {c["name"] for c in inspector.get_columns(table.name)}
        missing = sorted({c.name for c in table.columns} - found)
        if missing:
            raise StorageError(f"{where}: table {table.name} lacks columns {missing} "
                               "(damaged schema)")
