"""PINs of the configured length for the kit's drivers: strong ones the PIN policy accepts,
weak ones it refuses (the policy decides, in `workflow.security`)."""

from __future__ import annotations

import functools

from workflow.errors import WeakPin
from workflow.security import check_pin_policy

_FOUR = ("4821", "5930", "7364", "3175", "6049", "8352", "7395")
_DIGITS = "4821593073643175604983527395261840"  # read in windows for other lengths


def accepted(pin: str) -> bool:
    """Whether the PIN policy accepts `pin` (a well-formed PIN)."""
    try:
        check_pin_policy(pin)
    except WeakPin:
        return False
    return True


@functools.cache
def strong_pins(length: int) -> tuple[str, ...]:
    """Seven different PINs of `length` digits that the PIN policy accepts."""
    if length == 4:
        return _FOUR
    found = dict.fromkeys(p for i in range(len(_DIGITS) - length + 1)
                          if accepted(p := _DIGITS[i:i + length]))
    return tuple(found)[:7]


def driver_pins(length: int) -> tuple[str, str, str]:
    """(the PIN chosen, another strong one, a weak one) of `length` digits: for 4, the
    drivers' 4821, 5930 and 1234."""
    strong, weak = strong_pins(length), weak_pins(length)
    return strong[0], strong[1], weak[1] if len(weak) > 1 else weak[0]


@functools.cache
def weak_pins(length: int) -> tuple[str, ...]:
    """PINs of `length` digits that the PIN policy refuses: one digit, a run up, a run down,
    a repeated block."""
    made = ("0" * length, "".join(str((i + 1) % 10) for i in range(length)),
            "".join(str(9 - i % 10) for i in range(length)), "1" * length, ("12" * length)[:length])
    return tuple(p for p in dict.fromkeys(made) if not accepted(p))
