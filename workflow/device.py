"""The app's device key as the library sees it: a public JWK and its RFC 7638 thumbprint.

An activation may be bound to the key of the app that asked for it (`ActivationService.request`
with `device_key`); the library keeps only the thumbprint. Proving possession of the key on
later calls is the HTTP layer's business (`adapters.api`), with proofs made by `adapters.device`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping

from workflow.errors import InvalidInput

# the members that make each accepted key, and the byte length of each coordinate
_KEY_TYPES: dict[tuple[str, str], dict[str, int]] = {
    ("EC", "P-256"): {"x": 32, "y": 32},
    ("OKP", "Ed25519"): {"x": 32},
}
_PRIVATE = frozenset({"d", "p", "q", "dp", "dq", "qi", "k"})


def thumbprint(jwk: object) -> str:
    """The RFC 7638 SHA-256 thumbprint (base64url) of a public P-256 or Ed25519 JWK.

    Raises `InvalidInput` (field `device_key`) for anything else, a private key included.
    """
    if not isinstance(jwk, Mapping):
        raise InvalidInput("device_key must be a JWK object", "device_key")
    if _PRIVATE & set(jwk):
        raise InvalidInput("device_key must be a public key (no private member)", "device_key")
    kty, crv = jwk.get("kty"), jwk.get("crv")
    sizes = _KEY_TYPES.get((kty, crv)) if isinstance(kty, str) and isinstance(crv, str) else None
    if sizes is None:
        raise InvalidInput("device_key must be an EC P-256 or OKP Ed25519 public JWK", "device_key")
    members = {"kty": kty, "crv": crv}
    coordinates = []
    for name, size in sizes.items():
        value = jwk.get(name)
        raw = _b64(value, name) if isinstance(value, str) else b""
        if len(raw) != size:
            raise InvalidInput(f"device_key.{name} must be {size} bytes in base64url", "device_key")
        members[name] = str(value)
        coordinates.append(int.from_bytes(raw, "big"))
    if kty == "EC" and not _on_p256(*coordinates):
        raise InvalidInput("device_key is not a point of the P-256 curve", "device_key")
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


_P256_P = 2**256 - 2**224 + 2**192 + 2**96 - 1  # the field prime and the curve's b (SEC 2)
_P256_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B


def _on_p256(x: int, y: int) -> bool:
    """Whether (x, y) is a point of P-256, y^2 = x^3 - 3x + b (a key no proof could ever be
    checked against is not one)."""
    p = _P256_P
    return x < p and y < p and (y * y - (x * x * x - 3 * x + _P256_B)) % p == 0


def _b64(value: str, name: str) -> bytes:
    if "=" in value or len(value) > 64:
        raise InvalidInput(f"device_key.{name} must be unpadded base64url", "device_key")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(f"device_key.{name} must be unpadded base64url", "device_key") from exc
