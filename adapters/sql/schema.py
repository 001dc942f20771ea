"""The SQL store's tables (SQLModel), its UTC time type and its versioned schema.

The tables are created and changed only by the migrations (`adapters.sql.migrate`); these
models are what the store reads and writes, and `migrate.check` compares them with the database.
`SCHEMA_VERSION` is also kept in `ecps_meta`, so that a release older than the migrations
refuses a database it cannot read.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Column, DateTime, Float, Index, Integer, LargeBinary, String, Table, Text, text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine
from sqlmodel import Field, SQLModel

SCHEMA_VERSION = "7"
CHAIN_INDEX = "ux_ecps_audit_chain"  # unique (activation_id, subject, seq) where seq > 0


_STORED = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}")
"""A time as the store writes it on SQLite: exactly this, nothing before or after it."""
REMEMBERED_TIMES = 4096
"""Times kept with their SQLite text, each way: an activation's times come back at each of its
events (a time and its text are immutable, so a kept one is as good as a new one)."""
_TEXTS: dict[datetime, str] = {}
_TIMES: dict[str, datetime] = {}
K = TypeVar("K")
V = TypeVar("V")


def _remember(kept: dict[K, V], key: K, value: V) -> V:
    """Keep `value` for `key` in `kept` (emptied when full: the times in use come back at once)."""
    if len(kept) >= REMEMBERED_TIMES:
        kept.clear()
    kept[key] = value
    return value


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
        if type(value) is datetime and value.tzinfo is UTC:  # the common case, made cheap
            if dialect.name != "sqlite":
                return value
            text = _TEXTS.get(value)
            if text is None:
                text = _remember(_TEXTS, value, value.isoformat(" ", "microseconds")[:26])
            return text
        if value is None:
            return None
        if not isinstance(value, datetime) or value.utcoffset() is None:
            raise ValueError("stored times must be timezone-aware datetimes")
        utc = value if value.tzinfo is UTC else value.astimezone(UTC)
        if dialect.name == "sqlite":
            return utc.replace(tzinfo=None).isoformat(" ", "microseconds")
        return utc

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        """The aware UTC time; a stored value that is not one comes back as it is, for the
        codec to report with its row and column (`adapters.sql.codec`)."""
        if isinstance(value, str):
            known = _TIMES.get(value)
            if known is not None:
                return known
            try:
                if _STORED.fullmatch(value):  # as stored, UTC without its offset: one call
                    return _remember(_TIMES, value, datetime.fromisoformat(value + "+00:00"))
            except ValueError:  # e.g. a 30th of February: reported below, as any other
                pass
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                return value
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        if isinstance(value, datetime):
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value


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
    """One activation's snapshot; `version` is compared-and-set, `due_at` is `Activation.due_at()`.

    Its steps are its audit rows with `step` 1 to `step_count`; `audit_seq` and `audit_head`
    name the newest audit row of its chain.
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
    step_count: int
    seal: str = Field(default="", max_length=64)
    due_at: datetime | None = _time(nullable=True)


class SubjectRow(SQLModel, table=True):
    """One pseudonymised identifier's turn counter: the changes that take a turn of it are
    compared-and-set on `turn`, so they commit one after the other."""

    __tablename__ = "ecps_subject"
    subject: str = Field(primary_key=True, max_length=128)
    turn: int


class OutboxRow(SQLModel, table=True):
    """One outbox message; `n` keeps the insertion order, `id` is the message id."""

    __tablename__ = "ecps_outbox"
    __table_args__ = (
        Index("ix_ecps_outbox_claim_order", "status", "due_at", "created_at", "n"),  # a claim's order
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
    """One audit event, appended and never changed; `n` orders every event of the database.

    A transition has `step` > 0, its number in its activation's history (the index on
    (activation_id, step) pages through it); a refusal has step 0. The index on
    (activation_id, seq) streams a trail in order and finds an activation's chain head.
    Request refusals share activation id "", so neither index is unique. Chained events
    (`seq` > 0: an activation's, or a subject's refusals) are unique by (activation_id, subject,
    seq): two commits chained after one head cannot both land; the index also finds a
    subject's newest refusal.
    """

    __tablename__ = "ecps_audit"
    __table_args__ = (Index("ix_ecps_audit_activation_seq", "activation_id", "seq"),
                      Index("ix_ecps_audit_activation_step", "activation_id", "step"),
                      Index(CHAIN_INDEX, "activation_id", "subject", "seq", unique=True,
                            sqlite_where=text("seq > 0"), postgresql_where=text("seq > 0")))
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
    step: int


class IdempotencyRow(SQLModel, table=True):
    """The answer to a request made with an `Idempotency-Key` (status 0: reserved, being answered).

    The answer is written in the same commit as the change it answers; `body` holds no secret.
    """

    __tablename__ = "ecps_idempotency"
    key: str = Field(primary_key=True, max_length=255)
    fingerprint: str = Field(max_length=64)
    created: float = Field(sa_column=Column(Float(), nullable=False, index=True))
    status: int = Field(default=0)
    body: bytes = Field(default=b"", sa_column=Column(LargeBinary(), nullable=False, default=b""))
    headers: str = Field(default="{}", sa_column=Column(Text(), nullable=False, default="{}"))


class LoginRow(SQLModel, table=True):
    """One login's snapshot; `version` is compared-and-set like an activation's.

    Its audit rows are those of activation id = the login id; no assertion is ever stored.
    """

    __tablename__ = "ecps_login"
    __table_args__ = (
        Index("ix_ecps_login_activation_state", "activation_id", "state"),
        Index("ix_ecps_login_subject_created", "subject", "created_at"),
        Index("ix_ecps_login_expires", "expires_at"),
        Index("ix_ecps_login_created", "created_at", "id"),  # the console's list, newest first
    )
    id: str = Field(primary_key=True, max_length=128)
    subject: str = Field(max_length=128)
    activation_id: str = Field(max_length=128)
    state: str = Field(max_length=32)
    created_at: datetime = _time()
    client_id: str = Field(max_length=128)
    client_name: str = Field(max_length=128)
    binding_message: str = Field(max_length=64)
    expires_at: datetime | None = _time(nullable=True)
    version: int
    closed_reason: str
    approved_at: datetime | None = _time(nullable=True)
    last_poll_at: datetime | None = _time(nullable=True)
    audit_seq: int
    audit_head: str
    step_count: int
    seal: str = Field(default="", max_length=64)


META: Table = SQLModel.metadata.tables[MetaRow.__tablename__]
ACTIVATIONS: Table = SQLModel.metadata.tables[ActivationRow.__tablename__]
OUTBOX: Table = SQLModel.metadata.tables[OutboxRow.__tablename__]
AUDIT: Table = SQLModel.metadata.tables[AuditRow.__tablename__]
SUBJECTS: Table = SQLModel.metadata.tables[SubjectRow.__tablename__]
IDEMPOTENCY: Table = SQLModel.metadata.tables[IdempotencyRow.__tablename__]
LOGINS: Table = SQLModel.metadata.tables[LoginRow.__tablename__]
TABLES = (META, ACTIVATIONS, SUBJECTS, OUTBOX, AUDIT, IDEMPOTENCY, LOGINS)
