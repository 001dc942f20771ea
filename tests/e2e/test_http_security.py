"""Attacks on the HTTP API: every app route refuses calls without a valid proof of the
activation's device key, operator routes refuse without the operator token, and a refused
call changes nothing, sends nothing and counts no attempt (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from joserfc import jws

from adapters.api.settings import HttpSettings
from adapters.device import ALGORITHMS, DeviceKey
from tests.e2e.http_device import OPERATOR_TOKEN, DeviceClient
from tests.e2e.phone import NID, Phone

WINDOW = HttpSettings().proof_window

# (method, path after /activations/{id}, body): every app call on an activation
APP_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/scan", {"qr_payload": "PAYLOAD"}),
    ("POST", "/sms", {"code": "000000"}),
    ("POST", "/sms/resend", None),
    ("POST", "/email/resend", None),
    ("POST", "/pin", {"pin": "4821"}),
    ("POST", "/pin/confirm", {"pin": "4821"}),
    ("POST", "/authenticate", {"pin": "0000"}),
    ("POST", "/cancel", None),
    ("POST", "/revoke", {"reason": "deleted"}),
    ("GET", "", None),
    ("GET", "/diagram.svg", None),
]
OPERATOR_ROUTES = [("GET", "/operations/activations"), ("POST", "/operations/expire"),
                   ("GET", "/activations/{aid}/audit")]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def phone(request: pytest.FixtureRequest, tmp_path: Path) -> Phone:
    """A service on SQLite or PostgreSQL."""
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    return Phone(tmp_path, url)


@dataclass(frozen=True)
class Snapshot:
    """All a call could change: the record, its outbox, its audit trail, what was sent."""

    record: Any
    outbox: int
    audit: int
    sent: int

    @classmethod
    def of(cls, phone: Phone, aid: str) -> Snapshot:
        """The activation `aid` as it stands, after delivering what is due."""
        phone.svc.dispatch()
        return cls(phone.svc.store.get(aid), len(phone.svc.store.outbox_of(aid)),
                   len(phone.svc.store.audit_trail(aid)), len(phone.mail.sent) + len(phone.sms.sent))


def scanned(client: DeviceClient, phone: Phone) -> tuple[str, str]:
    """An activation whose SMS code was sent (its id) and the QR payload of a fresh one's."""
    aid = str(client.post("/activations", json={"national_id": NID}).json()["activation_id"])
    assert client.post(f"/activations/{aid}/scan", json={"qr_payload": phone.payload()}).is_success
    phone.svc.dispatch()
    return aid, phone.payload()


def call(client: DeviceClient, method: str, path: str, body: dict[str, Any] | None,
         headers: dict[str, str]) -> Any:
    """`method path` with exactly these headers (no proof added)."""
    return client.http.request(method, path, json=body, headers=headers)


def refused(r: Any, status: int, kind: str, *words: str) -> None:
    """`r` is the refusal `status` of `kind` whose message says `words`."""
    assert r.status_code == status, r.text
    detail = r.json()["error"]
    assert detail["kind"] == kind
    for word in words:
        assert word in detail["message"]


def _attacks(client: DeviceClient, phone: Phone, aid: str, method: str,
             path: str) -> dict[str, dict[str, str]]:
    """The bad credentials tried on `method path` of activation `aid`, by name."""
    now = phone.now()
    mine = client.keys[aid]
    thief = DeviceKey.generate("Ed25519")
    other = str(client.post("/activations", json={"national_id": "810100000008"}).json()[
        "activation_id"])
    url = f"{client.http.base_url}{path}"
    return {
        "none": {},
        "empty": {"DPoP": ""},
        "garbage": {"DPoP": "not.a.jws"},
        "foreign key": {"DPoP": thief.proof(method, url, aid, iat=now)},
        "another activation's proof": {"DPoP": client.keys[other].proof(method, url, other,
                                                                          iat=now)},
        "wrong method": {"DPoP": mine.proof("PUT", url, aid, iat=now)},
        "wrong path": {"DPoP": mine.proof(method, f"{url}/x", aid, iat=now)},
        "stale": {"DPoP": mine.proof(method, url, aid, iat=now - WINDOW - 1)},
        "from the future": {"DPoP": mine.proof(method, url, aid, iat=now + WINDOW + 1)},
        "alg none": {"DPoP": _unsigned(mine, method, url, aid, now)},
        "forged signature": {"DPoP": _forged(mine, thief, method, url, aid, now)},
        "claims swapped in": {"DPoP": _swapped(mine, method, url, aid, now)},
        "iat beyond a float": {"DPoP": _signed(mine, method, url, aid, iat=10**400)},
        "htu that is no URL": {"DPoP": _signed(mine, method, "http://[::1", aid, iat=int(now))},
    }


def _signed(key: DeviceKey, method: str, htu: str, aid: str, iat: int) -> str:
    """A proof signed by `key` with these claims as they are (the device would refuse to make it)."""
    claims = {"htm": method, "htu": htu, "iat": iat, "jti": secrets.token_urlsafe(8),
              "activation_id": aid}
    alg = ALGORITHMS[key.public_jwk["kty"]]
    header = {"typ": "dpop+jwt", "alg": alg, "jwk": key.public_jwk}
    return jws.serialize_compact(header, json.dumps(claims), key.key, algorithms=[alg])


def _forged(key: DeviceKey, thief: DeviceKey, method: str, url: str, aid: str,
            now: float) -> str:
    """The activation's key in the header, the thief's signature."""
    header, _, _ = key.proof(method, url, aid, iat=now).split(".")
    _, claims, signature = thief.proof(method, url, aid, iat=now).split(".")
    return f"{header}.{claims}.{signature}"


def _swapped(key: DeviceKey, method: str, url: str, aid: str, now: float) -> str:
    """A signed proof for a harmless GET whose claims are replaced by the target call's."""
    header, _, signature = key.proof("GET", f"{url}/status", aid, iat=now).split(".")
    _, claims, _ = key.proof(method, url, aid, iat=now).split(".")
    return f"{header}.{claims}.{signature}"


def _unsigned(key: DeviceKey, method: str, url: str, aid: str, now: float) -> str:
    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    header = {"typ": "dpop+jwt", "alg": "none", "jwk": key.public_jwk}
    claims = {"htm": method, "htu": url, "iat": int(now), "jti": "x", "activation_id": aid}
    return f"{b64(header)}.{b64(claims)}."


@pytest.mark.parametrize(("method", "suffix", "body"), APP_ROUTES,
                         ids=[f"{m} {p or '/'}" for m, p, _ in APP_ROUTES])
def test_bad_proofs_are_refused_before_anything_happens(
        client: DeviceClient, phone: Phone, method: str, suffix: str,
        body: dict[str, Any] | None) -> None:
    """Missing, malformed, foreign, misdirected, stale or unsigned proofs: 401, no change."""
    aid, payload = scanned(client, phone)
    if suffix == "/scan":
        body = {"qr_payload": payload}
        client.post(f"/activations/{aid}/email/resend")
    path = f"/activations/{aid}{suffix}"
    attacks = _attacks(client, phone, aid, method, path)
    before = Snapshot.of(phone, aid)
    for name, headers in attacks.items():
        r = call(client, method, path, body, headers)
        assert r.status_code == 401, (name, r.text)
        assert r.json()["error"]["kind"] == "invalid_proof", name
        assert r.headers["www-authenticate"].startswith("DPoP"), name
        assert Snapshot.of(phone, aid) == before, name


@pytest.mark.parametrize(("method", "suffix", "body"), APP_ROUTES,
                         ids=[f"{m} {p or '/'}" for m, p, _ in APP_ROUTES])
def test_a_replayed_proof_is_refused(client: DeviceClient, phone: Phone, method: str,
                                     suffix: str, body: dict[str, Any] | None) -> None:
    """A proof used once is refused the second time, with no second effect."""
    aid, payload = scanned(client, phone)
    if suffix == "/scan":
        body = {"qr_payload": payload}
    path = f"/activations/{aid}{suffix}"
    proof = {"DPoP": client.proof(method, path)}
    first = call(client, method, path, body, proof)
    assert first.status_code != 401, first.text
    before = Snapshot.of(phone, aid)
    refused(call(client, method, path, body, proof), 401, "invalid_proof", "already used")
    assert Snapshot.of(phone, aid) == before


def test_a_wrong_code_counts_once_however_often_its_proof_is_replayed(
        client: DeviceClient, phone: Phone) -> None:
    """Replaying a wrong-code call does not burn the professional's attempts."""
    aid, _ = scanned(client, phone)
    path = f"/activations/{aid}/sms"
    proof = {"DPoP": client.proof("POST", path)}
    assert call(client, "POST", path, {"code": "000000"}, proof).status_code == 422
    for _ in range(9):
        refused(call(client, "POST", path, {"code": "000000"}, proof), 401, "invalid_proof")
    assert client.get(f"/activations/{aid}").json()["attempts_left"] == 4


def test_a_thief_cannot_lock_out_revoke_or_read_an_activation(
        client: DeviceClient, phone: Phone) -> None:
    """Knowing the id (from the e-mail's deep link) is not enough: ten wrong PINs, a
    cancel, a revoke and a status read with the thief's own key are all refused."""
    aid, _ = scanned(client, phone)
    assert client.post(f"/activations/{aid}/sms", json={"code": phone.code()}).is_success
    assert client.post(f"/activations/{aid}/pin", json={"pin": "4821"}).is_success
    assert client.post(f"/activations/{aid}/pin/confirm", json={"pin": "4821"}).is_success
    thief = DeviceKey.generate()
    before = Snapshot.of(phone, aid)
    for _ in range(10):
        refused(client.post(f"/activations/{aid}/authenticate", json={"pin": "0000"},
                            key=thief), 401, "invalid_proof", "another key")
    refused(client.post(f"/activations/{aid}/cancel", key=thief), 401, "invalid_proof")
    refused(client.post(f"/activations/{aid}/revoke", json={"reason": "deleted"}, key=thief),
            401, "invalid_proof")
    refused(client.get(f"/activations/{aid}", key=thief), 401, "invalid_proof")
    assert Snapshot.of(phone, aid) == before
    assert client.post(f"/activations/{aid}/authenticate", json={"pin": "4821"}).is_success


def test_an_activation_without_a_device_key_cannot_be_driven_over_http(
        client: DeviceClient, phone: Phone) -> None:
    """One requested through the library without a key is refused over HTTP, whatever the key."""
    aid = phone.svc.request(NID).activation_id
    before = Snapshot.of(phone, aid)
    refused(client.post(f"/activations/{aid}/cancel", key=DeviceKey.generate()), 401,
            "invalid_proof", "not bound")
    assert Snapshot.of(phone, aid) == before


def test_the_device_revokes_only_for_deletion(client: DeviceClient, phone: Phone) -> None:
    """The device's own revoke with another reason than `deleted` is 403 and changes nothing."""
    aid, _ = scanned(client, phone)
    before = Snapshot.of(phone, aid)
    refused(client.post(f"/activations/{aid}/revoke", json={"reason": "lost"}), 403, "forbidden")
    assert Snapshot.of(phone, aid) == before


@pytest.mark.parametrize(("method", "route"), [*OPERATOR_ROUTES,
                                               ("POST", "/activations/{aid}/revoke"),
                                               ("GET", "/activations/{aid}")])
def test_operator_routes_need_the_operator_token(client: DeviceClient, phone: Phone,
                                                 method: str, route: str) -> None:
    """No token: 401; a wrong one: 403; a device's proof on an operator-only route: 401."""
    aid, _ = scanned(client, phone)
    path = route.format(aid=aid)
    body = {"reason": "lost"} if route.endswith("revoke") else None
    before = Snapshot.of(phone, aid)
    r = call(client, method, path, body, {"Authorization": "Bearer"})
    refused(r, 401, "unauthorized", "Bearer")
    assert r.headers["www-authenticate"].startswith("Bearer")
    refused(client.operator(method, path, token="x" * 40, json=body), 403, "forbidden")
    refused(call(client, method, path, body, {"Authorization": "Basic b3A6cHc="}), 401,
            "unauthorized")
    if route in {r for _, r in OPERATOR_ROUTES}:
        refused(call(client, method, path, body, {}), 401, "unauthorized")
        if "{aid}" in route:
            refused(client.get(path), 401, "unauthorized")
    assert Snapshot.of(phone, aid) == before
    assert client.operator(method, path, json=body).status_code not in (401, 403)


def test_a_server_without_an_operator_token_closes_operator_routes(phone: Phone) -> None:
    """With no token configured, any bearer is refused (401) and says how to configure one."""
    c = phone.client(phone.app(http=HttpSettings()))
    with c.http:
        r = c.operator("GET", "/operations/activations", token=OPERATOR_TOKEN)
    refused(r, 401, "unauthorized", "ECPS_OPERATOR_TOKEN")


def test_the_operator_token_is_kept_as_a_digest_only() -> None:
    """The settings hold the token's SHA-256, never the token; short tokens are refused."""
    settings = HttpSettings.with_token(OPERATOR_TOKEN)
    assert OPERATOR_TOKEN not in repr(settings)
    assert len(settings.operator_token_sha256) == 64
    with pytest.raises(ValueError, match="at least"):
        HttpSettings.with_token("short")


@pytest.mark.parametrize("token", ["mot-de-passe-s\u00e9curis\u00e9-2026", "tab\tinside-a-token-1234",
                                   "line\nbreak-inside-a-token"])
def test_an_operator_token_a_header_cannot_carry_is_refused_at_start(token: str) -> None:
    """Not printable ASCII: refused when the server starts (HTTP headers are Latin-1 text, so a
    client could never send it), not a token that every call then fails to match."""
    with pytest.raises(ValueError, match="printable ASCII"):
        HttpSettings.with_token(token)
