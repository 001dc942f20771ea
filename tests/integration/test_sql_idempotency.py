"""`Idempotency-Key` answers over SqlStore (SQLite, PostgreSQL): committed with the change they
answer, so a process killed at any point leaves both or neither; they hold no secret."""

from __future__ import annotations

import multiprocessing
import os
import signal
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from adapters.api import create_app
from adapters.api.idempotency import STALE_SECONDS
from adapters.device import DeviceKey
from adapters.memory import MemoryMailer, MemorySms, StaticDirectory
from adapters.sql import SqlStore
from tests.conftest import NID, fast_settings, people
from tests.e2e.http_device import DeviceClient
from tests.integration.test_sql_secrets_at_rest import _dump, _standalone
from workflow import ActivationService
from workflow.domain import Change
from workflow.testing import FakeClock, code_from, payload_from

FORK = multiprocessing.get_context("fork")
KEY = {"Idempotency-Key": "ask-1"}


def _service(url: str, clock: FakeClock, mailer: MemoryMailer | None = None,
             sms: MemorySms | None = None) -> ActivationService:
    return ActivationService(store=SqlStore(url), mailer=mailer or MemoryMailer(), sms=sms or MemorySms(),
                             directory=StaticDirectory(people()), clock=clock, settings=fast_settings())


def _rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


DEVICE = DeviceKey.generate()  # one key: the retry repeats the very same request


def _ask_and_die(url: str, now: str, when: str) -> None:
    """POST /activations under a key; SIGKILL this process just before or just after the commit."""
    svc = _service(url, FakeClock(datetime.fromisoformat(now)))
    store: Any = svc.store
    real = store.commit

    def commit(change: Change) -> None:
        if when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        real(change)
        if when == "after":
            os.kill(os.getpid(), signal.SIGKILL)

    store.commit = commit
    with TestClient(create_app(svc, dispatch_every=None)) as client:
        client.post("/activations", json={"national_id": NID, "device_key": DEVICE.public_jwk},
                    headers=KEY)
    os._exit(3)  # not reached: the kill comes first


@pytest.fixture
def killed(url: str, clock: FakeClock, request: pytest.FixtureRequest) -> str:
    """The database after a child was killed around its commit (`request.param`: before / after)."""
    with SqlStore(url) as store:
        store.ensure_schema()
    child = FORK.Process(target=_ask_and_die, args=(url, clock.now().isoformat(), request.param))
    child.start()
    child.join(60)
    assert child.exitcode == -signal.SIGKILL
    when: str = request.param
    return when


@pytest.mark.parametrize("killed", ["before", "after"], indirect=True)
def test_a_kill_around_the_commit_leaves_the_change_and_its_answer_together(
        url: str, clock: FakeClock, killed: str) -> None:
    """Killed before the commit: no activation, no answer, and the retry runs once the reservation
    lapses; killed after it: the activation and its answer, and the retry replays it."""
    activations = _rows(url, "SELECT id FROM ecps_activation")
    answers = _rows(url, "SELECT status, body FROM ecps_idempotency WHERE key = 'ask-1'")
    if killed == "before":
        assert activations == []
        assert [status for status, _ in answers] in ([], [0])  # at most the reservation
        clock.advance(timedelta(seconds=STALE_SECONDS + 1))
    else:
        ((aid,),) = activations
        ((status, body),) = answers
        assert status == 201
        assert aid in bytes(body).decode()
    svc = _service(url, clock)
    with TestClient(create_app(svc, dispatch_every=None)) as client:
        retry = client.post("/activations", json={"national_id": NID, "device_key": DEVICE.public_jwk},
                            headers=KEY)
    svc.store.close()  # type: ignore[attr-defined]
    assert retry.status_code == 201
    assert retry.headers.get("idempotent-replayed") == ("true" if killed == "after" else None)
    ((aid,),) = _rows(url, "SELECT id FROM ecps_activation")
    assert retry.json()["activation_id"] == aid
    ((status,),) = _rows(url, "SELECT status FROM ecps_idempotency WHERE key = 'ask-1'")
    assert status == 201


def test_stored_answers_hold_no_secret(url: str, clock: FakeClock) -> None:
    """A whole flow through HTTP with a key on every call leaves answers without token, code,
    PIN, full contact or identifier."""
    mailer, sms = MemoryMailer(), MemorySms()
    svc = _service(url, clock, mailer, sms)
    with TestClient(create_app(svc, dispatch_every=None)) as client:
        phone = DeviceClient(client, lambda: clock.now().timestamp())

        def post(path: str, n: int, **body: str) -> Any:
            return phone.post(path, json=body or None, headers={"Idempotency-Key": f"k-{n}"})

        aid = post("/activations", 1, national_id=NID).json()["activation_id"]
        svc.dispatch()
        payload = payload_from(mailer.sent[-1])
        assert post(f"/activations/{aid}/scan", 2, qr_payload=payload).status_code == 200
        svc.dispatch()
        code = code_from(sms.sent[-1])
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        assert post(f"/activations/{aid}/sms", 3, code=wrong).status_code == 422
        assert post(f"/activations/{aid}/sms", 4, code=code).status_code == 200
        assert post(f"/activations/{aid}/pin", 5, pin="4821").status_code == 200
        assert post(f"/activations/{aid}/pin/confirm", 6, pin="4821").status_code == 200
        assert post(f"/activations/{aid}/authenticate", 7, pin="4821").status_code == 200
    svc.store.close()  # type: ignore[attr-defined]
    kept = _rows(url, "SELECT key FROM ecps_idempotency WHERE status <> 0")
    assert len(kept) == 7
    dump, blobs = _dump(url)
    token = payload.rsplit("t=", 1)[1]
    for secret in (token, NID, "jane.doe@domain.fr", "0612345678"):
        assert secret not in dump
        assert secret.encode() not in blobs
    for secret in (code, wrong, "4821"):
        assert not _standalone(secret).search(dump)


def test_a_key_past_its_lifetime_is_new_again_without_a_purge(url: str) -> None:
    """Expired keys are purged only now and then: until then, one past its lifetime is still
    taken as new (with another body too), and one within it still replays its answer."""
    from adapters.api.idempotency import TTL_SECONDS, KeyReused, Saved, SqlIdempotency

    store = SqlStore(url)
    store.ensure_schema()
    keys = SqlIdempotency(store.engine)
    try:
        assert keys.reserve("k", "first", 1000.0) is None  # the one reservation that purges
        keys.save("k", Saved(201, b"{}", {"Location": "/activations/a"}))
        assert keys.reserve("k", "first", 1000.0 + TTL_SECONDS - 1) == Saved(
            201, b"{}", {"Location": "/activations/a"})
        with pytest.raises(KeyReused):
            keys.reserve("k", "other", 1000.0 + TTL_SECONDS - 1)
        assert keys.reserve("k", "other", 1000.0 + TTL_SECONDS) is None
        assert _rows(url, "SELECT status FROM ecps_idempotency WHERE key = 'k'") == [(0,)]
    finally:
        store.close()
