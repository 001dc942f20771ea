"""The JSON bodies of the HTTP API (requests, answers, the error body)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from workflow.domain import Activation, Step
from workflow.results import ActivationStatus, Started, StepResult

_STRICT = ConfigDict(extra="forbid")


class RequestBody(BaseModel):
    """Ask for an activation with the identifiant national typed in the app."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"national_id": "899700366240", "device_id": "phone-1", "device_key": {
            "kty": "EC", "crv": "P-256", "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
            "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"}}]})
    national_id: str = Field(max_length=64, description="`8` + the 11-digit RPPS number")
    device_id: str = Field("", max_length=128, description="the app installation asking")
    device_key: dict[str, str] = Field(
        max_length=8, description="the app's public key (JWK, EC P-256 or OKP Ed25519): every "
        "later call on the activation carries a DPoP proof signed with it")


class ScanBody(BaseModel):
    """The text decoded from the QR code (or the deep link opened)."""

    model_config = _STRICT
    qr_payload: str = Field(max_length=512, description="e.g. `ecps://activation?a=…&t=…`")


class CodeBody(BaseModel):
    """The code received by SMS."""

    model_config = _STRICT
    code: str = Field(max_length=16, description="the digits of the SMS code")


class PinBody(BaseModel):
    """A PIN (chosen, confirmed, or typed to log in)."""

    model_config = _STRICT
    pin: str = Field(max_length=16, description="ASCII digits of the configured length")


class RevokeBody(BaseModel):
    """Why an active e-CPS is revoked."""

    model_config = _STRICT
    reason: str = Field("deleted", max_length=32,
                        description="deleted, admin, replaced, lost or compromised")


class StepOut(BaseModel):
    """One transition taken."""

    event: str
    source: str | None = Field(description="null for the creating `request`")
    dest: str
    at: datetime

    @classmethod
    def of(cls, step: Step) -> StepOut:
        """The answer for a `Step`."""
        source = None if step.source is None else str(step.source)
        return cls(event=step.event, source=source, dest=str(step.dest), at=step.at)


class StartedOut(BaseModel):
    """A new activation, with the masked contacts the app shows."""

    activation_id: str
    state: str
    masked_email: str
    masked_phone: str
    deadline: datetime
    superseded: list[str]

    @classmethod
    def of(cls, s: Started) -> StartedOut:
        """The answer for a `Started`."""
        return cls(activation_id=s.activation_id, state=str(s.state), masked_email=s.masked_email,
                   masked_phone=s.masked_phone, deadline=s.deadline, superseded=list(s.superseded))


class StepResultOut(BaseModel):
    """The steps one call took, ending in `state`."""

    activation_id: str
    state: str
    steps: list[StepOut]

    @classmethod
    def of(cls, r: StepResult) -> StepResultOut:
        """The answer for a `StepResult`."""
        return cls(activation_id=r.activation_id, state=str(r.state),
                   steps=[StepOut.of(s) for s in r.steps])


class AuthenticatedOut(BaseModel):
    """A successful PIN login."""

    activation_id: str
    authenticated: bool


class StatusOut(BaseModel):
    """An activation as it stands (no secret, contacts masked)."""

    activation_id: str
    state: str
    history: list[StepOut]
    deadline: datetime | None = Field(description="when it expires if nothing happens")
    attempts_left: int | None
    masked_email: str
    masked_phone: str
    created_at: datetime
    counters: dict[str, int]
    closed_reason: str

    @classmethod
    def of(cls, s: ActivationStatus) -> StatusOut:
        """The answer for an `ActivationStatus`."""
        return cls(activation_id=s.activation_id, state=str(s.state),
                   history=[StepOut.of(h) for h in s.history], deadline=s.deadline,
                   attempts_left=s.attempts_left, masked_email=s.masked_email,
                   masked_phone=s.masked_phone, created_at=s.created_at,
                   counters=dict(s.counters), closed_reason=s.closed_reason)


class SummaryOut(BaseModel):
    """One activation in a list (no secret, contacts masked)."""

    activation_id: str
    state: str
    created_at: datetime
    masked_email: str
    masked_phone: str
    closed_reason: str

    @classmethod
    def of(cls, a: Activation) -> SummaryOut:
        """The summary of a stored activation."""
        return cls(activation_id=a.id, state=str(a.state), created_at=a.created_at,
                   masked_email=a.masked_email, masked_phone=a.masked_phone,
                   closed_reason=a.closed_reason)


class ActivationsOut(BaseModel):
    """The most recent activations, newest first."""

    activations: list[SummaryOut]


class AuditOut(BaseModel):
    """The verdict on an activation's audit trail."""

    activation_id: str
    events: int
    intact: bool
    problems: list[str]


class HealthOut(BaseModel):
    """The server is up and its database answers."""

    status: str
    database: str


class ErrorDetail(BaseModel):
    """What went wrong; `kind` is stable (see the README's table), `message` is for people."""

    kind: str
    message: str
    field: str | None = None
    attempts_left: int | None = None
    retry_after: int | None = None
    state: str | None = None
    event: str | None = None


class ErrorOut(BaseModel):
    """The body of every error answer."""

    error: ErrorDetail
