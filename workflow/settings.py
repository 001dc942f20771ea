"""Tunable limits of the workflow, validated when constructed.

Defaults follow docs/specification.md; `Settings(secret_key=...)` is all a deployment must give.
Without a key, an ephemeral random one is made (and a warning logged): what it seals does
not survive the process.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

MIN_KEY_BYTES = 16


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Every limit, deadline and policy of an activation (all overridable)."""

    secret_key: bytes | str | None = field(default=None, repr=False)
    pin_length: int = 4
    sms_code_digits: int = 6
    sms_code_validity: timedelta = timedelta(minutes=5)
    qr_token_validity: timedelta = timedelta(minutes=60)
    pin_step_validity: timedelta = timedelta(minutes=10)
    flow_validity: timedelta = timedelta(hours=24)
    max_sms_attempts: int = 5
    max_resends: int = 3
    resend_cooldown: timedelta = timedelta(seconds=60)
    max_pin_mismatches: int = 3
    max_login_failures: int = 10
    max_requests: int = 5
    request_window: timedelta = timedelta(hours=24)
    check_rpps_luhn: bool = True
    delivery_attempts: int = 5
    delivery_backoff: timedelta = timedelta(seconds=10)
    delivery_lease: timedelta = timedelta(seconds=60)
    deep_link_base: str = "ecps://activation"
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 4
    login_validity: timedelta = timedelta(minutes=2)
    login_poll_interval: timedelta = timedelta(seconds=5)
    max_logins: int = 10
    login_window: timedelta = timedelta(minutes=10)

    def __post_init__(self) -> None:
        if self.secret_key is None:
            logging.getLogger("ecps.settings").warning(
                "Settings without secret_key: using an ephemeral random key; "
                "data sealed with it cannot be read after a restart")
            object.__setattr__(self, "secret_key", secrets.token_bytes(32))
        problems = _problems(self)
        if problems:
            raise InvalidSettings(problems)

    @property
    def key(self) -> bytes:
        """The server key as bytes."""
        return _key_bytes(self.secret_key)


class InvalidSettings(ValueError):
    """Values out of their range; `problems` names each setting and its bound."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid Settings: " + "; ".join(problems))
        self.problems = tuple(problems)


def _key_bytes(secret_key: bytes | str | None) -> bytes:
    if secret_key is None:
        return b""
    return secret_key.encode() if isinstance(secret_key, str) else bytes(secret_key)


def _shown(span: timedelta) -> str:
    """A duration as people write it: `20m`, `1h30m`, `7d`, `-5s`."""
    total = span.total_seconds()
    if total <= 0 or not total.is_integer():
        return f"{total:g}s"
    rest, parts = int(total), []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts)


def _key_bytes_or_none(secret_key: bytes | str) -> bytes:
    """The key's bytes; none (b"") for text that has no UTF-8 form (lone surrogates)."""
    try:
        return _key_bytes(secret_key)
    except UnicodeEncodeError:
        return b""


def link_base_ok(base: object) -> bool:
    """Whether `base` can start the activation link: a URI of printable ASCII without spaces,
    query or fragment (the link the service makes is one it accepts back)."""
    return (isinstance(base, str) and "://" in base and base.isascii() and base.isprintable()
            and not any(c in base for c in "?#& "))


def _problems(s: Settings) -> list[str]:
    problems: list[str] = []
    if not isinstance(s.secret_key, (bytes, str)) or len(_key_bytes_or_none(s.secret_key)) < MIN_KEY_BYTES:
        problems.append(f"secret_key must be text (UTF-8) or bytes of at least {MIN_KEY_BYTES} bytes")
    bounds = {
        "pin_length": (s.pin_length, 4, 12),
        "sms_code_digits": (s.sms_code_digits, 6, 8),
        "max_sms_attempts": (s.max_sms_attempts, 1, 20),
        "max_resends": (s.max_resends, 0, 10),
        "max_pin_mismatches": (s.max_pin_mismatches, 1, 20),
        "max_login_failures": (s.max_login_failures, 1, 100),
        "max_requests": (s.max_requests, 1, 1000),
        "delivery_attempts": (s.delivery_attempts, 1, 20),
        "argon2_time_cost": (s.argon2_time_cost, 1, 20),
        "argon2_memory_kib": (s.argon2_memory_kib, 8, 4 * 1024 * 1024),
        "argon2_parallelism": (s.argon2_parallelism, 1, 16),
        "max_logins": (s.max_logins, 1, 1000),
    }
    for name, (value, low, high) in bounds.items():
        if type(value) is not int or not low <= value <= high:
            problems.append(f"{name} must be an integer in {low}..{high}, not {value!r}")
    memory, lanes = s.argon2_memory_kib, s.argon2_parallelism
    if type(memory) is int and type(lanes) is int and 1 <= lanes <= 16 and 8 <= memory < 8 * lanes:
        problems.append(f"argon2_memory_kib must be at least 8 per lane of argon2_parallelism "
                        f"({8 * lanes} for {lanes}), not {memory}")
    durations = {
        "sms_code_validity": (s.sms_code_validity, timedelta(minutes=10)),
        "qr_token_validity": (s.qr_token_validity, timedelta(days=7)),
        "pin_step_validity": (s.pin_step_validity, timedelta(hours=24)),
        "flow_validity": (s.flow_validity, timedelta(days=30)),
        "resend_cooldown": (s.resend_cooldown, timedelta(hours=24)),
        "request_window": (s.request_window, timedelta(days=30)),
        "delivery_backoff": (s.delivery_backoff, timedelta(hours=1)),
        "delivery_lease": (s.delivery_lease, timedelta(hours=1)),
        "login_validity": (s.login_validity, timedelta(minutes=30)),
        "login_poll_interval": (s.login_poll_interval, timedelta(minutes=1)),
        "login_window": (s.login_window, timedelta(days=1)),
    }
    for name, (span, longest) in durations.items():
        if not isinstance(span, timedelta):
            problems.append(f"{name} must be a duration, not {span!r}")
        elif span > longest:
            problems.append(f"{name}: {_shown(span)} is more than the maximum {_shown(longest)}")
        elif span <= timedelta(0):
            problems.append(f"{name}: {_shown(span)} is not more than 0s")
    if not isinstance(s.check_rpps_luhn, bool):
        problems.append("check_rpps_luhn must be a bool")
    if not link_base_ok(s.deep_link_base):
        problems.append("deep_link_base must be a URI of printable ASCII (scheme://host/path) "
                        "without query or fragment")
    return problems
