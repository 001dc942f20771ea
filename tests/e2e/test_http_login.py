"""The login over HTTP: the portal asks and polls, the app lists and approves with a DPoP proof."""

from __future__ import annotations

from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet

from adapters.device import DeviceKey
from tests.e2e.http_device import DeviceClient
from tests.e2e.phone import NID, Phone
from tests.e2e.test_http import error

PORTAL = {"national_id": NID, "client_id": "portail-paca", "client_name": "Portail de santé PACA",
          "binding_message": "A7-3F"}


def _active(client: DeviceClient, phone: Phone) -> str:
    aid = str(client.post("/activations", json={"national_id": NID}).json()["activation_id"])
    client.post(f"/activations/{aid}/scan", json={"qr_payload": phone.payload()})
    client.post(f"/activations/{aid}/sms", json={"code": phone.code()})
    client.post(f"/activations/{aid}/pin", json={"pin": "4821"})
    assert client.post(f"/activations/{aid}/pin/confirm", json={"pin": "4821"}).json()["state"] == "active"
    return aid


def _answer(client: DeviceClient, aid: str, path: str, body: Any = None,
            key: DeviceKey | None = None) -> httpx.Response:
    """POST `path` as the app of activation `aid` (a proof of its key, or of `key`)."""
    signer = key or client.keys[aid]
    proof = signer.proof("POST", f"{client.http.base_url}{path}", aid, iat=client.now())
    return client.http.post(path, json=body, headers={"DPoP": proof})


def test_a_login_over_http(client: DeviceClient, phone: Phone) -> None:
    """Portal asks, app lists and approves, portal polls once (JWS verified by the JWKS), then 409."""
    aid = _active(client, phone)
    started = client.operator("POST", "/logins", json=PORTAL)
    assert started.status_code == 201, started.text
    lid = started.json()["login_id"]
    assert started.headers["location"] == f"/logins/{lid}"
    phone.svc.dispatch()
    listed = client.get(f"/activations/{aid}/logins").json()["logins"]
    assert [(p["login_id"], p["binding_message"]) for p in listed] == [(lid, "A7-3F")]
    wrong = error(_answer(client, aid, f"/logins/{lid}/approve", {"pin": "1397"}), 422,
                  "verification_failed")
    assert wrong["attempts_left"] == 9
    assert _answer(client, aid, f"/logins/{lid}/approve", {"pin": "4821"}).json()["state"] == "approved"
    polled = client.operator("GET", f"/logins/{lid}").json()
    assert polled["state"] == "completed"
    keys = KeySet.import_key_set(client.http.get("/.well-known/jwks.json").json())
    assert jwt.decode(polled["assertion"], keys).claims["aud"] == "portail-paca"
    phone.clock.advance(phone.svc.settings.login_poll_interval)
    error(client.operator("GET", f"/logins/{lid}"), 409, "not_allowed")


def test_the_login_routes_refuse_the_wrong_caller(client: DeviceClient, phone: Phone) -> None:
    """No operator token: 401; another key's proof: 401; an unknown login: 404; polling fast: 429."""
    aid = _active(client, phone)
    error(client.http.post("/logins", json=PORTAL), 401, "unauthorized")
    lid = client.operator("POST", "/logins", json=PORTAL).json()["login_id"]
    error(_answer(client, aid, f"/logins/{lid}/approve", {"pin": "4821"}, key=DeviceKey.generate()),
          401, "invalid_proof")
    error(client.operator("GET", "/logins/lg-unknown"), 404, "not_found")
    assert client.operator("GET", f"/logins/{lid}").json()["state"] == "requested"
    slow = client.operator("GET", f"/logins/{lid}")
    assert error(slow, 429, "too_many_requests")["retry_after"] == 5
    assert _answer(client, aid, f"/logins/{lid}/deny").json()["state"] == "denied"
    error(client.operator("POST", f"/logins/{lid}/cancel"), 409, "not_allowed")


def test_a_portal_retry_with_the_same_key_gets_the_same_login(client: DeviceClient, phone: Phone) -> None:
    """Two POST /logins with one Idempotency-Key: one login, the second answer replayed."""
    _active(client, phone)
    from tests.e2e.http_device import OPERATOR_TOKEN

    headers = {"Idempotency-Key": "portal-retry-1", "Authorization": f"Bearer {OPERATOR_TOKEN}"}
    first = client.http.post("/logins", json=PORTAL, headers=headers)
    again = client.http.post("/logins", json=PORTAL, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers["idempotent-replayed"] == "true"

