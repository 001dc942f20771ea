"""Row seals: a keyed digest of every field of an activation, so a row edited outside the service shows.

The service seals each activation it commits and checks the seal of each one it loads; a row
written before seals existed (an empty seal) is trusted only as far as its audit trail proves.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from enum import Enum

from workflow.domain import Activation
from workflow.security import Keyring

_SEALED = tuple(f.name for f in fields(Activation) if f.name != "seal")


def seal_of(keys: Keyring, a: Activation) -> str:
    """The keyed digest of every field of `a` but its seal."""
    return keys.digest("row", *(_text(getattr(a, name)) for name in _SEALED))


def sealed(keys: Keyring, a: Activation) -> None:
    """Set `a`'s seal to the digest of what it holds now."""
    a.seal = seal_of(keys, a)


def intact(keys: Keyring, a: Activation) -> bool:
    """Whether `a` still holds what was sealed (False for an unsealed row)."""
    return keys.matches(a.seal, "row", *(_text(getattr(a, name)) for name in _SEALED))


def _text(value: object) -> str:
    if value is None:
        return "\x00"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)
