"""The transactional outbox over SqlStore: retries with back-off, giving up, leases, dropping."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.memory import MemoryMailer, MemorySms, StaticDirectory
from adapters.sql import SqlStore
from tests.conftest import NID, Driver, fast_settings, people
from workflow import ActivationService, State
from workflow.domain import Delivery, OutboxMessage
from workflow.testing import FakeClock
from workflow.testing.faults import FaultyMailer, FaultySms, permanent_delivery, transient_delivery

BACKOFF = fast_settings().delivery_backoff


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    """A store on a fresh SQLite file or PostgreSQL schema."""
    url = (f"sqlite:///{tmp_path / 'ecps.db'}" if request.param == "sqlite"
           else request.getfixturevalue("pg_url"))
    with SqlStore(url) as s:
        yield s


class Line:
    """A service whose mailer and SMS gateway fail on demand."""

    def __init__(self, store: SqlStore) -> None:
        self.clock = FakeClock()
        self.mail, self.sms = MemoryMailer(), MemorySms()
        self.mailer, self.gateway = FaultyMailer(self.mail), FaultySms(self.sms)
        self.store = store
        self.svc = ActivationService(store=store, mailer=self.mailer, sms=self.gateway,
                                     directory=StaticDirectory(people()), clock=self.clock,
                                     settings=fast_settings())

    def message(self, aid: str, index: int = -1) -> OutboxMessage:
        return self.store.outbox_of(aid)[index]

    def retry_until_done(self, aid: str, index: int = -1) -> list[timedelta]:
        """Dispatch at each due time until the message is done; the waits between attempts."""
        waits: list[timedelta] = []
        while (m := self.message(aid, index)).status == Delivery.PENDING:
            wait = m.due_at - self.clock.now()
            if wait > timedelta(0):
                self.clock.advance(wait - timedelta(seconds=1))
                calls = len(self.mailer.calls) + len(self.gateway.calls)
                assert self.svc.dispatch() == 0  # not yet due: not tried
                assert len(self.mailer.calls) + len(self.gateway.calls) == calls
                self.clock.advance(timedelta(seconds=1))
            waits.append(wait)
            self.svc.dispatch()
        return waits


@pytest.mark.parametrize("failures", [1, 2, 4])
def test_a_flaky_mailer_delivers_once_after_back_off(store: SqlStore, failures: int) -> None:
    """The mailer fails N times then accepts: one delivery, after waits of 10 s, 20 s, 40 s..."""
    line = Line(store)
    line.mailer.inject(transient_delivery(), times=failures)
    aid = line.svc.request(NID).activation_id
    waits = line.retry_until_done(aid)
    assert waits == [timedelta(0)] + [BACKOFF * 2 ** k for k in range(failures)]
    m = line.message(aid)
    assert (m.status, m.attempts, m.payload, m.last_error) == (Delivery.SENT, failures + 1, b"",
                                                               "DeliveryFailed")
    assert len(line.mail.sent) == 1
    assert line.mail.sent[0].message_id == m.id
    assert line.svc.status(aid).state == State.EMAILED


def test_a_mailer_that_always_fails_ends_the_flow_failed(store: SqlStore) -> None:
    """After the last of five attempts the message is abandoned and the flow is `failed`."""
    line = Line(store)
    line.mailer.fail_always(transient_delivery())
    aid = line.svc.request(NID).activation_id
    waits = line.retry_until_done(aid)
    attempts = fast_settings().delivery_attempts
    assert len(waits) == attempts
    assert sum(waits, timedelta(0)) == BACKOFF * (2 ** (attempts - 1) - 1)  # 150 s
    m = line.message(aid)
    assert (m.status, m.attempts, m.payload) == (Delivery.ABANDONED, attempts, b"")
    status = line.svc.status(aid)
    assert status.state == State.FAILED
    assert status.history[-1].event == "delivery_failed"
    line.clock.advance(timedelta(hours=1))
    assert line.svc.dispatch() == 0
    assert len(line.mailer.calls) == attempts
    assert line.mail.sent == []


def test_a_permanent_refusal_fails_the_flow_at_once(store: SqlStore) -> None:
    """A mailer that refuses the address for good is not retried."""
    line = Line(store)
    line.mailer.fail_always(permanent_delivery())
    aid = line.svc.request(NID).activation_id
    line.svc.dispatch()
    assert (line.message(aid).status, line.message(aid).attempts) == (Delivery.ABANDONED, 1)
    assert line.svc.status(aid).state == State.FAILED


def test_an_undeliverable_sms_fails_the_scanned_flow(store: SqlStore) -> None:
    """The SMS gateway always failing ends a scanned flow in `failed`."""
    line = Line(store)
    driver = Driver(line.svc, line.mail, line.sms)
    line.gateway.fail_always(transient_delivery())
    aid = line.svc.request(NID).activation_id
    line.svc.dispatch()
    line.svc.scan(aid, driver.payload(aid))
    line.retry_until_done(aid)
    assert line.message(aid).status == Delivery.ABANDONED
    assert line.svc.status(aid).state == State.FAILED
    assert line.sms.sent == []


def test_a_claim_of_a_dead_dispatcher_lapses_after_its_lease(store: SqlStore) -> None:
    """A message claimed by a dispatcher that died is delivered once its lease has passed."""
    line = Line(store)
    aid = line.svc.request(NID).activation_id
    lease = fast_settings().delivery_lease
    (claimed,) = store.claim_outbox(line.clock.now(), 10, lease)  # then the claimer dies
    assert line.svc.dispatch() == 0
    line.clock.advance(lease - timedelta(seconds=1))
    assert line.svc.dispatch() == 0
    line.clock.advance(timedelta(seconds=1))
    assert line.svc.dispatch() == 1
    assert [m.message_id for m in line.mail.sent] == [claimed.id]
    assert line.svc.status(aid).state == State.EMAILED


def test_a_message_that_no_longer_fits_is_dropped_unsent(store: SqlStore) -> None:
    """An activation e-mail of a cancelled flow, or of an older generation, is never sent."""
    line = Line(store)
    first = line.svc.request(NID).activation_id
    line.svc.cancel(first)
    second = line.svc.request(NID).activation_id
    line.clock.advance(timedelta(seconds=61))
    line.svc.resend_email(second)
    assert line.svc.dispatch() == 1
    assert [m.status for m in store.outbox_of(first)] == [Delivery.DROPPED]
    assert [m.status for m in store.outbox_of(second)] == [Delivery.DROPPED, Delivery.SENT]
    assert all(m.payload == b"" for m in store.outbox_of(second))
    assert [m.message_id for m in line.mail.sent] == [store.outbox_of(second)[1].id]


def test_a_claim_reads_the_queue_in_its_index_order(store: SqlStore) -> None:
    """The claim's order (due time, creation, number) is its index's: the database reads the
    messages it takes, not every due one to sort them (a claim would cost more the longer the
    queue, and a dispatcher behind would fall further behind)."""
    store.ensure_schema()
    now = FakeClock().now()
    compiled = store._sql.claim.statement.compile(dialect=store.engine.dialect)
    values = compiled.construct_params({"now": now, "until": now, "limit": 1})
    with store.engine.connect() as conn:
        if store.engine.dialect.name == "sqlite":
            order = compiled.positiontup or []
            args = tuple(str(values[name]) for name in order)
            plan = [str(row[-1]) for row in conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {compiled}", args)]
        else:
            plan = [str(row[0]) for row in conn.exec_driver_sql(f"EXPLAIN {compiled}", values)]
    text = "\n".join(plan)
    assert "ix_ecps_outbox_claim_order" in text, text
    assert "TEMP B-TREE" not in text, text  # SQLite's sort
    assert "Sort" not in text, text  # PostgreSQL's


@pytest.mark.postgres
def test_a_claim_is_one_statement_in_its_own_transaction(pg_url: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """On PostgreSQL a claim runs in autocommit (its one statement is its transaction: no BEGIN
    and COMMIT round trips), and the connection goes back to the pool out of it."""
    import psycopg

    seen: list[bool] = []
    real = psycopg.Cursor.execute

    def execute(cursor: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        if str(query).startswith("UPDATE ecps_outbox SET claimed_until"):
            seen.append(cursor.connection.autocommit)
        return real(cursor, query, *args, **kwargs)

    with SqlStore(pg_url) as store:
        line = Line(store)
        line.svc.request(NID)
        monkeypatch.setattr(psycopg.Cursor, "execute", execute)
        (claimed,) = store.claim_outbox(line.clock.now(), 10, fast_settings().delivery_lease)
        assert store.claim_outbox(line.clock.now(), 10, fast_settings().delivery_lease) == []
        monkeypatch.undo()
        assert seen == [True, True]
        assert claimed.claimed_until is not None
        assert line.svc.dispatch() == 0  # still leased
        assert all(not c.connection.dbapi_connection.autocommit  # type: ignore[union-attr]
                   for c in store._kept)
