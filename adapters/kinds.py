"""Every error kind with its stable name, its `ecps` exit code and its HTTP status.

One table shared by the CLI and the HTTP API, so both answer the same failure the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from workflow.config import ConfigError
from workflow.errors import (
    ActivationExpired,
    ActivationLocked,
    ActivationNotFound,
    AdapterError,
    ConcurrencyConflict,
    DefinitionError,
    DeliveryFailed,
    DirectoryUnavailable,
    InvalidIdentifier,
    InvalidInput,
    NotEligible,
    PinMismatch,
    StorageError,
    TooManyRequests,
    TransitionNotAllowed,
    VerificationFailed,
    WeakPin,
    WorkflowError,
)


@dataclass(frozen=True, slots=True)
class Kind:
    """How one kind of failure is named, and answered by the CLI and the HTTP API."""

    name: str
    exit_code: int
    http_status: int
    meaning: str


FAILED = Kind("failed", 1, 500, "a check failed (check, audit verify), or a crash")
USAGE = Kind("usage", 2, 400, "wrong command line (unknown option...)")

# Most specific first: the first class an error is an instance of names its kind.
KINDS: tuple[tuple[type[Exception], Kind], ...] = (
    (InvalidIdentifier, Kind("invalid_identifier", 4, 400, "not a well-formed identifiant national")),
    (WeakPin, Kind("weak_pin", 5, 400, "the PIN is refused by the PIN policy")),
    (InvalidInput, Kind("invalid_input", 3, 400, "a malformed argument (code, PIN, QR payload...)")),
    (NotEligible, Kind("not_eligible", 6, 422, "unknown to the directory, no contacts, or ADELI")),
    (ActivationNotFound, Kind("not_found", 7, 404, "no activation has this id")),
    (ActivationExpired, Kind("expired", 9, 410, "the activation's deadline has passed")),
    (ActivationLocked, Kind("locked", 10, 423, "too many wrong attempts locked the activation")),
    (TransitionNotAllowed, Kind("not_allowed", 8, 409, "the activation's state does not allow it")),
    (PinMismatch, Kind("pin_mismatch", 12, 422, "the confirmation differs: choose the PIN again")),
    (VerificationFailed, Kind("verification_failed", 11, 422, "wrong QR code, SMS code or PIN")),
    (TooManyRequests, Kind("too_many_requests", 13, 429, "a rate limit or cooldown: retry later")),
    (ConcurrencyConflict, Kind("conflict", 14, 409, "another call changed the activation first")),
    (DeliveryFailed, Kind("delivery_failed", 15, 502, "the mailer or SMS gateway failed")),
    (DirectoryUnavailable, Kind("directory_unavailable", 16, 503, "the directory cannot answer")),
    (StorageError, Kind("storage_error", 17, 503, "the database failed or cannot be read")),
    (AdapterError, Kind("adapter_error", 18, 502, "another outside service failed")),
    (DefinitionError, Kind("definition_error", 19, 500, "a workflow definition is inconsistent")),
    (ConfigError, Kind("config_error", 21, 500, "invalid settings (ECPS_* variables, ECPS_CONFIG)")),
)
WORKFLOW_ERROR = Kind("workflow_error", 20, 500, "any other refusal of the engine")


def kind_of(error: BaseException) -> Kind:
    """The kind of `error` (its most specific class in the table)."""
    for cls, kind in KINDS:
        if isinstance(error, cls):
            return kind
    return WORKFLOW_ERROR if isinstance(error, WorkflowError) else FAILED


def all_kinds() -> list[Kind]:
    """Every kind, ordered by exit code."""
    return sorted([FAILED, USAGE, WORKFLOW_ERROR, *(k for _, k in KINDS)],
                  key=lambda k: k.exit_code)
