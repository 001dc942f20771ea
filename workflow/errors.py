"""The errors the engine raises, one tree under `WorkflowError`.

    WorkflowError
    ├── DefinitionError (TypeError)        a workflow definition is inconsistent
    ├── InvalidInput (ValueError)          malformed or wrongly typed argument
    │   ├── InvalidIdentifier              not an identifiant national
    │   └── WeakPin                        PIN refused by the PIN policy
    ├── NotEligible                        unknown, no contacts, ADELI (card route)
    ├── ActivationNotFound (LookupError)
    │   └── LoginNotFound
    ├── TransitionNotAllowed               the state does not allow the event
    │   ├── ActivationExpired
    │   ├── ActivationLocked
    │   └── AlreadyUsed                    a login's assertion was already given
    ├── VerificationFailed                 wrong token, code or PIN
    │   └── PinMismatch
    ├── TooManyRequests                    rate limit, resend limit or cooldown
    │   └── SlowDown                       a portal polls a login faster than allowed
    ├── ConcurrencyConflict                another call changed the activation first
    └── AdapterError                       the outside world failed
        ├── DeliveryFailed
        ├── DirectoryUnavailable
        └── StorageError

Messages are meant for people and logs: they never hold a secret, a full contact or a
full identifier.
"""

from __future__ import annotations

import re


class WorkflowError(Exception):
    """Root of every error raised by the engine."""


class DefinitionError(WorkflowError, TypeError):
    """A workflow definition is inconsistent; `offenders` names what is at fault."""

    def __init__(self, message: str, offenders: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.offenders = offenders


class InvalidInput(WorkflowError, ValueError):
    """An argument is malformed or of the wrong type; nothing changed."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class InvalidIdentifier(InvalidInput):
    """The text is not a well-formed identifiant national."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="national_id")


class WeakPin(InvalidInput):
    """The PIN is well-formed but refused by the PIN policy; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"PIN refused: {reason}", field="pin")
        self.reason = reason


class NotEligible(WorkflowError):
    """The professional cannot activate an e-CPS this way; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"not eligible: {reason}")
        self.reason = reason


ACTIVATION_ID = re.compile(r"[a-z2-7]{16}")  # the form `security.new_activation_id` gives
LOGIN_ID = re.compile(r"lg-[0-9a-f]{32}")  # the form `login.service.new_login_id` gives


def _named(what: str, given: str, form: re.Pattern[str]) -> str:
    """`given` quoted when it has the form of such an id; else not shown: a national
    identifier, a QR token or a bearer token pasted in its place must not be echoed."""
    if form.fullmatch(given):
        return f"no {what} {given!r}"
    article = "an" if what[:1] in "aeiou" else "a"
    return (f"no {what} with the id given (not shown: it does not have the form of {article} "
            f"{what} id)")


class ActivationNotFound(WorkflowError, LookupError):
    """No activation has this id."""

    def __init__(self, activation_id: str) -> None:
        super().__init__(_named("activation", activation_id, ACTIVATION_ID))
        self.activation_id = activation_id


class TransitionNotAllowed(WorkflowError):
    """The activation's state does not allow the event; nothing changed."""

    def __init__(self, state: str, event: str, message: str = "") -> None:
        super().__init__(message or f"{event!r} is not allowed in state {state!r}")
        self.state = state
        self.event = event


class ActivationExpired(TransitionNotAllowed):
    """The activation's deadline has passed (or a login's, `what="login"`)."""

    def __init__(self, state: str, event: str, what: str = "activation") -> None:
        super().__init__(state, event, f"the {what} has expired ({event!r} refused)")


class ActivationLocked(TransitionNotAllowed):
    """Too many wrong attempts locked the activation."""

    def __init__(self, state: str, event: str) -> None:
        super().__init__(state, event, f"the activation is locked ({event!r} refused)")


class AlreadyUsed(TransitionNotAllowed):
    """The login's assertion was already given (it is given exactly once)."""

    def __init__(self, state: str, event: str) -> None:
        super().__init__(state, event, "already used: this login's assertion was already given")


class LoginNotFound(ActivationNotFound):
    """No login has this id."""

    def __init__(self, login_id: str) -> None:
        WorkflowError.__init__(self, _named("login", login_id, LOGIN_ID))
        self.activation_id = login_id
        self.login_id = login_id


class VerificationFailed(WorkflowError):
    """A token, code or PIN was wrong; `attempts_left` is None when not counted."""

    def __init__(self, message: str, attempts_left: int | None = None) -> None:
        super().__init__(message)
        self.attempts_left = attempts_left


class PinMismatch(VerificationFailed):
    """The confirmation differs from the chosen PIN; the PIN must be chosen again."""


class TooManyRequests(WorkflowError):
    """A limit or cooldown refused the call; retry after `retry_after` whole seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(f"{message} (retry after {retry_after} s)")
        self.retry_after = retry_after


class SlowDown(TooManyRequests):
    """A login was polled faster than its poll interval allows."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("slow down: poll this login less often", retry_after)


class ConcurrencyConflict(WorkflowError):
    """Another call changed the activation first; reload and retry."""


class AdapterError(WorkflowError):
    """An adapter failed; `transient` says whether trying again may succeed."""

    def __init__(self, message: str, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


class DeliveryFailed(AdapterError):
    """A mailer or SMS gateway could not deliver a message; `retry_after` (s) if it said when."""

    def __init__(self, message: str, transient: bool = True, *, retry_after: int | None = None) -> None:
        super().__init__(message, transient)
        self.retry_after = retry_after


class DirectoryUnavailable(AdapterError):
    """The directory could not answer, or answered nonsense; requests fail closed."""


class StorageError(AdapterError):
    """The store failed or holds data it cannot read."""


class WrongServerKey(StorageError):
    """The database was sealed with another server key: its rows and trails do not match this one."""

    @classmethod
    def of(cls, what: str) -> WrongServerKey:
        """The error for `what` ("activation <id>", "login <id>"), whose row and trail both fail."""
        return cls(f"{what} and its audit trail were sealed with another server key: this "
                   "database was made with another key than the one configured (the server key "
                   "file, or ECPS_SECRET_KEY)")
