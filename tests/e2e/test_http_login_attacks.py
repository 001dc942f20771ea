"""The login routes against an outsider: another credential's device, odd login ids (on SQLite
and PostgreSQL), and nothing changed by a refused call."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.device import DeviceKey
from tests.e2e.http_device import DeviceClient
from tests.e2e.phone import Phone
from tests.e2e.test_http import error
from tests.e2e.test_http_login import PORTAL, _active, _answer

NID2 = "810100000008"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def phone(request: pytest.FixtureRequest, tmp_path: Path) -> Phone:
    """A service on SQLite or PostgreSQL."""
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    return Phone(tmp_path, url)


@pytest.fixture
def client(phone: Phone) -> Iterator[DeviceClient]:
    """The API over the phone's service, as the phone (and, with `operator`, as the portal)."""
    c = phone.client(phone.app())
    with c.http:
        yield c


@pytest.mark.parametrize("bad", ["lg-%00", "lg-a%00b", "%00"])
def test_a_login_id_with_a_nul_byte_is_invalid_input_on_every_route(
        client: DeviceClient, phone: Phone, bad: str) -> None:
    """A NUL byte in the path is a 400 (never a storage error) for the portal and for the app."""
    aid = _active(client, phone)
    error(client.operator("GET", f"/logins/{bad}"), 400, "invalid_input")
    error(client.operator("POST", f"/logins/{bad}/cancel"), 400, "invalid_input")
    for answer in ("approve", "deny"):
        error(_answer(client, aid, f"/logins/{bad}/{answer}", {"pin": "4821"}), 400,
              "invalid_input")


def _active_as(client: DeviceClient, phone: Phone, nid: str) -> str:
    """An active credential of `nid` made over HTTP (PIN 4821), its device key in `client.keys`."""
    aid = str(client.post("/activations", json={"national_id": nid}).json()["activation_id"])
    client.post(f"/activations/{aid}/scan", json={"qr_payload": phone.payload()})
    client.post(f"/activations/{aid}/sms", json={"code": phone.code()})
    client.post(f"/activations/{aid}/pin", json={"pin": "4821"})
    assert client.post(f"/activations/{aid}/pin/confirm", json={"pin": "4821"}).json()["state"] == "active"
    return aid


def test_one_credential_s_device_cannot_answer_another_s_login(
        client: DeviceClient, phone: Phone) -> None:
    """A proof by the first credential's device, claiming its own id or the other's, is 401 on
    the second professional's login, for approve and deny; the login still waits, nothing counted."""
    mine = _active(client, phone)
    other = _active_as(client, phone, NID2)
    login = client.operator("POST", "/logins", json={**PORTAL, "national_id": NID2}).json()["login_id"]
    for answer in ("approve", "deny"):
        path = f"/logins/{login}/{answer}"
        for claimed in (mine, other):
            proof = client.keys[mine].proof("POST", f"{client.http.base_url}{path}", claimed,
                                            iat=client.now())
            error(client.http.post(path, json={"pin": "4821"}, headers={"DPoP": proof}), 401,
                  "invalid_proof")
    assert phone.svc.login_result(login).state == "requested"
    assert phone.svc.status(other).counters["login_failures"] == 0


def test_a_strangers_proof_does_not_tell_whether_a_login_exists(
        client: DeviceClient, phone: Phone) -> None:
    """A key bound to nothing, its proof claiming the login id, the credential's activation id
    (in its QR link) or another: the same 401 for a login that exists and for one that does not
    (no 404 or message to tell them apart), for approve and deny."""
    aid = _active(client, phone)
    login = client.operator("POST", "/logins", json=PORTAL).json()["login_id"]
    stranger = DeviceKey.generate()
    answers: dict[str, list[object]] = {}
    for lid in (login, "lg-" + "0" * 32):
        for answer in ("approve", "deny"):
            for claimed in (lid, aid, "another-activation"):
                path = f"/logins/{lid}/{answer}"
                proof = stranger.proof("POST", f"{client.http.base_url}{path}", claimed,
                                       iat=client.now())
                r = client.http.post(path, json={"pin": "4821"}, headers={"DPoP": proof})
                error(r, 401, "invalid_proof")
                answers.setdefault(lid, []).append(r.json())
    assert answers[login] == answers["lg-" + "0" * 32]
    assert phone.svc.login_result(login).state == "requested"


def test_a_login_over_http_logs_no_pin_identifier_or_assertion(
        client: DeviceClient, phone: Phone, caplog: pytest.LogCaptureFixture) -> None:
    """Start, a wrong PIN, approve, two polls, an unknown login: no log record holds the PINs,
    the identifier or any part of the assertion."""
    aid = _active(client, phone)
    caplog.set_level(logging.DEBUG)
    lid = client.operator("POST", "/logins", json=PORTAL).json()["login_id"]
    phone.svc.dispatch()
    error(_answer(client, aid, f"/logins/{lid}/approve", {"pin": "1397"}), 422, "verification_failed")
    assert _answer(client, aid, f"/logins/{lid}/approve", {"pin": "4821"}).json()["state"] == "approved"
    assertion = client.operator("GET", f"/logins/{lid}").json()["assertion"]
    phone.clock.advance(phone.svc.settings.login_poll_interval)
    error(client.operator("GET", f"/logins/{lid}"), 409, "not_allowed")
    error(client.operator("GET", "/logins/lg-unknown"), 404, "not_found")
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert caplog.records
    for secret in ("4821", "1397", PORTAL["national_id"], *assertion.split(".")):
        assert secret not in logged


def test_the_openapi_schema_documents_every_login_route_its_caller_and_errors(
        client: DeviceClient) -> None:
    """Each login route is documented with who may call it and the errors it answers."""
    paths = client.http.get("/openapi.json").json()["paths"]
    portal = {("post", "/logins"): "201", ("get", "/logins/{login_id}"): "200",
              ("post", "/logins/{login_id}/cancel"): "200"}
    app = {("get", "/activations/{activation_id}/logins"): "200",
           ("post", "/logins/{login_id}/approve"): "200", ("post", "/logins/{login_id}/deny"): "200"}
    for (method, route), ok in (portal | app).items():
        op = paths[route][method]
        schemes = {name for s in op.get("security", []) for name in s}
        assert schemes == ({"Operator"} if (method, route) in portal else {"DeviceProof"}), route
        errors = {"400", "401", "404", "409", "429", "503"}
        errors |= {"403"} if (method, route) in portal else set()
        assert set(op["responses"]) >= {ok} | errors, route
        if method == "post":
            assert "idempotency-key" in {p["name"].lower() for p in op.get("parameters", [])}, route
    assert {"410", "422", "423"} <= set(paths["/logins/{login_id}/approve"]["post"]["responses"])
    assert "security" not in paths["/.well-known/jwks.json"]["get"]


def test_the_app_s_list_refuses_an_activation_id_with_a_nul_byte(
        client: DeviceClient, phone: Phone) -> None:
    """Even with a proof made for that very path and id, a NUL byte is a 400, never a 503."""
    aid = _active(client, phone)
    bad = "a\x00"
    path = f"/activations/{bad}/logins"
    proof = client.keys[aid].proof("GET", f"{client.http.base_url}{path}", bad, iat=client.now())
    error(client.http.get("/activations/a%00/logins", headers={"DPoP": proof}), 400,
          "invalid_input")


@pytest.mark.parametrize(("method", "route", "body"), [
    ("GET", "", None), ("POST", "/scan", {"qr_payload": "x"}), ("POST", "/sms", {"code": "123456"}),
    ("POST", "/pin", {"pin": "4821"}), ("POST", "/authenticate", {"pin": "4821"})])
def test_every_app_route_refuses_an_activation_id_with_a_nul_byte(
        client: DeviceClient, phone: Phone, method: str, route: str,
        body: dict[str, str] | None) -> None:
    """The device check reads no store with a NUL byte: 400 on every app route, never a 503."""
    aid = _active(client, phone)
    bad = "a\x00"
    path = f"/activations/{bad}{route}"
    proof = client.keys[aid].proof(method, f"{client.http.base_url}{path}", bad, iat=client.now())
    r = client.http.request(method, f"/activations/a%00{route}", json=body, headers={"DPoP": proof})
    error(r, 400, "invalid_input")
