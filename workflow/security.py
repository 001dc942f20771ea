"""Identifier checks, secrets, keyed digests, encryption at rest, the PIN policy, masking.

Every secret comes from `secrets` (the SMS code through `pyotp`); every comparison of a
secret is constant-time; nothing here logs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import re
import secrets
from urllib.parse import parse_qs, urlsplit

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from workflow.errors import InvalidIdentifier, InvalidInput, NotEligible, StorageError, WeakPin
from workflow.settings import Settings

MAX_INPUT = 512
TOKEN_BYTES = 32
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{22,128}")
_ID_RE = re.compile(r"[A-Za-z0-9_-]{8,64}")
_EMAIL_RE = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
_PHONE_RE = re.compile(r"\+?[0-9]{8,15}")
COMMON_PINS = frozenset({
    "1212", "1004", "2000", "6969", "1122", "1313", "2001", "1010", "2580", "0852", "1998",
    "1999", "2020", "2021", "2022", "2023", "2024", "2025", "1357", "2468", "1369", "7410",
    "0007", "0070", "4545", "5252", "1230", "0001", "1000", "5683", "7777",
    # six digits: the common ones that are neither a run nor a repeated block
    "112233", "123321", "159753", "147258", "789456", "102030", "147852", "159357", "147369",
    "741852", "963852", "258456", "100200", "200000", "110011",
})
"""Common PINs that no rule below catches (runs, one digit, a repeated block are caught too)."""


def text_arg(value: object, field: str, max_len: int = MAX_INPUT) -> str:
    """`value` if it is text of a sane length, else `InvalidInput`."""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be text, not {type(value).__name__}", field)
    if len(value) > max_len or "\x00" in value or not _encodable(value):
        raise InvalidInput(f"{field} is malformed", field)
    return value


def _encodable(value: str) -> bool:
    """Whether `value` is valid Unicode text (no lone surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def digits_arg(value: object, length: int, field: str) -> str:
    """`value` if it is exactly `length` ASCII digits, else `InvalidInput`."""
    text = text_arg(value, field, max_len=64)
    if len(text) != length or not (text.isascii() and text.isdigit()):
        raise InvalidInput(f"{field} must be exactly {length} digits (0-9)", field)
    return text


def luhn_ok(digits: str) -> bool:
    """Whether the last digit of `digits` is its Luhn key."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = int(char)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def validate_identifier(value: object, *, check_luhn: bool = True) -> str:
    """The identifiant national if well-formed; ADELI numbers are `NotEligible`."""
    if not isinstance(value, str):
        raise InvalidIdentifier(f"the identifier must be text, not {type(value).__name__}")
    twelve = "the identifier must be 12 digits: 8 then the 11-digit RPPS"
    if len(value) > 32:  # far too long, whatever it holds: not looked at further
        raise InvalidIdentifier(twelve)
    if not (value.isascii() and value.isdigit()):
        raise InvalidIdentifier("the identifier must be made of ASCII digits only")
    if len(value) == 10 and value[0] == "0":
        raise NotEligible("ADELI-registered professionals activate with their CPS card")
    if len(value) != 12 or value[0] != "8":
        raise InvalidIdentifier(twelve)
    if check_luhn and not luhn_ok(value[1:]):
        raise InvalidIdentifier("the RPPS number's check digit is wrong")
    return value


def clean_email(value: str | None) -> str:
    """The directory's e-mail if usable for sending, else `NotEligible`."""
    if value is None or value == "":
        raise NotEligible("the directory has no e-mail address of record")
    if not isinstance(value, str) or len(value) > 254 or not _EMAIL_RE.fullmatch(value):
        raise NotEligible("the directory's e-mail address of record is unusable")
    return value


def clean_phone(value: str | None) -> str:
    """The directory's mobile number without separators, else `NotEligible`."""
    if value is None or value == "":
        raise NotEligible("the directory has no mobile number of record")
    compact = re.sub(r"[ .-]", "", value) if isinstance(value, str) else ""
    if not _PHONE_RE.fullmatch(compact):
        raise NotEligible("the directory's mobile number of record is unusable")
    return compact


def clean_name(value: object) -> str:
    """A display name safe for headers and texts (control characters removed)."""
    if not isinstance(value, str):
        return ""
    return "".join(c for c in value if c.isprintable())[:120]


def mask_email(email: str) -> str:
    """`jane.doe@domain.fr` → `ja****@domain.fr`."""
    local, _, domain = email.partition("@")
    return f"{local[:2]}****@{domain}"


def mask_phone(phone: str) -> str:
    """`0612345678` → `06****78`."""
    return f"{phone[:2]}****{phone[-2:]}"


def new_token() -> str:
    """A fresh QR token: 256 random bits, URL-safe base64 without padding."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def new_activation_id() -> str:
    """A fresh activation id: 80 random bits as 16 lowercase base32 characters (never a leading '-')."""
    return base64.b32encode(secrets.token_bytes(10)).decode().lower()


def new_sms_code(digits: int) -> str:
    """A fresh SMS code: HOTP over a random one-off secret, which is then forgotten."""
    secret = base64.b32encode(secrets.token_bytes(20)).decode()  # 160 bits, one read of the CSPRNG
    return str(pyotp.HOTP(secret, digits=digits).at(0))


def make_payload(base: str, activation_id: str, token: str) -> str:
    """The deep link the QR code encodes."""
    return f"{base}?a={activation_id}&t={token}"


def parse_payload(value: object, base: str) -> tuple[str, str]:
    """(activation id, token) from a scanned payload, or `InvalidInput` if it is not one."""
    text = text_arg(value, "qr_payload")
    prefix = base + "?"
    if not text.startswith(prefix) or not text.isascii() or not text.isprintable():
        raise InvalidInput("the QR payload is not an e-CPS activation link", "qr_payload")
    query = parse_qs(urlsplit(text).query, keep_blank_values=True, strict_parsing=False)
    ids, tokens = query.get("a", []), query.get("t", [])
    if len(ids) != 1 or len(tokens) != 1 or not _ID_RE.fullmatch(ids[0]):
        raise InvalidInput("the QR payload is not an e-CPS activation link", "qr_payload")
    if not _TOKEN_RE.fullmatch(tokens[0]):
        raise InvalidInput("the QR payload is not an e-CPS activation link", "qr_payload")
    return ids[0], tokens[0]


def check_pin_policy(pin: str) -> None:
    """Refuse guessable PINs with `WeakPin` and the reason."""
    steps = {int(b) - int(a) for a, b in itertools.pairwise(pin)}
    if len(set(pin)) == 1:
        raise WeakPin("all digits are the same")
    if steps in ({1}, {-1}):
        raise WeakPin("the digits form an ascending or descending run")
    repeated = any(len(pin) % k == 0 and pin[:k] * (len(pin) // k) == pin  # 1212, 123123
                   for k in range(2, len(pin) // 2 + 1))
    if pin in COMMON_PINS or repeated:
        raise WeakPin("this PIN is among the most common ones")


class _Hmac:
    """HMAC-SHA-256 under one key, its padded key blocks hashed once (RFC 2104): each digest
    copies two hash states instead of setting up the key again."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        block = key.ljust(64, b"\0")  # keys here are 32 bytes: no pre-hash
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def hexdigest(self, message: bytes) -> str:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


class Keyring:
    """Keys derived from the server key: keyed digests, pseudonyms, encryption, PIN hashing."""

    def __init__(self, settings: Settings) -> None:
        key = settings.key
        self._mac = _Hmac(hmac.digest(key, b"ecps/mac", "sha256"))
        self._box = AESGCM(hmac.digest(key, b"ecps/aead", "sha256"))
        self._pepper = hmac.digest(key, b"ecps/pin", "sha256")
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        )

    def digest(self, purpose: str, *parts: str) -> str:
        """A keyed digest of `parts` for `purpose` (hex)."""
        return self._mac.hexdigest("\x1f".join((purpose, *parts)).encode())

    def pseudonym(self, national_id: str) -> str:
        """The stable keyed pseudonym of an identifier, for storage, logs and audit."""
        return self.digest("subject", national_id)[:32]

    def matches(self, stored: str, purpose: str, *parts: str) -> bool:
        """Constant-time check that `parts` digest to `stored`."""
        return bool(stored) and hmac.compare_digest(stored, self.digest(purpose, *parts))

    def seal(self, plain: bytes) -> bytes:
        """Encrypt and authenticate `plain` with the server key."""
        nonce = secrets.token_bytes(12)
        return nonce + self._box.encrypt(nonce, plain, b"ecps")

    def unseal(self, blob: bytes) -> bytes:
        """Decrypt what `seal` made; `StorageError` if it was altered or is not ours."""
        try:
            return self._box.decrypt(blob[:12], blob[12:], b"ecps")
        except (InvalidTag, ValueError) as exc:
            raise StorageError("stored ciphertext cannot be read with this server key") from exc

    def hash_pin(self, activation_id: str, pin: str) -> str:
        """A salted argon2id hash of the peppered PIN."""
        return self._hasher.hash(self._peppered(activation_id, pin))

    def verify_pin(self, stored: str, activation_id: str, pin: str) -> bool:
        """Whether `pin` is the one hashed in `stored`."""
        try:
            return bool(self._hasher.verify(stored, self._peppered(activation_id, pin)))
        except (VerificationError, InvalidHashError):
            return False

    def _peppered(self, activation_id: str, pin: str) -> bytes:
        mac = hmac.digest(self._pepper, f"{activation_id}\x1f{pin}".encode(), "sha256")
        return base64.b64encode(mac)
