"""Row seals: a keyed digest of every field of an activation, so a row edited outside the service shows.

The service seals each activation it commits and checks the seal of each one it loads; a row
written before seals existed (an empty seal) is trusted only as far as its audit trail proves.
Fields are sealed as `str()` gives them: each field keeps one type, and stored times are UTC.
"""

from __future__ import annotations

import operator
from dataclasses import fields

from workflow.domain import Activation
from workflow.security import Keyring

_SEALED = operator.attrgetter(*(f.name for f in fields(Activation) if f.name != "seal"))


def seal_of(keys: Keyring, a: Activation) -> str:
    """The keyed digest of every field of `a` but its seal."""
    return keys.digest("row", *map(str, _SEALED(a)))


def sealed(keys: Keyring, a: Activation) -> None:
    """Set `a`'s seal to the digest of what it holds now."""
    a.seal = seal_of(keys, a)


def intact(keys: Keyring, a: Activation) -> bool:
    """Whether `a` still holds what was sealed (False for an unsealed row)."""
    return keys.matches(a.seal, "row", *map(str, _SEALED(a)))
