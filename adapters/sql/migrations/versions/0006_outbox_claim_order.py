"""Schema 6: the outbox index holds the order messages are claimed in.

A claim takes the first due message by (due_at, created_at, n). The index on (status, due_at)
gave only the first of those: each claim read and sorted every due message, so the longer the
queue, the slower the dispatcher that drains it. The index on (status, due_at, created_at, n)
gives the whole order: a claim reads the rows it takes and the locked ones before them.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_ecps_outbox_status_due", table_name="ecps_outbox")
    op.create_index("ix_ecps_outbox_claim_order", "ecps_outbox", ["status", "due_at", "created_at", "n"])
    op.execute("UPDATE ecps_meta SET value = '6' WHERE key = 'schema_version'")
