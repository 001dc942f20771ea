"""A client that acts as the phone: it gives a device key at request and signs every later call."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx

from adapters.device import DeviceKey

OPERATOR_TOKEN = "operator-token-for-tests-0123456789"
_ON_ACTIVATION = re.compile(r"^/activations/([^/]+)(/.*)?$")


class DeviceClient:
    """Wraps an httpx client (or a TestClient): each activation it starts gets its own key.

    `post`/`get` on `/activations/{id}...` carry a fresh proof of that activation's key
    (`proof=False`: none; `key=`: another key's). `operator` sends the operator token instead.
    """

    def __init__(self, http: httpx.Client, now: Callable[[], float]) -> None:
        self.http = http
        self.now = now
        self.keys: dict[str, DeviceKey] = {}

    def start(self, body: dict[str, Any], headers: dict[str, str] | None = None,
              key: DeviceKey | None = None) -> httpx.Response:
        """POST /activations with a device key (a fresh one unless `key`)."""
        key = key or DeviceKey.generate()
        r = self.http.post("/activations", json={"device_key": key.public_jwk, **body},
                           headers=headers)
        if r.status_code == 201:
            self.keys.setdefault(r.json()["activation_id"], key)
        return r

    def proof(self, method: str, path: str, key: DeviceKey | None = None, **kw: Any) -> str:
        """A proof for `method path` by the activation's key (or `key`)."""
        match = _ON_ACTIVATION.match(path)
        assert match, path
        aid = match.group(1)
        signer = key or self.keys.get(aid) or DeviceKey.generate()
        kw.setdefault("iat", self.now())
        return signer.proof(method, f"{self.http.base_url}{path}", aid, **kw)

    def post(self, path: str, json: Any = None, headers: dict[str, str] | None = None,
             proof: bool = True, key: DeviceKey | None = None) -> httpx.Response:
        """POST as the phone (POST /activations: see `start`)."""
        if path == "/activations":
            return self.start(json or {}, headers)
        signed = {"DPoP": self.proof("POST", path, key)} if proof else {}
        return self.http.post(path, json=json, headers={**signed, **(headers or {})})

    def get(self, path: str, headers: dict[str, str] | None = None, proof: bool = True,
            key: DeviceKey | None = None) -> httpx.Response:
        """GET as the phone (no proof off `/activations/{id}`)."""
        signed = {"DPoP": self.proof("GET", path, key)} if proof and _ON_ACTIVATION.match(path) \
            else {}
        return self.http.get(path, headers={**signed, **(headers or {})})

    def operator(self, method: str, path: str, token: str = OPERATOR_TOKEN,
                 **kw: Any) -> httpx.Response:
        """A call with the operator's bearer token."""
        return self.http.request(method, path, headers={"Authorization": f"Bearer {token}"}, **kw)
