"""The SQL store reads an activation and the head of its trail in one statement (the trust check)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from adapters.bootstrap import build_service
from adapters.memory import MemoryMailer, MemorySms
from adapters.sql import SqlStore
from tests.conftest import NID, fast_settings
from workflow import ActivationService
from workflow.definition import State
from workflow.testing import payload_from


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def svc(request: pytest.FixtureRequest, tmp_path: Path, mailer: MemoryMailer
        ) -> Iterator[ActivationService]:
    """A service on a SQLite file or a PostgreSQL schema, its e-mails in `mailer`."""
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    service = build_service(url, state_dir=tmp_path, mailer=mailer, sms=MemorySms(),
                            settings=fast_settings())
    yield service
    service.store.close()  # type: ignore[attr-defined]


def statements(store: SqlStore) -> list[str]:
    """The SQL statements the store runs from now on (appended as they run)."""
    seen: list[str] = []

    def record(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", record)
    return seen


def test_the_head_read_with_the_row_is_the_one_a_fresh_read_finds(svc: ActivationService) -> None:
    """`get` then `trail_head` runs one statement and gives the head read alone afterwards."""
    store = svc.store
    assert isinstance(store, SqlStore)
    aid = svc.request(NID, "phone").activation_id
    svc.dispatch()
    seen = statements(store)
    a = store.get(aid)
    head = store.trail_head(aid)
    assert a is not None
    assert len(seen) == 1
    assert head == (a.audit_seq, a.audit_head)
    assert store.trail_head(aid) == head  # read again: a statement of its own
    assert len(seen) == 2


def test_a_commit_forgets_the_head_read_before_it(svc: ActivationService) -> None:
    """After a commit by the same thread, `trail_head` reads the new head, not the one kept."""
    store = svc.store
    assert isinstance(store, SqlStore)
    aid = svc.request(NID, "phone").activation_id
    before = store.get(aid)
    svc.dispatch()  # the e-mail is sent: a step appended to the trail
    after = store.trail_head(aid)
    assert before is not None
    assert after is not None
    assert after[0] > before.audit_seq


def test_a_service_event_reads_its_row_and_head_in_one_statement(
        svc: ActivationService, mailer: MemoryMailer) -> None:
    """An event's load and trust check: one SELECT before the writes of its commit."""
    store = svc.store
    assert isinstance(store, SqlStore)
    aid = svc.request(NID, "phone").activation_id
    svc.dispatch()
    seen = statements(store)
    svc.scan(aid, payload_from(mailer.sent[-1]))
    reads = [s for s in seen if s.lstrip().upper().startswith("SELECT")]
    assert len(reads) == 1


def test_a_head_kept_long_ago_never_vouches_for_a_newer_row(svc: ActivationService) -> None:
    """A `get` whose head was never asked for, then a change by another thread, then a row read
    by another call: `trail_head` gives the new head (a kept one would flag the row as edited)."""
    store = svc.store
    assert isinstance(store, SqlStore)
    aid = svc.request(NID, "phone").activation_id
    old = store.get(aid)  # e.g. a route reading the device key: its head is kept, unused
    worker = threading.Thread(target=svc.dispatch)  # the e-mail sent: a step on the trail
    worker.start()
    worker.join()
    (now,) = store.find(old.subject if old else "", {State.EMAILED})
    assert store.trail_head(aid) == (now.audit_seq, now.audit_head)
    assert old is not None
    assert now.audit_seq > old.audit_seq
