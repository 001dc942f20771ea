"""Where requests run: those that hash or check a PIN on threads of their own (`pin_threads`),
one in flight holding up no other request; the others on the app's threads, or on the event
loop's own thread (`threads=0`)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from adapters.api.lanes import Lane, PinLane
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


@pytest.mark.parametrize("threads", [1, 0], ids=["one request thread", "the event loop's thread"])
def test_a_pin_hash_in_flight_holds_up_no_other_request(tmp_path: Path, threads: int) -> None:
    """One PIN thread: while a PIN is being hashed, a new activation and a status read are
    answered; a second PIN waits for the lane, then both are set."""
    phone = Phone(tmp_path)
    hashing, release = threading.Semaphore(0), threading.Event()
    started: list[str] = []
    real: Callable[[str, str], str] = phone.svc.keys.hash_pin

    def slow_hash(activation_id: str, pin: str) -> str:
        started.append(activation_id)
        hashing.release()
        assert release.wait(WAIT)
        return real(activation_id, pin)

    with loopback(phone.app(threads=threads, pin_threads=1)) as base, \
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
    """`ecps serve`'s defaults: no request thread on SQLite with a directory file (the event
    loop's own), 8 when requests wait on the network (PostgreSQL, a directory API), and a
    connection kept for each thread of both lanes and the dispatcher (without request threads:
    the event loop's and the console's)."""
    sqlite, pg = f"sqlite:///{tmp_path / 'db.sqlite3'}", "postgresql+psycopg://db.example/ecps"
    assert serving.default_threads(sqlite, {}) == serving.default_threads(
        sqlite, {"ECPS_DIRECTORY": str(tmp_path / "directory.json")}) == 0
    assert serving.default_threads(sqlite, {"ECPS_DIRECTORY": "https://annuaire.example/fhir"}) == 8
    assert serving.default_threads(pg, {}) == 8
    for threads, kept in ((3, 3 + 5 + 1), (0, 2 + 5 + 1)):
        options = serving.Serving("127.0.0.1", None, str(tmp_path), None, "info", "plain", threads,
                                  pin_threads=5)
        store = serving.service_of(options).store
        assert isinstance(store, SqlStore)
        try:
            assert store._keep == kept
        finally:
            store.close()
    with pytest.raises(ValueError, match="at least one thread"):
        PinLane(0)


def _on_the_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@pytest.mark.parametrize("threads", [0, 2])
def test_without_request_threads_the_api_runs_on_the_event_loop(tmp_path: Path,
                                                                threads: int) -> None:
    """With `threads=0` the API's requests, their device checks included, run on the event
    loop's thread; with threads, on one of them; a PIN on its own lane either way."""
    phone = Phone(tmp_path)
    seen: dict[str, bool] = {}
    request, status = phone.svc.request, phone.svc.status
    real_hash = phone.svc.keys.hash_pin

    def noted(name: str, call: Callable[..., object]) -> Callable[..., object]:
        def run(*args: object, **kwargs: object) -> object:
            seen.setdefault(name, _on_the_event_loop())
            return call(*args, **kwargs)
        return run

    phone.svc.request = noted("request", request)  # type: ignore[method-assign,assignment]
    phone.svc.status = noted("status", status)  # type: ignore[method-assign,assignment]
    app = phone.app(threads=threads, pin_threads=1)
    guard = app.state.guard
    with loopback(app) as base, httpx.Client(base_url=base, timeout=WAIT) as raw:
        http = DeviceClient(raw, phone.now)
        aid = verified(phone, http, NID)
        guard.check_device = noted("device check", guard.check_device)
        phone.svc.keys.hash_pin = noted("pin", real_hash)  # type: ignore[method-assign,assignment]
        assert http.post(f"/activations/{aid}/pin", json={"pin": "3971"}).status_code == 200
        assert http.get(f"/activations/{aid}").status_code == 200
    inline = threads == 0
    assert seen == {"request": inline, "device check": inline, "status": inline, "pin": False}
    with pytest.raises(ValueError, match="0"):
        phone.app(threads=-1)


@pytest.mark.asyncio
async def test_a_lane_runs_inline_or_on_a_thread() -> None:
    """`Lane(inline=True)` calls on the caller's thread, `Lane()` on another."""
    here = threading.get_ident()
    assert await Lane(inline=True).run(threading.get_ident) == here
    assert await Lane().run(threading.get_ident) != here
    assert await PinLane(1).run(threading.get_ident) != here
