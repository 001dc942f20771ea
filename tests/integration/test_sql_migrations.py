"""Upgrading a database made by the first release (schema 1: JSON history in the activation row),
on SQLite and PostgreSQL: every activation, step and audit event is kept and the trails verify.

`data/schema1.sqlite3` was written by that release's own code: two activations of one identifier
(the first with 120 logins, revoked by the second), one cancelled, one expired, refused requests.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from adapters.memory import MemoryMailer, MemorySms, StaticDirectory
from adapters.sql import SqlStore, migrate
from tests.conftest import fast_settings, people
from workflow import ActivationService, State
from workflow.audit import verify
from workflow.domain import Step
from workflow.errors import StorageError
from workflow.testing import FakeClock
from workflow.verification import seal_legacy, verify_trails

FIXTURE = Path(__file__).parent / "data" / "schema1.sqlite3"
TABLES = ("ecps_meta", "ecps_activation", "ecps_outbox", "ecps_audit")
TIMES = {"created_at", "flow_deadline", "step_deadline", "last_email_at", "code_issued_at", "last_sms_at",
         "due_at", "claimed_until", "at"}


def _old_rows() -> dict[str, list[dict[str, Any]]]:
    db = sqlite3.connect(FIXTURE)
    db.row_factory = sqlite3.Row
    rows = {t: [dict(r) for r in db.execute(f"SELECT * FROM {t} ORDER BY 1")] for t in TABLES}
    db.close()
    return rows


def _schema_1(url: str, tmp_path: Path) -> str:
    """The fixture's database at `url`: the file itself on SQLite; on PostgreSQL, the schema-1 tables
    (migration 0001, without its migration record, as the first release made them) and its rows."""
    if url.startswith("sqlite"):
        path = tmp_path / "old.sqlite3"
        shutil.copy(FIXTURE, path)
        return f"sqlite:///{path}"
    from alembic import command

    engine = create_engine(url)
    with engine.begin() as conn:
        command.upgrade(migrate._config(conn), "0001")
        conn.execute(text(f"DROP TABLE {migrate.VERSION_TABLE}"))
        for table, rows in _old_rows().items():
            if table == "ecps_meta":
                continue
            for row in rows:
                values = {k: _time(v) if k in TIMES else v for k, v in row.items()}
                names = ", ".join(values)
                marks = ", ".join(":" + k for k in values)
                conn.execute(text(f"INSERT INTO {table} ({names}) VALUES ({marks})"), values)
        for table in ("ecps_outbox", "ecps_audit"):  # the rows came with their numbers
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'n'), max(n)) FROM {table}"))
    engine.dispose()
    return url


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


def _service(store: SqlStore) -> ActivationService:
    return ActivationService(store=store, mailer=MemoryMailer(), sms=MemorySms(),
                             directory=StaticDirectory(people()), clock=FakeClock(), settings=fast_settings())


def test_a_schema_1_database_upgrades_with_nothing_lost(url: str, tmp_path: Path) -> None:
    """Every activation keeps its fields and its history as steps; every audit event is kept; each
    trail verifies; the service goes on with the upgraded rows."""
    old = _old_rows()
    db_url = _schema_1(url, tmp_path)
    with SqlStore(db_url) as store:
        assert store.ensure_schema() == ("0001", migrate.HEAD)
        svc = _service(store)
        activations = {a.id: a for a in store.list_activations(100)}
        assert set(activations) == {r["id"] for r in old["ecps_activation"]}
        trails = 0
        for row in old["ecps_activation"]:
            a = activations[row["id"]]
            assert (str(a.state), a.version, a.audit_seq, a.audit_head) == (
                row["state"], row["version"], row["audit_seq"], row["audit_head"])
            history = [Step(e, None if s is None else State(s), State(d), _time(at) or datetime.now(UTC))
                       for e, s, d, at in json.loads(row["history"])]
            assert store.steps(a.id, 0, 10_000) == history
            assert a.step_count == len(history)
            trail = store.audit_trail(a.id)
            assert verify(svc.keys, trail) == []
            trails += len(trail)
        assert trails + len(store.audit_trail("")) == len(old["ecps_audit"])
        assert len(store.audit_trail("")) == 2
        sealed, left = seal_legacy(store, svc.keys, svc.engine)  # as `ecps db upgrade` does
        assert (sealed, left) == (len(activations), [])
        assert verify_trails(store, svc.keys, svc.engine).intact
        status = svc.status(old["ecps_activation"][0]["id"])
        assert status.history_total == activations[status.activation_id].step_count
        (active,) = [a for a in activations.values() if a.state == State.ACTIVE]
        assert svc.authenticate(active.id, "4821")
        assert svc.status(active.id).history[-1].event == "authenticate"
    with SqlStore(db_url) as again:
        assert again.ensure_schema() == (migrate.HEAD, migrate.HEAD)


def test_an_upgrade_stops_whole_at_a_history_that_disagrees_with_its_trail(url: str, tmp_path: Path) -> None:
    """A JSON history that does not match its audit trail stops the upgrade, naming the activation,
    and the database stays at schema 1."""
    db_url = _schema_1(url, tmp_path)
    engine = create_engine(db_url)
    with engine.begin() as conn:
        aid = conn.execute(text("SELECT id FROM ecps_activation WHERE state = 'cancelled'")).scalar_one()
        conn.execute(text("UPDATE ecps_activation SET history = '[]' WHERE id = :id"), {"id": aid})
    with SqlStore(db_url) as store, pytest.raises(StorageError, match=f"activation {aid}"):
        store.ensure_schema()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT value FROM ecps_meta")).scalar_one() == "1"
        columns = {r[1] for r in conn.execute(text("PRAGMA table_info(ecps_activation)"))} if (
            db_url.startswith("sqlite")) else {r[0] for r in conn.execute(text(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'ecps_activation' "
                "AND table_schema = current_schema()"))}
        assert "history" in columns
        assert "step_count" not in columns
    engine.dispose()
