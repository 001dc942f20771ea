"""Schema 7: the HTTP API's own tables are the schema's too, created by this migration.

Proofs' identifiers (`ecps_proof_jti`), wrong operator tokens (`ecps_operator_guess`), console
sign-outs (`ecps_console_signout`) and the request rate per address (`ecps_request_address`,
`ecps_request_slot`) were created by the server when it started, outside the migrations: a
later change to one of them would have had no upgrade. A database whose server already made
them keeps them as they are; the others get them here. Nothing is rewritten.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _tables() -> list[tuple[str, list[sa.Column[object]], str]]:
    """(table, columns, the column of its index): as `adapters.api` declares them."""
    return [
        ("ecps_proof_jti", [sa.Column("key", sa.String(64), primary_key=True),
                            sa.Column("expires", sa.Float(), nullable=False)], "expires"),
        ("ecps_operator_guess", [sa.Column("n", sa.Integer(), primary_key=True, autoincrement=True),
                                 sa.Column("address", sa.String(64), nullable=False),
                                 sa.Column("at", sa.Float(), nullable=False)], "at"),
        ("ecps_console_signout", [sa.Column("nonce", sa.String(64), primary_key=True),
                                  sa.Column("until", sa.Float(), nullable=False)], "until"),
        ("ecps_request_address", [sa.Column("address", sa.String(64), primary_key=True),
                                  sa.Column("turns", sa.Integer(), nullable=False),
                                  sa.Column("last_at", sa.Float(), nullable=False)], "last_at"),
        ("ecps_request_slot", [sa.Column("address", sa.String(64), primary_key=True),
                               sa.Column("slot", sa.Integer(), primary_key=True, autoincrement=False),
                               sa.Column("at", sa.Float(), nullable=False)], "at"),
    ]


def upgrade() -> None:
    present = set(sa.inspect(op.get_bind()).get_table_names())
    for name, columns, indexed in _tables():
        if name in present:  # made by a server before this release: the same table
            continue
        op.create_table(name, *columns)
        op.create_index(f"ix_{name}_{indexed}", name, [indexed])
    op.execute("UPDATE ecps_meta SET value = '7' WHERE key = 'schema_version'")
