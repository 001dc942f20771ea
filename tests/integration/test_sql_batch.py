"""A commit's statements as one batch: on PostgreSQL sent together (psycopg's pipeline mode),
their counts checked before COMMIT; a conflict or a failure found at the end writes nothing."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.sql import SqlStore
from tests.conftest import NID
from tests.integration.test_sql_outbox import Line
from workflow.domain import Change, Turn, Write
from workflow.errors import ConcurrencyConflict, StorageError


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def line(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A service over a fresh SQLite file or PostgreSQL schema, one activation requested."""
    url = (f"sqlite:///{tmp_path / 'ecps.db'}" if request.param == "sqlite"
           else request.getfixturevalue("pg_url"))
    with SqlStore(url) as store:
        ln = Line(store)
        ln.aid = ln.svc.request(NID).activation_id
        yield ln


def _rows(store: SqlStore, aid: str) -> tuple[int, int, int]:
    """(version, outbox messages, audit events) stored for `aid`."""
    a = store.get(aid)
    assert a is not None
    return a.version, len(store.outbox_of(aid)), len(store.audit_trail(aid))


def _stale(line: Any) -> Change:
    """A change of the activation written against a version it no longer has, with an outbox
    message and an audit event sent after its update."""
    a = line.store.get(line.aid)
    message = replace(line.store.outbox_of(line.aid)[0], id="m-stale")
    event = replace(line.store.audit_trail(line.aid)[-1], seq=a.audit_seq + 1)
    return Change(writes=(Write(replace(a, version=a.version + 1), a.version - 1),),
                  outbox=(message,), audit=(event,))


def test_a_stale_write_is_a_conflict_and_what_was_sent_after_it_is_not_kept(line: Any) -> None:
    before = _rows(line.store, line.aid)
    with pytest.raises(ConcurrencyConflict, match=f"activation {line.aid} changed meanwhile"):
        line.store.commit(_stale(line))
    assert _rows(line.store, line.aid) == before
    line.svc.dispatch()  # the same connections go on: the e-mail is sent and recorded
    assert _rows(line.store, line.aid) == (before[0] + 1, before[1], before[2] + 1)


def test_a_turn_taken_meanwhile_is_a_conflict(line: Any) -> None:
    a = line.store.get(line.aid)
    subject = a.subject
    taken = line.store.turn(subject)
    with pytest.raises(ConcurrencyConflict, match="another change of this identifier came first"):
        line.store.commit(Change(turns=(Turn(subject, taken - 1),),
                                 outbox=(replace(line.store.outbox_of(line.aid)[0], id="m-x"),)))
    assert line.store.turn(subject) == taken
    assert len(line.store.outbox_of(line.aid)) == 1


def test_a_row_refused_by_an_index_at_the_end_is_a_conflict_and_nothing_is_kept(line: Any) -> None:
    """An audit event chained after a head another commit took first: the database refuses
    it when the batch ends, after the activation's update was sent."""
    a = line.store.get(line.aid)
    before = _rows(line.store, line.aid)
    taken = line.store.audit_trail(line.aid)[-1]  # its seq is taken
    change = Change(writes=(Write(replace(a, version=a.version + 1), a.version),), audit=(taken,))
    with pytest.raises(ConcurrencyConflict):
        line.store.commit(change)
    assert _rows(line.store, line.aid) == before
    line.svc.dispatch()
    assert _rows(line.store, line.aid)[0] == before[0] + 1


def test_a_value_that_cannot_be_stored_is_a_storage_error_and_nothing_is_kept(
        line: Any, caplog: pytest.LogCaptureFixture) -> None:
    """A value the column type refuses, after other statements were sent: `StorageError`,
    nothing written, nothing logged by the driver."""
    a = line.store.get(line.aid)
    before = _rows(line.store, line.aid)
    message = replace(line.store.outbox_of(line.aid)[0], id="m-naive", due_at=datetime(2026, 1, 5))
    change = Change(writes=(Write(replace(a, version=a.version + 1), a.version),), outbox=(message,))
    with caplog.at_level(logging.DEBUG), pytest.raises(StorageError, match="cannot be stored"):
        line.store.commit(change)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert _rows(line.store, line.aid) == before
    line.svc.dispatch()
    assert _rows(line.store, line.aid)[0] == before[0] + 1


@pytest.mark.postgres
def test_on_postgresql_a_commit_sends_its_statements_in_one_pipeline(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every statement of a commit goes out in pipeline mode (answers read once, before
    COMMIT); reads do not, nor does a claim (one statement in autocommit)."""
    import psycopg
    from psycopg.pq import PipelineStatus

    seen: list[tuple[str, bool]] = []
    real = psycopg.Cursor.execute

    def execute(cursor: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        words = str(query).split()
        table = next((w for w in words if w.startswith("ecps_")), "")
        seen.append((f"{words[0]} {table}",
                     cursor.connection.info.pipeline_status != PipelineStatus.OFF))
        return real(cursor, query, *args, **kwargs)

    with SqlStore(pg_url) as store:
        store.ensure_schema()
        line = Line(store)
        monkeypatch.setattr(psycopg.Cursor, "execute", execute)
        aid = line.svc.request(NID).activation_id
        line.svc.dispatch()
        monkeypatch.undo()
        writes = [(q, piped) for q, piped in seen if not q.startswith(("SELECT", "WITH"))]
        assert {q for q, _ in writes} >= {"INSERT ecps_subject", "INSERT ecps_activation",
                                          "INSERT ecps_outbox", "INSERT ecps_audit",
                                          "UPDATE ecps_activation"}
        claims = [w for w in writes if w[0] == "UPDATE ecps_outbox"]  # one statement: autocommit
        assert claims
        assert not any(piped for _, piped in claims)
        assert all(piped for q, piped in writes if (q, piped) not in claims), writes
        assert not any(piped for q, piped in seen if q.startswith("SELECT"))
        assert line.store.get(aid).state == "emailed"  # type: ignore[union-attr]



@pytest.mark.postgres
def test_without_pipeline_mode_in_libpq_each_statement_runs_in_turn(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A libpq older than 14 has no pipeline mode: commits run and check each statement in
    turn, and a stale write is still a conflict."""
    import psycopg

    from adapters.sql import batch

    batch._pipelines.cache_clear()
    monkeypatch.setattr(psycopg.Pipeline, "is_supported", classmethod(lambda _cls: False))

    def refused(*_: Any) -> Any:  # what such a libpq answers
        raise psycopg.NotSupportedError("pipeline mode not supported")

    monkeypatch.setattr(psycopg.Connection, "pipeline", refused)
    try:
        with SqlStore(pg_url) as store:
            line = Line(store)
            line.aid = line.svc.request(NID).activation_id
            assert line.svc.dispatch() == 1
            assert line.store.get(line.aid).state == "emailed"  # type: ignore[union-attr]
            with pytest.raises(ConcurrencyConflict):
                line.store.commit(_stale(line))
    finally:
        monkeypatch.undo()
        batch._pipelines.cache_clear()
