"""How many transactions and pooled connections one `POST /activations` takes, on each backend."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event

with warnings.catch_warnings():  # Starlette's note about httpx2 is not ours to act on
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from fastapi.testclient import TestClient

from adapters.api import create_app
from adapters.api.settings import HttpSettings
from adapters.bootstrap import build_service
from adapters.device import DeviceKey
from adapters.memory import MemoryMailer, MemorySms, StaticDirectory
from adapters.sql import SqlStore
from benchmarks.common import identifiers, people
from tests.conftest import fast_settings, loopback
from workflow import ActivationService

NID = "899700366240"
BODY = {"national_id": NID, "device_key": DeviceKey.generate().public_jwk}


@dataclass
class Tally:
    """What the store's engine did: connections checked out and transactions run."""

    checkouts: int = 0
    commits: int = 0
    rollbacks: int = 0
    autocommitted: int = 0  # statements each run as a transaction of its own

    @property
    def transactions(self) -> int:
        return self.commits + self.rollbacks + self.autocommitted


def tallied(svc: ActivationService) -> Tally:
    """A tally kept by event listeners on the service's store."""
    assert isinstance(svc.store, SqlStore)
    engine, tally = svc.store.engine, Tally()

    def checkout(*_: Any) -> None:
        tally.checkouts += 1

    def commit(_: Any) -> None:
        tally.commits += 1

    def rollback(_: Any) -> None:
        tally.rollbacks += 1

    def statement(conn: Any, *_: Any) -> None:
        if getattr(conn.connection.dbapi_connection, "autocommit", False) is True:
            tally.autocommitted += 1

    event.listen(engine.pool, "checkout", checkout)
    event.listen(engine, "commit", commit)
    event.listen(engine, "rollback", rollback)
    event.listen(engine, "before_cursor_execute", statement)
    return tally


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ActivationService]:
    """A service on a SQLite file or a PostgreSQL schema, its schema already created."""
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    svc = build_service(url, state_dir=tmp_path, mailer=MemoryMailer(), sms=MemorySms(),
                        settings=fast_settings())
    assert isinstance(svc.store, SqlStore)
    svc.store.ensure_schema()
    yield svc
    svc.store.close()


def test_a_request_is_one_transaction_on_one_connection(service: ActivationService) -> None:
    """POST /activations, first and superseding: one transaction for the change, on the
    connection the store kept since it opened the database (no connection opened or checked
    out); on SQLite the count against the address's limit is part of it, on PostgreSQL it is
    committed before, on its own (the address's row would stay locked for the whole request)."""
    with TestClient(create_app(service, dispatch_every=None)) as http:
        tally = tallied(service)
        for n in range(2):  # the second supersedes the first: more reads, still one transaction
            before = Tally(**{k: getattr(tally, k) for k in ("checkouts", "commits", "rollbacks",
                                                             "autocommitted")})
            answer = http.post("/activations", json=BODY)
            assert answer.status_code == 201, answer.text
            assert len(answer.json()["superseded"]) == n
            assert tally.checkouts - before.checkouts == 0  # the connection the store keeps
            own = 1 if service.store.dialect_name == "sqlite" else 2  # type: ignore[attr-defined]
            assert tally.transactions - before.transactions == own
            assert tally.commits - before.commits == own


def test_a_refused_commit_rolls_back_what_the_request_read(service: ActivationService) -> None:
    """Over the limit: the request is refused, the store keeps five and the connection is reused."""
    with TestClient(create_app(service, dispatch_every=None)) as http:
        codes = [http.post("/activations", json=BODY).status_code
                 for _ in range(6)]
    assert codes == [201] * 5 + [429]
    assert len(service.store.list_activations(10)) == 5


def test_an_event_through_the_library_is_one_transaction_too(service: ActivationService) -> None:
    """An event called on the service itself (here `cancel`): one connection, one transaction;
    the connection is the one the store kept from the calls before (no pool checkout)."""
    aid = service.request(NID, "phone", device_key=BODY["device_key"]).activation_id
    service.dispatch()
    tally = tallied(service)
    service.cancel(aid)
    assert tally.checkouts == 0
    assert tally.transactions == 1
    assert tally.commits == 1


def test_a_burst_of_requests_opens_no_connection_past_the_pool(tmp_path: Path) -> None:
    """Four request threads over a pool of five: 3 bursts of 16 concurrent POSTs to a real server
    open at most five connections in all (none opened and closed per request under load)."""
    nids = identifiers(48, start=6_000_000)
    svc = build_service(None, state_dir=tmp_path, mailer=MemoryMailer(), sms=MemorySms(),
                        directory=StaticDirectory(people(nids)), settings=fast_settings(),
                        pool_size=5)
    assert isinstance(svc.store, SqlStore)
    svc.store.ensure_schema()
    opened = [0]

    def connect(*_: Any) -> None:
        opened[0] += 1

    event.listen(svc.store.engine.pool, "connect", connect)
    app = create_app(svc, dispatch_every=None, threads=4, http=HttpSettings(request_rate=100))
    try:
        with loopback(app) as base, httpx.Client(base_url=base, timeout=60) as http, \
                ThreadPoolExecutor(16) as pool:
            for burst in range(3):
                answers = list(pool.map(lambda nid: http.post("/activations", json={
                    **BODY, "national_id": nid}), nids[16 * burst:16 * (burst + 1)]))
                assert [a.status_code for a in answers] == [201] * 16
    finally:
        svc.store.close()
    assert 1 <= opened[0] <= 5


@pytest.mark.postgres
def test_a_read_on_its_own_is_counted_as_its_own_transaction(pg_url: str) -> None:
    """The tally above sees a read outside a unit (autocommit on PostgreSQL) as one transaction,
    and the connection goes back to transactions for the next change."""
    store = SqlStore(pg_url)
    store.ensure_schema()
    try:
        tally = tallied(ActivationService(store=store, mailer=MemoryMailer(), sms=MemorySms(),
                                          directory=StaticDirectory([]), settings=fast_settings()))
        store.list_activations(1)
        assert (tally.autocommitted, tally.commits) == (1, 0)  # its end rolls back nothing
        with store.unit():
            assert store.list_activations(1) == []
            assert tally.autocommitted == 1  # inside a unit: part of the unit's transaction
    finally:
        store.close()


def test_proofs_and_idempotency_keys_use_the_stores_connections(service: ActivationService) -> None:
    """Calls carrying a device proof (its `jti` table) and an `Idempotency-Key` (its answers
    table) run on the connections the store keeps: none is opened per call."""
    from tests.e2e.http_device import DeviceClient

    opened = [0]

    def connect(*_: Any) -> None:
        opened[0] += 1

    with TestClient(create_app(service, dispatch_every=None)) as http:
        phone, key = DeviceClient(http, now=time.time), DeviceKey.generate()
        started = phone.start({"national_id": NID}, headers={"Idempotency-Key": "first"}, key=key)
        assert started.status_code == 201, started.text
        aid = started.json()["activation_id"]
        event.listen(service.store.engine, "connect", connect)
        for n in range(10):
            assert phone.get(f"/activations/{aid}").status_code == 200
            again = phone.start({"national_id": NID}, headers={"Idempotency-Key": "first"}, key=key)
            assert again.headers.get("idempotent-replayed") == "true"
            assert phone.post(f"/activations/{aid}/cancel", proof=False,
                              headers={"Idempotency-Key": f"k{n}"}).status_code == 401
    assert opened[0] == 0
