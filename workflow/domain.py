"""The records the engine keeps: activations, outbox messages, audit events (whose steps are the history).

Stores persist these values as they are; nothing here holds a secret in clear.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from workflow.definition import DEFINITION, State
from workflow.login.record import LoginWrite


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
    (`pin_candidate`, `pin_hash`) or ciphertext (`contacts`). The row is a snapshot: its steps
    are audit events (numbered 1 to `step_count`), appended and never rewritten.
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
    step_count: int = 0
    seal: str = ""  # keyed digest of every other field, set at each commit ("" before schema 3)

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
    PUSH = "push"


class MessageKind(StrEnum):
    """What an outbox message is for; each kind has its own rule for still fitting."""

    ACTIVATION_EMAIL = "activation_email"
    LOGIN_PUSH = "login_push"
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
    """One transition or refusal, chained to the previous event of its activation by `hash`.

    `step` numbers the transitions of an activation (1 is its creating `request`); a refusal
    has step 0. The hash does not cover it: it is the event's rank among its activation's
    transitions, so a verifier recomputes it.
    """

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
    step: int = 0

    def as_step(self) -> Step:
        """The history step this transition event records."""
        return Step(self.action, State(self.source) if self.source else None, State(self.dest), self.at)


@dataclass(frozen=True, slots=True)
class Write:
    """Save `activation`; `expected_version` None inserts, else compare-and-set."""

    activation: Activation
    expected_version: int | None


@dataclass(frozen=True, slots=True)
class Turn:
    """Take `subject`'s next turn: the change applies only if the subject's turn counter still
    equals `expected` (0 before its first turn), and advances it by one.

    Changes that must see every earlier one of a pseudonymised identifier (a new request, an
    activation that revokes an older credential) take a turn: they are serialised per subject.
    """

    subject: str
    expected: int


@dataclass(frozen=True, slots=True)
class Answer:
    """The answer to a request made with an idempotency key, kept in the same commit as the change
    it answers so that a retry replays it; `body` and `headers` (a JSON object) hold no secret."""

    key: str
    fingerprint: str
    status: int
    body: bytes
    headers: str
    created: float


@dataclass(frozen=True, slots=True)
class Change:
    """Everything one event changes, committed by a store at once or not at all.

    Each written activation's `version` is already the new one; outbox messages are
    upserted by id; audit events are appended (those with a `step` are its history); each
    turn is compared-and-set like a version; the `answer`, when set, is kept by its key
    (replacing a reservation of that key); each login write is compared-and-set like an
    activation's.
    """

    writes: tuple[Write, ...] = ()
    outbox: tuple[OutboxMessage, ...] = ()
    audit: tuple[AuditEvent, ...] = ()
    turns: tuple[Turn, ...] = ()
    answer: Answer | None = None
    logins: tuple[LoginWrite, ...] = ()
