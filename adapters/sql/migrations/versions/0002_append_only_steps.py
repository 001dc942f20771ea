"""Schema 2: steps are audit events (numbered by `step`), the activation row a snapshot
(`step_count` instead of its JSON history); per-identifier turns; idempotency answers.

Each activation's JSON history must match the transitions of its audit trail (event, source,
destination, in order); the upgrade stops, changing nothing, at the first one that does not.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
BATCH = 500

_ACTIVATION = sa.table("ecps_activation", sa.column("id"), sa.column("history"), sa.column("step_count"))
_AUDIT = sa.table("ecps_audit", sa.column("n"), sa.column("activation_id"), sa.column("seq"),
                  sa.column("outcome"), sa.column("action"), sa.column("source"), sa.column("dest"),
                  sa.column("step"))


def upgrade() -> None:
    op.add_column("ecps_audit", sa.Column("step", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("ecps_activation", sa.Column("step_count", sa.Integer(), nullable=False,
                                               server_default="0"))
    _number_the_steps(op.get_bind())
    op.drop_column("ecps_activation", "history")
    op.create_index("ix_ecps_audit_activation_step", "ecps_audit", ["activation_id", "step"])
    op.create_table("ecps_subject", sa.Column("subject", sa.String(128), primary_key=True),
                    sa.Column("turn", sa.Integer(), nullable=False))
    if not sa.inspect(op.get_bind()).has_table("ecps_idempotency"):  # the HTTP API may have made it
        op.create_table(
            "ecps_idempotency", sa.Column("key", sa.String(255), primary_key=True),
            sa.Column("fingerprint", sa.String(64), nullable=False),
            sa.Column("created", sa.Float(), nullable=False, index=True),
            sa.Column("status", sa.Integer(), nullable=False),
            sa.Column("body", sa.LargeBinary(), nullable=False),
            sa.Column("headers", sa.Text(), nullable=False))
    op.execute("UPDATE ecps_meta SET value = '2' WHERE key = 'schema_version'")


def _number_the_steps(conn: sa.Connection) -> None:
    """Give each transition of each activation its step number, checked against its JSON history."""
    last = ""
    while True:
        page = conn.execute(sa.select(_ACTIVATION.c.id, _ACTIVATION.c.history)
                            .where(_ACTIVATION.c.id > last).order_by(_ACTIVATION.c.id).limit(BATCH)).all()
        for aid, history in page:
            _number(conn, aid, json.loads(history))
        if len(page) < BATCH:
            return
        last = page[-1][0]


def _number(conn: sa.Connection, aid: str, history: list[list[Any]]) -> None:
    a = _AUDIT.c
    moves = conn.execute(sa.select(a.n, a.action, a.source, a.dest)
                         .where(a.activation_id == aid, a.outcome != "refused").order_by(a.seq, a.n)).all()
    recorded = [(event, source or "", dest) for event, source, dest, _ in history]
    if [(m.action, m.source, m.dest) for m in moves] != recorded:
        raise RuntimeError(f"activation {aid}: its history ({len(recorded)} steps) does not match its "
                           f"audit trail ({len(moves)} transitions); the upgrade stops and changes nothing")
    if moves:
        conn.execute(sa.update(_AUDIT).where(a.n == sa.bindparam("n_")).values(step=sa.bindparam("step_")),
                     [{"n_": m.n, "step_": i} for i, m in enumerate(moves, start=1)])
    conn.execute(sa.update(_ACTIVATION).where(_ACTIVATION.c.id == aid).values(step_count=len(moves)))


def downgrade() -> None:
    raise NotImplementedError("downgrades are not supported")
