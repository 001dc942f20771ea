"""The JSON bodies of the login routes (a portal's request, the app's list, the portal's poll)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from workflow.login.results import LoginResult, LoginStarted, PendingLogin


class LoginBody(BaseModel):
    """A portal asks to log a professional in."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "national_id": "899700366240", "client_id": "portail-paca",
        "client_name": "Portail de santé PACA", "binding_message": "A7-3F"}]})
    national_id: str = Field(max_length=64, description="`8` + the 11-digit RPPS number")
    client_id: str = Field(max_length=128, description="the portal (the assertion's audience)")
    client_name: str = Field(max_length=80, description="the portal's name shown on the phone")
    binding_message: str = Field(max_length=32, description="a short code shown on both screens")


class LoginStartedOut(BaseModel):
    """A login asked for: the id to poll, its state and when it expires."""

    login_id: str
    state: str
    expires_at: datetime

    @classmethod
    def of(cls, started: LoginStarted) -> LoginStartedOut:
        """The answer for a `LoginStarted`."""
        return cls(login_id=started.login_id, state=str(started.state), expires_at=started.expires_at)


class LoginOut(BaseModel):
    """Where a login stands; `assertion` (a compact JWS) is given once, when it completes."""

    login_id: str
    state: str
    assertion: str | None = None
    closed_reason: str = ""

    @classmethod
    def of(cls, result: LoginResult) -> LoginOut:
        """The answer for a `LoginResult`."""
        return cls(login_id=result.login_id, state=str(result.state), assertion=result.assertion,
                   closed_reason=result.closed_reason)


class PendingLoginOut(BaseModel):
    """A login waiting for the professional's answer."""

    login_id: str
    client_name: str
    binding_message: str
    expires_at: datetime

    @classmethod
    def of(cls, p: PendingLogin) -> PendingLoginOut:
        """The answer for a `PendingLogin`."""
        return cls(login_id=p.login_id, client_name=p.client_name,
                   binding_message=p.binding_message, expires_at=p.expires_at)


class PendingLoginsOut(BaseModel):
    """What the app shows: the logins waiting on this e-CPS."""

    logins: list[PendingLoginOut]


class JwksOut(BaseModel):
    """The public keys that verify login assertions (a JWK Set)."""

    keys: list[dict[str, str]]
