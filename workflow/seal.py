"""Row seals: a keyed digest of every field of an activation, so a row edited outside the service shows.

The service seals each activation it commits and checks the seal of each one it loads; a row
written before seals existed (an empty seal) is trusted only as far as its audit trail proves.
Fields are sealed as `str()` gives them: each field keeps one type, and stored times are UTC.
"""

from __future__ import annotations

import operator
import threading
from dataclasses import fields
from typing import Any

from workflow.domain import Activation
from workflow.security import Keyring

_SEALED = operator.attrgetter(*(f.name for f in fields(Activation) if f.name != "seal"))
REMEMBERED = 2048
"""Activations whose sealed fields a `Seals` keeps, newest first: about the flows in progress."""


def seal_of(keys: Keyring, a: Activation) -> str:
    """The keyed digest of every field of `a` but its seal."""
    return _digest(keys, _SEALED(a))


def _digest(keys: Keyring, held: tuple[Any, ...]) -> str:
    return keys.digest("row", *map(str, held))


def _matches(keys: Keyring, seal: str, held: tuple[Any, ...]) -> bool:
    return keys.matches(seal, "row", *map(str, held))


def sealed(keys: Keyring, a: Activation) -> None:
    """Set `a`'s seal to the digest of what it holds now."""
    a.seal = seal_of(keys, a)


def intact(keys: Keyring, a: Activation) -> bool:
    """Whether `a` still holds what was sealed (False for an unsealed row)."""
    return _matches(keys, a.seal, _SEALED(a))


class Seals:
    """`sealed` and `intact` under one keyring, remembering the fields (seal included) of the
    last `REMEMBERED` activations it sealed or found intact: a row read back exactly as it was
    sealed is intact without its digest being computed again. Any other row, a field edited
    or its seal replaced, is digested and checked. Thread-safe."""

    def __init__(self, keys: Keyring, remembered: int = REMEMBERED) -> None:
        self.keys = keys
        self._remembered = remembered
        self._known: dict[str, tuple[Any, ...]] = {}
        self._lock = threading.Lock()

    def sealed(self, a: Activation) -> None:
        """Set `a`'s seal to the digest of what it holds now."""
        held = _SEALED(a)
        a.seal = _digest(self.keys, held)
        self._remember(a.id, (*held, a.seal))

    def intact(self, a: Activation) -> bool:
        """Whether `a` still holds what was sealed (False for an unsealed row)."""
        fields_ = _SEALED(a)
        held = (*fields_, a.seal)
        if self._known.get(a.id) == held:
            return True
        if not _matches(self.keys, a.seal, fields_):
            return False
        self._remember(a.id, held)
        return True

    def _remember(self, activation_id: str, held: tuple[Any, ...]) -> None:
        with self._lock:
            known = self._known
            known.pop(activation_id, None)
            known[activation_id] = held
            if len(known) > self._remembered:
                del known[next(iter(known))]
