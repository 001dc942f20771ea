"""Schema 1: the tables as the first release created them (history as JSON in the activation row).

A pinned copy: later migrations start from it, and a database made by that release is stamped
at this revision before it is upgraded.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from adapters.sql.schema import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _time(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, UtcDateTime(), nullable=nullable)


def _text(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.String(), nullable=False)


def _int(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.Integer(), nullable=False)


def upgrade() -> None:
    meta = op.create_table("ecps_meta", sa.Column("key", sa.String(64), primary_key=True),
                           sa.Column("value", sa.String(256), nullable=False))
    op.create_table(
        "ecps_activation",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("state", sa.String(32), nullable=False), _time("created_at"), _time("flow_deadline", True),
        sa.Column("contacts", sa.LargeBinary(), nullable=False), _text("masked_email"), _text("masked_phone"),
        _text("device_id"), _int("version"), _time("step_deadline", True), _text("token_digest"),
        _int("email_generation"), _time("last_email_at", True), _text("code_digest"),
        _time("code_issued_at", True), _int("sms_generation"), _time("last_sms_at", True),
        _text("pin_candidate"), _text("pin_hash"), _int("email_resends"), _int("sms_resends"),
        _int("sms_attempts"), _int("pin_mismatches"), _int("login_failures"), _int("audit_seq"),
        _text("audit_head"), _text("closed_reason"), sa.Column("history", sa.Text(), nullable=False),
        _time("due_at", True))
    op.create_index("ix_ecps_activation_subject_state", "ecps_activation", ["subject", "state"])
    op.create_index("ix_ecps_activation_subject_created", "ecps_activation", ["subject", "created_at"])
    op.create_index("ix_ecps_activation_created", "ecps_activation", ["created_at"])
    op.create_index("ix_ecps_activation_due", "ecps_activation", ["due_at"])
    op.create_table(
        "ecps_outbox",
        sa.Column("n", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("activation_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False), _int("generation"),
        sa.Column("payload", sa.LargeBinary(), nullable=False), _time("created_at"), _time("due_at"),
        _int("attempts"), sa.Column("status", sa.String(16), nullable=False), _time("claimed_until", True),
        _text("last_error"))
    op.create_index("ix_ecps_outbox_status_due", "ecps_outbox", ["status", "due_at"])
    op.create_index("ix_ecps_outbox_activation", "ecps_outbox", ["activation_id"])
    op.create_table(
        "ecps_audit",
        sa.Column("n", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("activation_id", sa.String(128), nullable=False),
        sa.Column("subject", sa.String(128), nullable=False),
        _int("seq"), _time("at"), _text("actor"), _text("action"), _text("outcome"), _text("reason"),
        _text("source"), _text("dest"), _text("prev_hash"), _text("hash"))
    op.create_index("ix_ecps_audit_activation_seq", "ecps_audit", ["activation_id", "seq"])
    op.bulk_insert(meta, [{"key": "schema_version", "value": "1"}])


def downgrade() -> None:
    raise NotImplementedError("downgrades are not supported")
