"""Schema 5: refused requests are chained per pseudonymised identifier: chained audit events are unique.

A unique index on (activation_id, subject, seq) for `seq` > 0 keeps two commits from chaining
after one head (the second is a conflict, retried) and finds a subject's newest refusal in
one read. Refusals recorded before have `seq` 0: the index leaves them out, and audit
verification checks each of them alone (the legacy rule). Nothing is rewritten.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    chained = sa.text("seq > 0")
    op.create_index("ux_ecps_audit_chain", "ecps_audit", ["activation_id", "subject", "seq"],
                    unique=True, sqlite_where=chained, postgresql_where=chained)
    op.execute("UPDATE ecps_meta SET value = '5' WHERE key = 'schema_version'")
