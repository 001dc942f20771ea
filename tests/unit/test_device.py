"""The device key: RFC 7638 thumbprints, refused keys, the activation records the thumbprint."""

from __future__ import annotations

import pytest

from adapters.device import DeviceKey
from tests.conftest import memory_service
from workflow.device import thumbprint
from workflow.errors import InvalidInput
from workflow.testing import FakeClock

RFC7638_EXAMPLE = {  # the EC key and thumbprint of RFC 9449 §4.1 (a P-256 key)
    "kty": "EC", "crv": "P-256",
    "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
    "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
}


def test_thumbprint_matches_the_published_example() -> None:
    """The thumbprint of RFC 9449's example key is the one the RFC prints."""
    assert thumbprint(RFC7638_EXAMPLE) == "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"


@pytest.mark.parametrize("kind", ["P-256", "Ed25519"])
def test_thumbprint_agrees_with_joserfc(kind: str) -> None:
    """Our stdlib thumbprint equals the JOSE library's for both key types."""
    key = DeviceKey.generate(kind)  # type: ignore[arg-type]
    assert key.thumbprint == key.key.thumbprint()


@pytest.mark.parametrize("jwk", [
    None, "key", {}, {"kty": "RSA", "n": "x", "e": "AQAB"},
    {"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"},
    {**RFC7638_EXAMPLE, "x": "short"},
    {**RFC7638_EXAMPLE, "d": "private"},
    {**RFC7638_EXAMPLE, "y": 7},
    {"kty": "OKP", "crv": "Ed25519", "x": "!!!not-base64!!!"},
    {**RFC7638_EXAMPLE, "x": "A" * 43, "y": "A" * 43},  # (0, 0): not on the curve
    {**RFC7638_EXAMPLE, "y": "8VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"},  # y of another point
])
def test_other_keys_are_refused(jwk: object) -> None:
    """Anything but a public P-256 or Ed25519 JWK is refused as invalid input on `device_key`."""
    with pytest.raises(InvalidInput) as refused:
        thumbprint(jwk)
    assert refused.value.field == "device_key"


def test_request_records_the_thumbprint() -> None:
    """`request(device_key=...)` stores the key's thumbprint on the activation; without, none."""
    svc = memory_service(FakeClock())
    key = DeviceKey.generate("Ed25519")
    bound = svc.request("899700366240", device_key=key.public_jwk).activation_id
    free = svc.request("899700366240").activation_id
    assert svc.store.get(bound).device_thumbprint == key.thumbprint  # type: ignore[union-attr]
    assert svc.store.get(free).device_thumbprint == ""  # type: ignore[union-attr]


def test_request_with_a_bad_key_creates_nothing() -> None:
    """A refused key starts no activation."""
    svc = memory_service(FakeClock())
    with pytest.raises(InvalidInput):
        svc.request("899700366240", device_key={"kty": "oct", "k": "c2VjcmV0"})
    assert svc.store.list_activations() == []


def test_the_curve_check_agrees_with_the_cryptography_library() -> None:
    """Points of generated P-256 keys pass; the same x with another y, or coordinates past the
    field, are refused, as `cryptography` refuses them."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from workflow.device import _on_p256

    for _ in range(50):
        n = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
        assert _on_p256(n.x, n.y)
        for x, y in ((n.x, n.y + 1), (n.x + 2**256, n.y)):
            with pytest.raises(ValueError):
                ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
            assert not _on_p256(x, y)
