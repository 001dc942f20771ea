"""The HTTP API end to end: a whole activation, every error status, idempotency keys."""

from __future__ import annotations

import re
import time
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():  # Starlette's note about httpx2 is not ours to act on
    warnings.filterwarnings("ignore", message=".*httpx2.*")

from adapters.device import DeviceKey
from tests.e2e.http_device import DeviceClient
from tests.e2e.phone import NID, Phone

ERROR_FIELDS = {"kind", "message", "field", "attempts_left", "retry_after", "state", "event"}


def start(client: DeviceClient) -> str:
    """A new activation of the demo professional; its id."""
    r = client.post("/activations", json={"national_id": NID, "device_id": "phone-1"})
    assert r.status_code == 201, r.text
    return str(r.json()["activation_id"])


def error(r: Any, status: int, kind: str) -> dict[str, Any]:
    """The error body of `r`, checked to have `status`, `kind` and the stable shape."""
    assert r.status_code == status, r.text
    detail: dict[str, Any] = r.json()["error"]
    assert set(detail) == ERROR_FIELDS
    assert detail["kind"] == kind
    return detail


def test_a_whole_activation_over_http(client: DeviceClient, phone: Phone) -> None:
    """POST each step in order: the e-CPS ends active, logs in, and its path can be drawn."""
    r = client.post("/activations", json={"national_id": NID})
    assert r.status_code == 201
    aid = r.json()["activation_id"]
    assert r.headers["location"] == f"/activations/{aid}"
    assert (r.json()["masked_email"], r.json()["masked_phone"]) == ("ja****@domain.fr", "06****78")
    assert client.post(f"/activations/{aid}/scan",
                       json={"qr_payload": phone.payload()}).json()["state"] == "scanned"
    assert client.post(f"/activations/{aid}/sms",
                       json={"code": phone.code()}).json()["state"] == "sms_verified"
    assert client.post(f"/activations/{aid}/pin", json={"pin": "4821"}).json()["state"] == "pin_set"
    confirmed = client.post(f"/activations/{aid}/pin/confirm", json={"pin": "4821"}).json()
    assert confirmed["state"] == "active"
    assert confirmed["steps"][0] | {"at": None} == {"event": "confirm_pin", "source": "pin_set",
                                                   "dest": "active", "at": None}
    assert client.post(f"/activations/{aid}/authenticate", json={"pin": "4821"}).json() == {
        "activation_id": aid, "authenticated": True}
    status = client.get(f"/activations/{aid}").json()
    assert [s["dest"] for s in status["history"]] == [
        "requested", "emailed", "scanned", "sms_verified", "pin_set", "active", "active"]
    svg = client.get(f"/activations/{aid}/diagram.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in svg.content
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok"}
    assert client.operator("POST", f"/activations/{aid}/revoke",
                           json={"reason": "lost"}).json()["state"] == "revoked"


@pytest.mark.parametrize("body", [b'{"national_id": ', b'{"national_id": "\xff\xfe"}',
                                  b"[" * 5000 + b"]" * 5000, b"\x00"],
                         ids=["truncated", "not UTF-8", "nested 5000 deep", "a NUL byte"])
def test_a_body_that_is_not_json_is_invalid_input(client: DeviceClient, phone: Phone,
                                                  body: bytes) -> None:
    """Whatever makes a body unreadable as JSON: 400 `invalid_input`, no field, nothing stored."""
    r = client.http.post("/activations", content=body, headers={"Content-Type": "application/json"})
    detail = error(r, 400, "invalid_input")
    assert detail["field"] is None, detail
    assert phone.svc.store.list_activations() == []


def test_a_wrong_method_is_named(client: DeviceClient) -> None:
    """A route asked with a method it does not take: 405 `method_not_allowed`."""
    error(client.http.put("/activations"), 405, "method_not_allowed")


def test_every_error_answers_its_status_and_a_stable_body(client: DeviceClient, phone: Phone) -> None:
    """400, 404, 409, 410, 422, 423 and 429 (with Retry-After) each name their kind."""
    error(client.post("/activations", json={"national_id": "12345"}), 400, "invalid_identifier")
    error(client.post("/activations", json={"nid": NID}), 400, "invalid_input")
    error(client.post("/activations", json={"national_id": "810000090125"}), 422, "not_eligible")
    error(client.get("/activations/unknown-id"), 404, "not_found")
    aid = start(client)
    detail = error(client.post(f"/activations/{aid}/pin", json={"pin": "4821"}), 409,
                   "not_allowed")
    assert (detail["state"], detail["event"]) == ("requested", "set_pin")
    phone.svc.dispatch()
    too_soon = client.post(f"/activations/{aid}/email/resend")
    assert error(too_soon, 429, "too_many_requests")["retry_after"] == 60
    assert too_soon.headers["retry-after"] == "60"
    client.post(f"/activations/{aid}/scan", json={"qr_payload": phone.payload()})
    right = phone.code()
    wrong = "000000" if right != "000000" else "111111"
    error(client.post(f"/activations/{aid}/sms", json={"code": "12ab56"}), 400, "invalid_input")
    for left in (4, 3, 2, 1):
        r = client.post(f"/activations/{aid}/sms", json={"code": wrong})
        assert error(r, 422, "verification_failed")["attempts_left"] == left
        assert wrong not in r.text
    error(client.post(f"/activations/{aid}/sms", json={"code": wrong}), 423, "locked")
    error(client.post(f"/activations/{aid}/sms", json={"code": right}), 423, "locked")
    late = start(client)
    phone.clock.advance(timedelta(hours=2))
    error(client.post(f"/activations/{late}/cancel"), 410, "expired")
    assert client.get(f"/activations/{late}").json()["state"] == "expired"


def test_pin_errors_never_echo_the_pin(client: DeviceClient, phone: Phone) -> None:
    """A weak PIN, a mismatch and a malformed PIN are refused without the PIN in the answer."""
    aid = start(client)
    client.post(f"/activations/{aid}/scan", json={"qr_payload": phone.payload()})
    client.post(f"/activations/{aid}/sms", json={"code": phone.code()})
    weak = client.post(f"/activations/{aid}/pin", json={"pin": "1234"})
    assert error(weak, 400, "weak_pin")["field"] == "pin"
    assert "1234" not in weak.text
    typed = client.post(f"/activations/{aid}/pin", json={"pin": 95173})
    assert error(typed, 400, "invalid_input")["field"] == "pin"
    assert "95173" not in typed.text
    client.post(f"/activations/{aid}/pin", json={"pin": "4821"})
    mismatch = client.post(f"/activations/{aid}/pin/confirm", json={"pin": "4822"})
    assert error(mismatch, 422, "pin_mismatch")["attempts_left"] == 2
    assert "4822" not in mismatch.text
    assert "4821" not in mismatch.text


def test_an_idempotency_key_replays_the_first_answer_without_a_second_effect(
        client: DeviceClient, phone: Phone) -> None:
    """Same key and body: same answer, one activation; same key, other body: 409."""
    key, device = {"Idempotency-Key": "req-1"}, DeviceKey.generate()
    first = client.start({"national_id": NID}, headers=key, key=device)
    again = client.start({"national_id": NID}, headers=key, key=device)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert len(phone.svc.store.list_activations()) == 1
    other = client.start({"national_id": "810100000008"}, headers=key, key=device)
    error(other, 409, "idempotency_key_reused")
    aid = first.json()["activation_id"]
    scan = {"Idempotency-Key": "scan-1"}
    payload = {"qr_payload": phone.payload()}
    once = client.post(f"/activations/{aid}/scan", json=payload, headers=scan)
    twice = client.post(f"/activations/{aid}/scan", json=payload, headers=scan)
    assert once.json() == twice.json()
    assert once.status_code == 200
    assert [s["event"] for s in client.get(f"/activations/{aid}").json()["history"]].count(
        "scan") == 1
    error(client.post(f"/activations/{aid}/scan", json=payload), 409, "not_allowed")
    error(client.post(f"/activations/{aid}/cancel", headers={"Idempotency-Key": "k" * 256}), 400,
          "invalid_input")


def test_a_saved_login_is_not_given_back_once_the_credential_is_revoked(
        client: DeviceClient, phone: Phone) -> None:
    """A login retried under its key is replayed while the e-CPS is active; after a revocation
    the retry runs again and is refused, and the saved answer is kept for no one."""
    aid = start(client)
    client.post(f"/activations/{aid}/scan", json={"qr_payload": phone.payload()})
    client.post(f"/activations/{aid}/sms", json={"code": phone.code()})
    for step in ("pin", "pin/confirm"):
        client.post(f"/activations/{aid}/{step}", json={"pin": "4821"})
    key, pin = {"Idempotency-Key": "login-1"}, {"pin": "4821"}
    first = client.post(f"/activations/{aid}/authenticate", json=pin, headers=key)
    again = client.post(f"/activations/{aid}/authenticate", json=pin, headers=key)
    assert first.json()["authenticated"] is again.json()["authenticated"] is True
    assert again.headers["idempotent-replayed"] == "true"
    client.operator("POST", f"/activations/{aid}/revoke", json={"reason": "compromised"})
    for _ in range(2):
        late = client.post(f"/activations/{aid}/authenticate", json=pin, headers=key)
        assert error(late, 409, "not_allowed")["state"] == "revoked"
        assert "idempotent-replayed" not in late.headers


def test_idempotency_keys_survive_a_restart(tmp_path: Path) -> None:
    """Answers kept in the store's database are replayed by a new server process's app."""
    key, device = {"Idempotency-Key": "restart-1"}, DeviceKey.generate()
    before = Phone(tmp_path)
    first = before.client(before.app())
    with first.http:
        answer = first.start({"national_id": NID}, headers=key, key=device).json()
    after = Phone(tmp_path)  # a new service on the same database, as after a restart
    second = after.client(after.app())
    with second.http:
        again = second.start({"national_id": NID}, headers=key, key=device)
    assert again.json() == answer
    assert again.headers["idempotent-replayed"] == "true"
    assert len(after.svc.store.list_activations()) == 1


def test_the_server_dispatches_in_the_background(phone: Phone) -> None:
    """With the background dispatcher on, the e-mail leaves without anyone calling dispatch."""
    c = phone.client(phone.app(dispatch_every=0.05))
    with c.http:
        aid = start(c)
        deadline = time.monotonic() + 10
        while c.get(f"/activations/{aid}").json()["state"] != "emailed":
            assert time.monotonic() < deadline, "the e-mail was never dispatched"
            time.sleep(0.05)
    assert re.search(r"ecps://\S+", phone.mail.sent[0].text)


def test_the_openapi_schema_documents_every_route_and_error(client: DeviceClient) -> None:
    """Each route of the issue is in the OpenAPI schema with its error statuses."""
    spec = client.http.get("/openapi.json").json()
    paths = spec["paths"]
    for route in ("/activations", "/activations/{activation_id}/scan",
                  "/activations/{activation_id}/sms", "/activations/{activation_id}/sms/resend",
                  "/activations/{activation_id}/email/resend", "/activations/{activation_id}/pin",
                  "/activations/{activation_id}/pin/confirm",
                  "/activations/{activation_id}/authenticate",
                  "/activations/{activation_id}/cancel"):
        assert "post" in paths[route], route
        params = {p["name"].lower() for p in paths[route]["post"].get("parameters", [])}
        assert "idempotency-key" in params
    assert set(paths["/activations/{activation_id}/sms"]["post"]["responses"]) >= {
        "200", "400", "404", "409", "410", "422", "423", "429"}
    assert "get" in paths["/activations/{activation_id}/diagram.svg"]
    assert "get" in paths["/healthz"]


def test_an_unexpected_crash_answers_the_stable_error_body_with_the_security_headers(
        phone: Phone, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in an adapter answers 500 with the usual error body and nothing of the exception,
    carrying no-sniff, no framing, the policy and no caching as every other answer does (the
    framework's last-resort handler sits outside the middleware that adds them)."""
    def broken(_: object) -> None:
        raise RuntimeError("secret detail 4821")

    monkeypatch.setattr(phone.svc, "status", broken)
    c = phone.client(phone.app(), raise_server_exceptions=False)
    with c.http:
        r = c.get("/activations/some-id")
    assert error(r, 500, "failed")["message"] == "internal error"
    assert "4821" not in r.text
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert r.headers["cache-control"] == "no-store"
