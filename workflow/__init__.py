"""ecps-workflow: a formal state-machine workflow engine for activating an e-CPS without a card."""

from workflow.definition import DEFINITION, WORKFLOW, Definition, Event, Outcome, State, Workflow
from workflow.domain import Step
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
from workflow.results import ActivationStatus, HistoryPage, Started, StepResult
from workflow.service import ActivationService
from workflow.settings import Settings

__all__ = [
    "DEFINITION",
    "WORKFLOW",
    "ActivationExpired",
    "ActivationLocked",
    "ActivationNotFound",
    "ActivationService",
    "ActivationStatus",
    "AdapterError",
    "ConcurrencyConflict",
    "Definition",
    "DefinitionError",
    "DeliveryFailed",
    "DirectoryUnavailable",
    "Event",
    "HistoryPage",
    "InvalidIdentifier",
    "InvalidInput",
    "NotEligible",
    "Outcome",
    "PinMismatch",
    "Settings",
    "Started",
    "State",
    "Step",
    "StepResult",
    "StorageError",
    "TooManyRequests",
    "TransitionNotAllowed",
    "VerificationFailed",
    "WeakPin",
    "Workflow",
    "WorkflowError",
]
