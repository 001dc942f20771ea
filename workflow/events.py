"""Domain events: what a committed transition means to a host service, as frozen values.

Import the module, not the names: `from workflow import events` then `events.ActivationLocked`;
the errors of the same name (`workflow.errors.ActivationLocked`, `ActivationExpired`) are
exceptions raised to the caller, these are facts published after the commit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from workflow.definition import Event, Outcome, State
from workflow.domain import AuditEvent, Channel, MessageKind, OutboxMessage, Step
from workflow.login.definition import LoginEvent, LoginState

__all__ = [
    "EVENT_TYPES",
    "ActivationCancelled",
    "ActivationCompleted",
    "ActivationExpired",
    "ActivationFailed",
    "ActivationLocked",
    "ActivationRequested",
    "CredentialRevoked",
    "DomainEvent",
    "EmailResent",
    "EmailSent",
    "LoginApproved",
    "LoginCancelled",
    "LoginCompleted",
    "LoginDenied",
    "LoginExpired",
    "LoginFailed",
    "LoginNotified",
    "LoginPushFailed",
    "LoginRequested",
    "LoginSucceeded",
    "PinChosen",
    "PinMismatched",
    "QrScanned",
    "SmsCodeRejected",
    "SmsResent",
    "SmsVerified",
    "event_type",
    "feed_rows",
    "from_audit",
    "from_dict",
    "from_json",
    "from_step",
    "login_feed_rows",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainEvent:
    """One transition taken and committed; `key` is unique and stable (dedupe on it).

    Holds the pseudonymised identifier (`subject`), never a contact, identifier or secret.
    """

    kind: ClassVar[str] = "activation.event"

    activation_id: str  # the flow's id: an activation's, or a login's for `login.*` events
    subject: str
    seq: int
    action: str
    outcome: str
    source: State | LoginState | None
    dest: State | LoginState
    at: datetime
    actor: str = ""
    reason: str = ""

    @property
    def key(self) -> str:
        """The idempotency key: `"{activation_id}:{seq}"`, seq being the audit sequence number."""
        return f"{self.activation_id}:{self.seq}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the fields, plus `type` and `key`."""
        data = asdict(self)
        data["source"] = None if self.source is None else str(self.source)
        data["dest"] = str(self.dest)
        data["at"] = self.at.isoformat()
        return {"type": self.kind, "key": self.key, **data}

    def to_json(self) -> str:
        """The event as compact JSON with sorted keys (what the webhook signs and sends)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivationRequested(DomainEvent):
    """A professional asked for an activation; the QR e-mail is queued."""

    kind: ClassVar[str] = "activation.requested"


@dataclass(frozen=True, slots=True, kw_only=True)
class EmailSent(DomainEvent):
    """The mailer accepted the activation e-mail (or a valid scan proved it arrived)."""

    kind: ClassVar[str] = "activation.email_sent"


@dataclass(frozen=True, slots=True, kw_only=True)
class EmailResent(DomainEvent):
    """A new activation e-mail with a new QR code was queued; the old code died."""

    kind: ClassVar[str] = "activation.email_resent"


@dataclass(frozen=True, slots=True, kw_only=True)
class QrScanned(DomainEvent):
    """The app scanned a valid QR code; the SMS code is queued."""

    kind: ClassVar[str] = "activation.qr_scanned"


@dataclass(frozen=True, slots=True, kw_only=True)
class SmsResent(DomainEvent):
    """A new SMS code was queued; the old code died."""

    kind: ClassVar[str] = "activation.sms_resent"


@dataclass(frozen=True, slots=True, kw_only=True)
class SmsCodeRejected(DomainEvent):
    """A wrong SMS code was submitted and counted (not the last allowed one)."""

    kind: ClassVar[str] = "activation.sms_code_rejected"


@dataclass(frozen=True, slots=True, kw_only=True)
class SmsVerified(DomainEvent):
    """The SMS code was right; the professional chooses a PIN next."""

    kind: ClassVar[str] = "activation.sms_verified"


@dataclass(frozen=True, slots=True, kw_only=True)
class PinChosen(DomainEvent):
    """A PIN passed the policy; it waits for its confirmation."""

    kind: ClassVar[str] = "activation.pin_chosen"


@dataclass(frozen=True, slots=True, kw_only=True)
class PinMismatched(DomainEvent):
    """The confirmation differed from the chosen PIN; the PIN is chosen again."""

    kind: ClassVar[str] = "activation.pin_mismatched"


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivationCompleted(DomainEvent):
    """The PIN was confirmed: the e-CPS is active (provision the account now)."""

    kind: ClassVar[str] = "activation.completed"


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginSucceeded(DomainEvent):
    """An active e-CPS logged in with the right PIN."""

    kind: ClassVar[str] = "credential.login_succeeded"


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginFailed(DomainEvent):
    """A wrong PIN was counted on an active e-CPS (not the last allowed one)."""

    kind: ClassVar[str] = "credential.login_failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivationLocked(DomainEvent):
    """Too many wrong attempts locked the activation or credential (`action` says which)."""

    kind: ClassVar[str] = "activation.locked"


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivationExpired(DomainEvent):
    """A deadline passed; the flow is over."""

    kind: ClassVar[str] = "activation.expired"


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivationCancelled(DomainEvent):
    """The flow was abandoned by its user or superseded by a newer request (`reason`)."""

    kind: ClassVar[str] = "activation.cancelled"


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivationFailed(DomainEvent):
    """The outbox gave up on the activation e-mail or SMS."""

    kind: ClassVar[str] = "activation.failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class CredentialRevoked(DomainEvent):
    """An active e-CPS was revoked: deleted, by an admin, or replaced (`reason`)."""

    kind: ClassVar[str] = "credential.revoked"


_BY_EDGE: dict[tuple[Event, Outcome], type[DomainEvent]] = {
    (Event.REQUEST, Outcome.OK): ActivationRequested,
    (Event.EMAIL_SENT, Outcome.OK): EmailSent,
    (Event.RESEND_EMAIL, Outcome.OK): EmailResent,
    (Event.SCAN, Outcome.OK): QrScanned,
    (Event.RESEND_SMS, Outcome.OK): SmsResent,
    (Event.VERIFY_SMS, Outcome.OK): SmsVerified,
    (Event.VERIFY_SMS, Outcome.WRONG): SmsCodeRejected,
    (Event.SET_PIN, Outcome.OK): PinChosen,
    (Event.CONFIRM_PIN, Outcome.OK): ActivationCompleted,
    (Event.CONFIRM_PIN, Outcome.WRONG): PinMismatched,
    (Event.AUTHENTICATE, Outcome.OK): LoginSucceeded,
    (Event.AUTHENTICATE, Outcome.WRONG): LoginFailed,
    (Event.CANCEL, Outcome.OK): ActivationCancelled,
    (Event.EXPIRE, Outcome.OK): ActivationExpired,
    (Event.DELIVERY_FAILED, Outcome.OK): ActivationFailed,
    (Event.REVOKE, Outcome.OK): CredentialRevoked,
}

_CLASSES: tuple[type[DomainEvent], ...] = (*_BY_EDGE.values(), ActivationLocked)
EVENT_TYPES: Mapping[str, type[DomainEvent]] = {cls.kind: cls for cls in _CLASSES}
"""Every event class of the activation by its `kind` (the `type` of its JSON form)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginRequested(DomainEvent):
    """A portal asked to log the professional in; the push is queued."""

    kind: ClassVar[str] = "login.requested"


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginNotified(DomainEvent):
    """The push gateway accepted the login's notification."""

    kind: ClassVar[str] = "login.notified"


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginApproved(DomainEvent):
    """The professional approved the login with the right PIN."""

    kind: ClassVar[str] = "login.approved"


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginCompleted(DomainEvent):
    """The portal collected the login's signed assertion."""

    kind: ClassVar[str] = "login.completed"


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginDenied(DomainEvent):
    """The professional refused the login, a wrong PIN locked the credential, or the credential
    was no longer active (`withdraw`)."""

    kind: ClassVar[str] = "login.denied"


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginExpired(DomainEvent):
    """The login's validity passed before it completed."""

    kind: ClassVar[str] = "login.expired"


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginPushFailed(DomainEvent):
    """The outbox gave up on the login's push."""

    kind: ClassVar[str] = "login.failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginCancelled(DomainEvent):
    """The portal gave the login up."""

    kind: ClassVar[str] = "login.cancelled"


_LOGIN_CLASSES: tuple[type[DomainEvent], ...] = (
    LoginRequested, LoginNotified, LoginApproved, LoginCompleted, LoginDenied, LoginExpired,
    LoginPushFailed, LoginCancelled)
LOGIN_EVENT_TYPES: Mapping[str, type[DomainEvent]] = {cls.kind: cls for cls in _LOGIN_CLASSES}
"""Every event class of the login by its `kind` (`login.<state it reached>`; `activation_id`
holds the login's id)."""


def event_type(action: Event | str, outcome: Outcome | str, dest: State | str) -> type[DomainEvent]:
    """The event class of the edge (action, outcome) that ended in `dest`.

    Any edge into `locked` is `ActivationLocked`; an unknown edge raises `ValueError`.
    """
    if dest == State.LOCKED:
        return ActivationLocked
    try:
        return _BY_EDGE[(Event(action), Outcome(outcome))]
    except (KeyError, ValueError):
        raise ValueError(f"no domain event for {action!r} with outcome {outcome!r}") from None


def from_step(step: Step, *, activation_id: str, subject: str, seq: int,
              outcome: Outcome = Outcome.OK, actor: str = "", reason: str = "") -> DomainEvent:
    """The event of one history step of an activation (`seq`: its audit sequence number)."""
    cls = event_type(step.event, outcome, step.dest)
    return cls(activation_id=activation_id, subject=subject, seq=seq, action=str(step.event),
               outcome=str(outcome), source=step.source, dest=step.dest, at=step.at,
               actor=actor, reason=reason)


def from_audit(record: AuditEvent) -> DomainEvent | None:
    """The event an audit record stands for; None for a refusal (refusals are audit-only)."""
    if record.outcome not in set(Outcome) or not record.activation_id:
        return None
    step = Step(record.action, State(record.source) if record.source else None,
                State(record.dest), record.at)
    return from_step(step, activation_id=record.activation_id, subject=record.subject,
                     seq=record.seq, outcome=Outcome(record.outcome), actor=record.actor,
                     reason=record.reason)


def from_dict(data: Mapping[str, Any]) -> DomainEvent:
    """Rebuild an event from `to_dict()`'s form; `ValueError` if it is not one."""
    try:
        login = data["type"] in LOGIN_EVENT_TYPES
        cls = LOGIN_EVENT_TYPES[data["type"]] if login else EVENT_TYPES[data["type"]]
        states: type[State] | type[LoginState] = LoginState if login else State
        at = datetime.fromisoformat(data["at"])
        source = None if data["source"] is None else states(data["source"])
        event = cls(activation_id=str(data["activation_id"]), subject=str(data["subject"]),
                    seq=int(data["seq"]), action=str(data["action"]),
                    outcome=str(data["outcome"]), source=source, dest=states(data["dest"]),
                    at=at, actor=str(data.get("actor", "")), reason=str(data.get("reason", "")))
        if login and cls.kind != f"login.{event.dest}":
            raise ValueError("type and dest disagree")
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a domain event: {type(exc).__name__} {exc}") from None
    if at.utcoffset() != timedelta(0) or data.get("key", event.key) != event.key:
        raise ValueError("not a domain event: time not UTC or key inconsistent")
    return event


def from_json(text: str | bytes) -> DomainEvent:
    """Rebuild an event from `to_json()`'s text."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not a domain event: invalid JSON ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise ValueError("not a domain event: JSON is not an object")
    return from_dict(data)


def feed_rows(audit: Iterable[AuditEvent], now: datetime,
              event_of: Callable[[AuditEvent], DomainEvent | None] | None = None,
              ) -> tuple[OutboxMessage, ...]:
    """The outbox rows of the durable event feed for the transitions among `audit`, each the
    event `event_of` (default: the activation's `from_audit`) makes of its record.

    One row per event; its id derives from the event's key (idempotent) and its
    `generation` is the audit sequence number, which orders the events of one activation.
    """
    events = (event for event in map(event_of or from_audit, audit) if event is not None)
    return tuple(OutboxMessage(
        id=hashlib.sha256(f"event\x1f{event.key}".encode()).hexdigest()[:32],
        activation_id=event.activation_id, kind=MessageKind.DOMAIN_EVENT,
        channel=Channel.EVENTS, generation=event.seq, payload=event.to_json().encode(),
        created_at=now, due_at=now) for event in events)


def login_from_audit(record: AuditEvent) -> DomainEvent | None:
    """The `login.<state>` event a login's audit record stands for; None for a refusal."""
    if record.outcome != Outcome.OK or record.action not in set(LoginEvent):
        return None
    dest = LoginState(record.dest)
    return LOGIN_EVENT_TYPES[f"login.{dest}"](
        activation_id=record.activation_id, subject=record.subject, seq=record.seq,
        action=record.action, outcome=record.outcome,
        source=LoginState(record.source) if record.source else None,
        dest=dest, at=record.at, actor=record.actor, reason=record.reason)


def login_feed_rows(audit: Iterable[AuditEvent], now: datetime) -> tuple[OutboxMessage, ...]:
    """The feed's rows for the transitions of a login among `audit` (refusals are audit-only)."""
    return feed_rows(audit, now, login_from_audit)
