"""Schema 3: each activation keeps the thumbprint of the device key it is bound to, and a seal.

The seal (a keyed digest of the row) is set by the service at each commit; rows written before
have none and are trusted only as far as their audit trail proves until then.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ecps_activation", sa.Column("device_thumbprint", sa.String(64), nullable=False,
                                               server_default=""))
    op.add_column("ecps_activation", sa.Column("seal", sa.String(64), nullable=False, server_default=""))
    op.execute("UPDATE ecps_meta SET value = '3' WHERE key = 'schema_version'")
