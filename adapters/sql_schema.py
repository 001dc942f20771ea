"""The SQL store's tables (SQLModel), its UTC time type and its versioned schema.

`SCHEMA_VERSION` is stored in `ecps_meta`; a database holding another version is refused.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, Index, Integer, LargeBinary, String, Table, Text
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine
from sqlmodel import Field, SQLModel

from workflow.errors import StorageError

SCHEMA_VERSION = "1"
_PG_LOCK = 0x6563_7073  # "ecps": serialises schema creation between processes


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime: `timestamptz` on PostgreSQL, fixed-width UTC text on SQLite.

    The SQLite text (`YYYY-MM-DD HH:MM:SS.ffffff`) sorts and compares like the instant.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(26))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.utcoffset() is None:
            raise ValueError("stored times must be timezone-aware datetimes")
        utc = value if value.tzinfo is UTC else value.astimezone(UTC)
        if dialect.name == "sqlite":
            return utc.replace(tzinfo=None).isoformat(" ", "microseconds")
        return utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            parsed = datetime.fromisoformat(value)
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        if isinstance(value, datetime):
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        raise ValueError(f"not a time: {type(value).__name__}")


def _time(nullable: bool = False) -> Any:
    return Field(sa_column=Column(UtcDateTime(), nullable=nullable))


def _blob() -> Any:
    return Field(sa_column=Column(LargeBinary(), nullable=False))


class MetaRow(SQLModel, table=True):
    """Facts about the database itself (the schema version)."""

    __tablename__ = "ecps_meta"
    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=256)


class ActivationRow(SQLModel, table=True):
    """One activation; `version` is compared-and-set, `due_at` is `Activation.due_at()`.

    `history` holds the steps as a JSON array, oldest first.
    """

    __tablename__ = "ecps_activation"
    __table_args__ = (
        Index("ix_ecps_activation_subject_state", "subject", "state"),
        Index("ix_ecps_activation_subject_created", "subject", "created_at"),
        Index("ix_ecps_activation_created", "created_at"),
        Index("ix_ecps_activation_due", "due_at"),
    )
    id: str = Field(primary_key=True, max_length=128)
    subject: str = Field(max_length=128)
    state: str = Field(max_length=32)
    created_at: datetime = _time()
    flow_deadline: datetime | None = _time(nullable=True)
    contacts: bytes = _blob()
    masked_email: str
    masked_phone: str
    device_id: str
    version: int
    step_deadline: datetime | None = _time(nullable=True)
    token_digest: str
    email_generation: int
    last_email_at: datetime | None = _time(nullable=True)
    code_digest: str
    code_issued_at: datetime | None = _time(nullable=True)
    sms_generation: int
    last_sms_at: datetime | None = _time(nullable=True)
    pin_candidate: str
    pin_hash: str
    email_resends: int
    sms_resends: int
    sms_attempts: int
    pin_mismatches: int
    login_failures: int
    audit_seq: int
    audit_head: str
    closed_reason: str
    device_thumbprint: str = Field(default="", max_length=64)
    history: str = Field(sa_column=Column(Text(), nullable=False))
    due_at: datetime | None = _time(nullable=True)


class OutboxRow(SQLModel, table=True):
    """One outbox message; `n` keeps the insertion order, `id` is the message id."""

    __tablename__ = "ecps_outbox"
    __table_args__ = (
        Index("ix_ecps_outbox_status_due", "status", "due_at"),
        Index("ix_ecps_outbox_activation", "activation_id"),
    )
    n: int | None = Field(default=None, sa_column=Column(Integer(), primary_key=True,
                                                           autoincrement=True))
    id: str = Field(max_length=64, unique=True)
    activation_id: str = Field(max_length=128)
    kind: str = Field(max_length=32)
    channel: str = Field(max_length=16)
    generation: int
    payload: bytes = _blob()
    created_at: datetime = _time()
    due_at: datetime = _time()
    attempts: int
    status: str = Field(max_length=16)
    claimed_until: datetime | None = _time(nullable=True)
    last_error: str


class AuditRow(SQLModel, table=True):
    """One audit event; request refusals share activation id "" and seq 0, so no uniqueness."""

    __tablename__ = "ecps_audit"
    __table_args__ = (Index("ix_ecps_audit_activation_seq", "activation_id", "seq"),)
    n: int | None = Field(default=None, sa_column=Column(Integer(), primary_key=True,
                                                           autoincrement=True))
    activation_id: str = Field(max_length=128)
    subject: str = Field(max_length=128)
    seq: int
    at: datetime = _time()
    actor: str
    action: str
    outcome: str
    reason: str
    source: str
    dest: str
    prev_hash: str
    hash: str


META: Table = SQLModel.metadata.tables[MetaRow.__tablename__]
ACTIVATIONS: Table = SQLModel.metadata.tables[ActivationRow.__tablename__]
OUTBOX: Table = SQLModel.metadata.tables[OutboxRow.__tablename__]
AUDIT: Table = SQLModel.metadata.tables[AuditRow.__tablename__]
TABLES = (META, ACTIVATIONS, OUTBOX, AUDIT)


def ensure_schema(conn: Connection, where: str) -> None:
    """Create the tables in an empty database, or check an existing one is ours and current.

    Runs inside the caller's write transaction; `where` names the database in errors.
    """
    from sqlalchemy import inspect, select

    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK})")
    present = set(inspect(conn).get_table_names())
    ours = {t.name for t in TABLES}
    if META.name not in present:
        if present & ours:
            raise StorageError(f"{where} holds ecps tables without a schema version; "
                               "it was not made by this release and is left untouched")
        SQLModel.metadata.create_all(conn, tables=list(TABLES))
        conn.execute(META.insert().values(key="schema_version", value=SCHEMA_VERSION))
        return
    version = conn.execute(select(META.c.value).where(META.c.key == "schema_version")).scalar()
    if version != SCHEMA_VERSION:
        raise StorageError(f"{where} has ecps schema version {version!r}; this release needs "
                           f"{SCHEMA_VERSION!r} and does not convert it (migrate or use a new "
                           "database)")
    inspector = inspect(conn)
    for table in TABLES:
        if table.name not in present:
            raise StorageError(f"{where}: table {table.name} is missing (damaged schema)")
        found = {c["name"] for c in inspector.get_columns(table.name)}
        missing = sorted({c.name for c in table.columns} - found)
        if missing:
            raise StorageError(f"{where}: table {table.name} lacks columns {missing} "
                               "(damaged schema)")
