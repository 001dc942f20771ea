"""The HTTP layer's own settings: operator credential, proof window, caps, CORS.

`HttpSettings.from_env()` reads them from `ECPS_*` variables (see each field); `create_app`
takes them as `http=`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from workflow.config import ConfigError
from workflow.errors import InvalidInput

MIN_TOKEN_LENGTH = 16


def token_digest(token: str) -> str:
    """The SHA-256 (hex) of an operator token: only this is kept and compared."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """What the HTTP layer enforces besides the workflow's own rules."""

    operator_token_sha256: str = ""  # ECPS_OPERATOR_TOKEN / ECPS_OPERATOR_TOKEN_FILE ("": none)
    proof_window: int = 60  # ECPS_PROOF_WINDOW: seconds a proof's `iat` may be off the server's
    body_limit: int = 64 * 1024  # ECPS_BODY_LIMIT: bytes of a request body (413 beyond)
    request_rate: int = 20  # ECPS_REQUEST_RATE: POST /activations per client address and period
    request_period: int = 60  # ECPS_REQUEST_PERIOD: seconds of that period
    cors_origins: tuple[str, ...] = ()  # ECPS_CORS_ORIGINS: comma-separated ("": CORS closed)

    def __post_init__(self) -> None:
        for name in ("proof_window", "body_limit", "request_rate", "request_period"):
            if getattr(self, name) < 1:
                raise InvalidInput(f"ECPS_{name.upper()} ({name}) must be a positive integer", name)

    @property
    def has_operator(self) -> bool:
        """An operator credential is configured."""
        return bool(self.operator_token_sha256)

    @classmethod
    def with_token(cls, token: str, **others: object) -> HttpSettings:
        """Settings whose operator credential is `token` (kept as its digest)."""
        if len(token) < MIN_TOKEN_LENGTH:
            raise InvalidInput(f"the operator token must be at least {MIN_TOKEN_LENGTH} characters",
                               "operator_token")
        if not (token.isascii() and token.isprintable()):
            raise InvalidInput("the operator token must be printable ASCII (an HTTP header "
                               "carries it: e.g. `openssl rand -hex 32`)", "operator_token")
        return cls(operator_token_sha256=token_digest(token), **others)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> HttpSettings:
        """The settings of the `ECPS_*` variables of `env` (default: the process's);
        `ConfigError` naming the variable if one is invalid."""
        try:
            return cls._from_env(os.environ if env is None else env)
        except InvalidInput as exc:
            raise ConfigError([str(exc)]) from None

    @classmethod
    def _from_env(cls, env: Mapping[str, str]) -> HttpSettings:
        token = env.get("ECPS_OPERATOR_TOKEN", "")
        if not token and (path := env.get("ECPS_OPERATOR_TOKEN_FILE")):
            try:
                token = Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise InvalidInput(f"cannot read ECPS_OPERATOR_TOKEN_FILE ({type(exc).__name__})",
                                   "operator_token") from exc
            except UnicodeDecodeError:
                raise InvalidInput("ECPS_OPERATOR_TOKEN_FILE is not UTF-8 text",
                                   "operator_token") from None
        others: dict[str, object] = {}
        for name in ("proof_window", "body_limit", "request_rate", "request_period"):
            if (raw := env.get(f"ECPS_{name.upper()}")) is not None:
                try:
                    others[name] = int(raw)
                except ValueError as exc:
                    raise InvalidInput(f"ECPS_{name.upper()} must be an integer", name) from exc
        if origins := env.get("ECPS_CORS_ORIGINS", "").strip():
            others["cors_origins"] = tuple(o.strip() for o in origins.split(",") if o.strip())
        if token:
            return cls.with_token(token, **others)
        return cls(**others)  # type: ignore[arg-type]


def is_loopback(host: str) -> bool:
    """`host` is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def server_settings(host: str, token_file: str | os.PathLike[str] | None = None,
                    env: Mapping[str, str] | None = None) -> HttpSettings:
    """The settings `ecps serve` runs with; refuses a non-loopback `host` without an operator token."""
    env = dict(os.environ if env is None else env)
    if token_file is not None:
        env.pop("ECPS_OPERATOR_TOKEN", None)
        env["ECPS_OPERATOR_TOKEN_FILE"] = str(token_file)
    settings = HttpSettings.from_env(env)
    if not settings.has_operator and not is_loopback(host):
        raise InvalidInput(
            f"refusing to listen on {host} without an operator credential: give one with "
            "--operator-token-file FILE, ECPS_OPERATOR_TOKEN_FILE=FILE or ECPS_OPERATOR_TOKEN "
            f"(at least {MIN_TOKEN_LENGTH} characters, e.g. `openssl rand -hex 32`), or listen "
            "on 127.0.0.1", "host")
    return settings
