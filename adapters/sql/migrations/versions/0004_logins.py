"""Schema 4: the logins by push notification, one row per login (its audit rows are the
login id's, in the audit table as they are).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from adapters.sql.schema import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ecps_login",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("activation_id", sa.String(128), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("client_name", sa.String(128), nullable=False),
        sa.Column("binding_message", sa.String(64), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("closed_reason", sa.String(), nullable=False),
        sa.Column("approved_at", UtcDateTime(), nullable=True),
        sa.Column("last_poll_at", UtcDateTime(), nullable=True),
        sa.Column("audit_seq", sa.Integer(), nullable=False),
        sa.Column("audit_head", sa.String(), nullable=False),
        sa.Column("step_count", sa.Integer(), nullable=False),
        sa.Column("seal", sa.String(64), nullable=False, server_default=""),
    )
    op.create_index("ix_ecps_login_activation_state", "ecps_login", ["activation_id", "state"])
    op.create_index("ix_ecps_login_subject_created", "ecps_login", ["subject", "created_at"])
    op.create_index("ix_ecps_login_expires", "ecps_login", ["expires_at"])
    op.create_index("ix_ecps_login_created", "ecps_login", ["created_at", "id"])
    op.execute("UPDATE ecps_meta SET value = '4' WHERE key = 'schema_version'")
