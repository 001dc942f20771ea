"""The requests that hash or check a PIN run on threads of their own (`pin_threads`): one in
flight holds up no other request, and no more of them run at once than the lane has threads."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from adapters.api.lanes import PinLane
from adapters.cli import serving
from adapters.sql import SqlStore
from tests.conftest import loopback
from tests.e2e.http_device import DeviceClient
from tests.e2e.phone import NID, Phone

OTHER = "810100000008"  # a second professional of the shipped directory
WAIT = 60.0


def verified(phone: Phone, http: DeviceClient, nid: str) -> str:
    """An activation of `nid` whose SMS code was just verified (a PIN comes next); its id."""
    aid = str(http.post("/activations", json={"national_id": nid}).json()["activation_id"])
    assert http.post(f"/activations/{aid}/scan", json={"qr_payload": phone.payload()}).is_success
    assert http.post(f"/activations/{aid}/sms", json={"code": phone.code()}).is_success
    return aid


def test_a_pin_hash_in_flight_holds_up_no_other_request(tmp_path: Path) -> None:
    """One request thread and one PIN thread: while a PIN is being hashed, a new activation and
    a status read are answered; a second PIN waits for the lane, then both are set."""
    phone = Phone(tmp_path)
    hashing, release = threading.Semaphore(0), threading.Event()
    started: list[str] = []
    real: Callable[[str, str], str] = phone.svc.keys.hash_pin

    def slow_hash(activation_id: str, pin: str) -> str:
        started.append(activation_id)
        hashing.release()
        assert release.wait(WAIT)
        return real(activation_id, pin)

    with loopback(phone.app(threads=1, pin_threads=1)) as base, \
            httpx.Client(base_url=base, timeout=WAIT) as raw, ThreadPoolExecutor(2) as pool:
        http = DeviceClient(raw, phone.now)
        first, second = verified(phone, http, NID), verified(phone, http, OTHER)
        phone.svc.keys.hash_pin = slow_hash  # type: ignore[method-assign]
        pins = [pool.submit(http.post, f"/activations/{aid}/pin", json={"pin": "3971"})
                for aid in (first, second)]
        assert hashing.acquire(timeout=WAIT)  # one PIN is being hashed, its lane is full
        try:
            third = http.post("/activations", json={"national_id": "810000012343"})
            read = http.get(f"/activations/{first}")
            assert not hashing.acquire(timeout=0.2)  # the other PIN still waits for the lane
            assert len(started) == 1
        finally:
            release.set()
        answers = [p.result(WAIT) for p in pins]
    assert third.status_code == 201, third.text
    assert read.status_code == 200
    assert [a.status_code for a in answers] == [200, 200]
    assert sorted(started) == sorted([first, second])
    assert {phone.svc.status(a).state for a in (first, second)} == {"pin_set"}


def test_each_serving_process_keeps_a_connection_per_thread_of_both_lanes(tmp_path: Path) -> None:
    """`ecps serve`'s defaults: 2 request threads on SQLite with a directory file, 8 when
    requests wait on the network (PostgreSQL, a directory API), and a connection kept for
    each thread of both lanes and the dispatcher."""
    sqlite, pg = f"sqlite:///{tmp_path / 'db.sqlite3'}", "postgresql+psycopg://db.example/ecps"
    assert serving.default_threads(sqlite, {}) == serving.default_threads(
        sqlite, {"ECPS_DIRECTORY": str(tmp_path / "directory.json")}) == 2
    assert serving.default_threads(sqlite, {"ECPS_DIRECTORY": "https://annuaire.example/fhir"}) == 8
    assert serving.default_threads(pg, {}) == 8
    options = serving.Serving("127.0.0.1", None, str(tmp_path), None, "info", "plain", 3,
                              pin_threads=5)
    store = serving.service_of(options).store
    assert isinstance(store, SqlStore)
    try:
        assert store._keep == 3 + 5 + 1
    finally:
        store.close()
    with pytest.raises(ValueError, match="at least one thread"):
        PinLane(0)
