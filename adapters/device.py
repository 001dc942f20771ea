"""The app's side of a device-bound activation: a key pair and its proofs of possession.

Embedders (and the tests, the demo, the benchmarks) use it as the phone would::

    key = DeviceKey.generate()
    started = client.post("/activations", json={"national_id": nid, "device_key": key.public_jwk})
    aid = started.json()["activation_id"]
    client.post(f"/activations/{aid}/scan", json={...},
                headers={"DPoP": key.proof("POST", f"{base}/activations/{aid}/scan", aid)})

A proof is a JWS in the shape of OAuth DPoP (RFC 9449): header `typ: dpop+jwt`, `alg`
(ES256 or Ed25519), `jwk` (the public key); claims `htm`, `htu`, `iat`, `jti` and
`activation_id`, the activation it is for. Make a fresh one for every call: the server
refuses a `jti` it has seen and an `iat` outside a small window.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from joserfc import jws
from joserfc.jwk import ECKey, OKPKey

from workflow.device import thumbprint

PROOF_TYPE = "dpop+jwt"
ACTIVATION_CLAIM = "activation_id"
ALGORITHMS = {"EC": "ES256", "OKP": "Ed25519"}


@dataclass(frozen=True)
class DeviceKey:
    """A device's private key (P-256 or Ed25519), kept on the device."""

    key: ECKey | OKPKey = field(repr=False)

    @classmethod
    def generate(cls, kind: Literal["P-256", "Ed25519"] = "P-256") -> DeviceKey:
        """A fresh key pair."""
        if kind == "Ed25519":
            return cls(OKPKey.generate_key("Ed25519"))
        return cls(ECKey.generate_key("P-256"))

    @property
    def public_jwk(self) -> dict[str, str]:
        """The public key as a JWK, given at `request`."""
        return {str(k): str(v) for k, v in self.key.as_dict(private=False).items()}

    @property
    def thumbprint(self) -> str:
        """The RFC 7638 thumbprint the activation stores."""
        return thumbprint(self.public_jwk)

    def proof(self, method: str, url: str, activation_id: str, *, iat: float | None = None,
              jti: str | None = None) -> str:
        """A proof for one call: `method` on `url` (query and fragment dropped) for `activation_id`.

        `iat` (default: now) and `jti` (default: random) are for tests.
        """
        parts = urlsplit(url)
        claims: dict[str, Any] = {
            "htm": method.upper(),
            "htu": urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")),
            "iat": int(time.time() if iat is None else iat),
            "jti": jti or secrets.token_urlsafe(16),
            ACTIVATION_CLAIM: activation_id,
        }
        alg = ALGORITHMS[self.public_jwk["kty"]]
        header = {"typ": PROOF_TYPE, "alg": alg, "jwk": self.public_jwk}
        payload = json.dumps(claims, separators=(",", ":"))
        return jws.serialize_compact(header, payload, self.key, algorithms=[alg])
