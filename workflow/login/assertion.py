"""The login's signed assertion: a compact JWS (ES256) made with `joserfc`, and its JWKS.

The signing key is derived from the server key (so every process of a deployment signs with
the same key and nothing more is stored); only its public half is ever shown.
"""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jwt
from joserfc.jwk import ECKey

ALGORITHM = "ES256"
AMR = ("pin", "hwk")  # a PIN typed on a registered device (RFC 8176: something known, a device key)
ASSERTION_VALIDITY = timedelta(minutes=5)  # how long a portal may use an assertion it collected
_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # of P-256


class Signer:
    """Signs assertions with the ES256 key derived from `server_key`; `jwks()` verifies them."""

    def __init__(self, server_key: bytes, issuer: str = "ecps-workflow") -> None:
        seed = int.from_bytes(hmac.digest(server_key, b"ecps/login-assertion", "sha256"), "big")
        private = ec.derive_private_key(seed % (_ORDER - 1) + 1, ec.SECP256R1())
        self._key = ECKey.import_key(private)
        self.kid = self._key.thumbprint()
        self.issuer = issuer

    def sign(self, *, audience: str, subject: str, auth_time: datetime, issued: datetime,
             login_id: str) -> str:
        """A compact JWS of the assertion's claims, issued (`iat`) at `issued` and valid
        `ASSERTION_VALIDITY` from then (`jti` is the login id)."""
        claims = {"iss": self.issuer, "aud": audience, "sub": subject,
                  "auth_time": int(auth_time.timestamp()), "iat": int(issued.timestamp()),
                  "exp": int((issued + ASSERTION_VALIDITY).timestamp()), "amr": list(AMR),
                  "jti": login_id}
        return jwt.encode({"alg": ALGORITHM, "kid": self.kid, "typ": "JWT"}, claims, self._key,
                          algorithms=[ALGORITHM])

    def jwks(self) -> dict[str, Any]:
        """The public keys that verify assertions, as a JWK Set."""
        public = self._key.as_dict(private=False)
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": ALGORITHM}]}

