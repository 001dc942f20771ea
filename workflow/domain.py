"""The records the engine keeps: activations, their history, outbox messages, audit events.

Stores persist these values as they are; nothing here holds a secret in clear.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from workflow.definition import DEFINITION, State


@dataclass(frozen=True, slots=True)
class Step:
    """One transition taken; `source` is None for the creating `request`."""

    event: str
    source: State | None
    dest: State
    at: datetime


@dataclass(slots=True)
class Activation:
    """One activation flow, as stored; the service changes it and the store saves it.

    Secrets appear only as keyed digests (`token_digest`, `code_digest`), salted hashes
    (`pin_candidate`, `pin_hash`) or ciphertext (`contacts`).
    """

    id: str
    subject: str
    state: State
    created_at: datetime
    flow_deadline: datetime | None
    contacts: bytes
    masked_email: str
    masked_phone: str
    device_id: str = ""
    version: int = 0
    step_deadline: datetime | None = None
    token_digest: str = ""
    email_generation: int = 0
    last_email_at: datetime | None = None
    code_digest: str = ""
    code_issued_at: datetime | None = None
    sms_generation: int = 0
    last_sms_at: datetime | None = None
    pin_candidate: str = ""
    pin_hash: str = ""
    email_resends: int = 0
    sms_resends: int = 0
    sms_attempts: int = 0
    pin_mismatches: int = 0
    login_failures: int = 0
    audit_seq: int = 0
    audit_head: str = ""
    closed_reason: str = ""
    device_thumbprint: str = ""  # RFC 7638 thumbprint of the app's key ("" when not bound)
    history: list[Step] = field(default_factory=list)

    def due_at(self) -> datetime | None:
        """When the activation expires if nothing happens (None once it left the flow)."""
        return DEFINITION.due_at(self)

    def is_due(self, now: datetime) -> bool:
        """Whether a deadline has passed (deadlines are exclusive: `now >= deadline`)."""
        due = self.due_at()
        return due is not None and now >= due

    def counter(self, name: str) -> int:
        """The value of the counter called `name`."""
        value: int = getattr(self, name)
        return value


class Channel(StrEnum):
    """How an outbox message leaves."""

    EMAIL = "email"
    SMS = "sms"
    EVENTS = "events"


class MessageKind(StrEnum):
    """What an outbox message is for; each kind has its own rule for still fitting."""

    ACTIVATION_EMAIL = "activation_email"
    SMS_CODE = "sms_code"
    REPLACEMENT_NOTICE = "replacement_notice"
    DOMAIN_EVENT = "domain_event"


class Delivery(StrEnum):
    """Where an outbox message stands."""

    PENDING = "pending"
    SENT = "sent"
    DROPPED = "dropped"
    ABANDONED = "abandoned"


@dataclass(slots=True)
class OutboxMessage:
    """A message to deliver; `payload` is ciphertext, erased once the message is done."""

    id: str
    activation_id: str
    kind: MessageKind
    channel: Channel
    generation: int
    payload: bytes
    created_at: datetime
    due_at: datetime
    attempts: int = 0
    status: Delivery = Delivery.PENDING
    claimed_until: datetime | None = None
    last_error: str = ""


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One transition or refusal, chained to the previous event of its activation by `hash`."""

    activation_id: str
    subject: str
    seq: int
    at: datetime
    actor: str
    action: str
    outcome: str
    reason: str
    source: str
    dest: str
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class Write:
    """Save `activation`; `expected_version` None inserts, else compare-and-set."""

    activation: Activation
    expected_version: int | None


@dataclass(frozen=True, slots=True)
class Change:
    """Everything one event changes, committed by a store at once or not at all.

    Each written activation's `version` is already the new one; outbox messages are
    upserted by id; audit events are appended.
    """

    writes: tuple[Write, ...] = ()
    outbox: tuple[OutboxMessage, ...] = ()
    audit: tuple[AuditEvent, ...] = ()
