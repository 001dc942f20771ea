"""Concurrent HTTP requests on one activation, through a real server (uvicorn) on loopback."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from adapters.device import DeviceKey
from tests.e2e.http_device import DeviceClient
from tests.e2e.phone import NID, Phone

THREADS = 8


def together(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """Run the calls at the same time (released by one barrier); their answers."""
    barrier = threading.Barrier(len(calls))

    def go(call: Callable[[], httpx.Response]) -> httpx.Response:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(go, calls))


def scanned(phone: Phone, http: DeviceClient) -> str:
    """An activation whose SMS code was just sent; its id."""
    aid = str(http.post("/activations", json={"national_id": NID}).json()["activation_id"])
    assert http.post(f"/activations/{aid}/scan", json={"qr_payload": phone.payload()}).is_success
    return aid


def test_concurrent_wrong_codes_are_each_counted_once(served: tuple[Phone, str]) -> None:
    """Eight wrong codes at once: four counted wrong (4, 3, 2, 1 left), the fifth locks, none lost."""
    phone, base = served
    with httpx.Client(base_url=base, timeout=60) as raw:
        http = DeviceClient(raw, phone.now)
        aid = scanned(phone, http)
        wrong = "000000" if phone.code() != "000000" else "111111"
        answers = together([lambda: http.post(f"/activations/{aid}/sms", json={"code": wrong})
                            for _ in range(THREADS)])
        status = http.get(f"/activations/{aid}").json()
    assert Counter(r.status_code for r in answers) == {422: 4, 423: THREADS - 4}
    left = sorted(r.json()["error"]["attempts_left"] for r in answers if r.status_code == 422)
    assert left == [1, 2, 3, 4]
    assert status["state"] == "locked"
    assert status["counters"]["sms_attempts"] == 5


def test_a_right_code_sent_many_times_at_once_verifies_once(served: tuple[Phone, str]) -> None:
    """Eight right codes at once: one verifies, the others are refused; one step recorded."""
    phone, base = served
    with httpx.Client(base_url=base, timeout=60) as raw:
        http = DeviceClient(raw, phone.now)
        aid = scanned(phone, http)
        code = phone.code()
        answers = together([lambda: http.post(f"/activations/{aid}/sms", json={"code": code})
                            for _ in range(THREADS)])
        history = http.get(f"/activations/{aid}").json()["history"]
    assert Counter(r.status_code for r in answers) == {200: 1, 409: THREADS - 1}
    assert [h["dest"] for h in history].count("sms_verified") == 1


def test_one_idempotency_key_sent_at_once_has_one_effect(served: tuple[Phone, str]) -> None:
    """Eight requests with one key at once: one activation; each answer is it or 'busy'."""
    phone, base = served
    with httpx.Client(base_url=base, timeout=60) as raw:
        http = DeviceClient(raw, phone.now)
        device = DeviceKey.generate()
        answers = together([lambda: http.start({"national_id": NID},
                                               headers={"Idempotency-Key": "same"}, key=device)
                            for _ in range(THREADS)])
    created = {r.json()["activation_id"] for r in answers if r.status_code == 201}
    busy = [r for r in answers if r.status_code == 409]
    assert len(created) == 1
    assert len(busy) + sum(r.status_code == 201 for r in answers) == THREADS
    assert all(r.json()["error"]["kind"] == "idempotency_key_busy" for r in busy)
    assert len(phone.svc.store.list_activations()) == 1
