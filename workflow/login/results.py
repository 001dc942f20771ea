"""What the login calls return: frozen values, with no secret but the assertion given once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from workflow.login.definition import LoginState


@dataclass(frozen=True, slots=True)
class LoginStarted:
    """A login a portal asked for: the id it polls, its state and when it expires."""

    login_id: str
    state: LoginState
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class PendingLogin:
    """A login waiting for the professional's answer, as the app shows it."""

    login_id: str
    client_name: str
    binding_message: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class LoginResult:
    """Where a login stands for the portal; `assertion` is the compact JWS, given once."""

    login_id: str
    state: LoginState
    assertion: str | None = None
    closed_reason: str = ""
