"""A plain reference model of one activation, written from docs/specification.md §3, not `definition.py`.

The stateful test compares the service with it after every step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from workflow.settings import Settings

IN_FLIGHT = ("requested", "emailed", "scanned", "sms_verified", "pin_set")
ALLOWED = {
    "requested": {"resend_email", "scan", "cancel"},
    "emailed": {"resend_email", "scan", "cancel"},
    "scanned": {"resend_sms", "verify_sms", "cancel"},
    "sms_verified": {"set_pin", "cancel"},
    "pin_set": {"confirm_pin", "cancel"},
    "active": {"authenticate", "revoke"},
}


@dataclass
class Pending:
    """An outbox message the model expects the dispatcher to handle."""

    aid: str
    kind: str  # "email", "sms" or "notice"
    generation: int
    due: datetime
    seq: int
    attempts: int = 0


@dataclass
class RefActivation:
    """What the model knows of one activation."""

    aid: str
    person: str
    created: datetime
    flow_deadline: datetime
    token_deadline: datetime | None
    state: str = "requested"
    pin_deadline: datetime | None = None
    code_issued: datetime | None = None
    last_email: datetime | None = None
    last_sms: datetime | None = None
    email_gen: int = 1
    sms_gen: int = 0
    email_resends: int = 0
    sms_resends: int = 0
    sms_attempts: int = 0
    pin_mismatches: int = 0
    login_failures: int = 0
    candidate: str | None = None
    pin: str | None = None
    delivered_emails: list[int] = field(default_factory=list)
    delivered_sms: list[int] = field(default_factory=list)
    history: list[tuple[str, str | None, str]] = field(default_factory=list)
    audit: list[tuple[str, str, str, str]] = field(default_factory=list)
    edges: list[tuple[str, str, str]] = field(default_factory=list)

    def deadline(self) -> datetime | None:
        """When the flow ends if nothing happens."""
        if self.state not in IN_FLIGHT:
            return None
        step = self.token_deadline if self.state in ("requested", "emailed") else (
            self.pin_deadline if self.state in ("sms_verified", "pin_set") else None)
        return self.flow_deadline if step is None else min(step, self.flow_deadline)

    def refuse(self, event: str) -> None:
        """Record a refusal: an audit event that changes nothing."""
        self.audit.append((event, "refused", self.state, self.state))

    def due(self, now: datetime) -> bool:
        """Deadlines are exclusive: at the deadline it is over."""
        deadline = self.deadline()
        return deadline is not None and now >= deadline

    def take(self, event: str, dest: str, outcome: str = "ok") -> None:
        """Record a transition."""
        self.edges.append((self.state, event, outcome))
        self.audit.append((event, "step", self.state, dest))
        self.history.append((event, self.state, dest))
        self.state = dest


class Model:
    """Every activation, the outbox, and the rules of docs/specification.md §3 written out plainly."""

    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.activations: dict[str, RefActivation] = {}
        self.pending: list[Pending] = []
        self.requests: dict[str, list[datetime]] = {}
        self._seq = 0
        self.request_refusals = 0

    def queue(self, aid: str, kind: str, generation: int, now: datetime) -> None:
        """Expect one more outbox message."""
        self._seq += 1
        self.pending.append(Pending(aid, kind, generation, now, self._seq))

    def request(self, aid: str, person: str, now: datetime) -> list[str]:
        """A request accepted: supersede the person's flows in flight; returns their ids."""
        older = [a for a in self.activations.values() if a.person == person and a.state in IN_FLIGHT]
        for a in older:
            if a.due(now):
                a.take("expire", "expired")
            else:
                a.take("cancel", "cancelled")
        s = self.s
        a = RefActivation(aid, person, now, now + s.flow_validity, now + s.qr_token_validity,
                          last_email=now)
        a.history.append(("request", None, "requested"))
        a.audit.append(("request", "step", "", "requested"))
        self.activations[aid] = a
        self.requests.setdefault(person, []).append(now)
        self.queue(aid, "email", 1, now)
        return [o.aid for o in older]

    def refused_request(self) -> None:
        """Record a refused request: an audit event of no activation."""
        self.request_refusals += 1

    def due_ids(self, now: datetime) -> list[str]:
        """The flows in flight whose deadline is at or before `now`, earliest deadline first."""
        due = sorted((d, a.aid) for a in self.activations.values() if a.state in IN_FLIGHT
                     and (d := a.deadline()) is not None and d <= now)
        return [aid for _, aid in due]

    def rate_limited(self, person: str, now: datetime) -> bool:
        """Whether the person already has the maximum of requests in the window."""
        since = now - self.s.request_window
        return sum(t >= since for t in self.requests.get(person, [])) >= self.s.max_requests

    def precheck(self, a: RefActivation, event: str, now: datetime) -> str | None:
        """The refusal the generic checks give (lazy expiry, state), or None."""
        if a.due(now):
            a.take("expire", "expired")
            return "ActivationExpired"
        if a.state == "expired":
            return "ActivationExpired"
        if a.state == "locked":
            return "ActivationLocked"
        if event not in ALLOWED.get(a.state, set()):
            return "TransitionNotAllowed"
        return None

    def resend(self, a: RefActivation, channel: str, now: datetime) -> str | None:
        """A resend of the e-mail or the SMS; returns the refusal or None."""
        used = a.email_resends if channel == "email" else a.sms_resends
        last = a.last_email if channel == "email" else a.last_sms
        if used >= self.s.max_resends or (last is not None and now < last + self.s.resend_cooldown):
            return "TooManyRequests"
        if channel == "email":
            a.email_resends += 1
            a.take("resend_email", a.state)
            a.email_gen += 1
            a.last_email, a.token_deadline = now, now + self.s.qr_token_validity
            self.queue(a.aid, "email", a.email_gen, now)
        else:
            a.sms_resends += 1
            a.take("resend_sms", a.state)
            self.issue_code(a, now)
        return None

    def issue_code(self, a: RefActivation, now: datetime) -> None:
        """A new SMS code in the outbox."""
        a.sms_gen += 1
        a.code_issued = a.last_sms = now
        self.queue(a.aid, "sms", a.sms_gen, now)

    def wrong(self, a: RefActivation, event: str, counter: str, bound: int, back_to: str,
              error: str) -> str:
        """A counted wrong answer: self-loop (or back) below the bound, locked at it."""
        value = getattr(a, counter) + 1
        setattr(a, counter, value)
        if value >= bound:
            a.take(event, "locked", "exhausted")
            return "ActivationLocked"
        a.take(event, back_to, "wrong")
        return error

    def replace_older(self, a: RefActivation, now: datetime) -> None:
        """The newly active credential revokes the person's older active one, with a notice."""
        for other in self.activations.values():
            if other is not a and other.person == a.person and other.state == "active":
                other.take("revoke", "revoked")
                self.queue(other.aid, "notice", 0, now)

    # -- what each user action should do: the machine asks, then compares with the service --------

    def request_refusal(self, person: str, now: datetime, eligible: bool) -> str | None:
        """The refusal of a request (rate limit first, then eligibility), or None when it is accepted."""
        if self.rate_limited(person, now):
            return "TooManyRequests"
        return None if eligible else "NotEligible"

    def scan(self, a: RefActivation, now: datetime, readable: bool, generation: int | None) -> str | None:
        """A scan of a QR of e-mail `generation` (None: another activation's, or unreadable)."""
        refused = self.precheck(a, "scan", now)
        if refused is not None:
            return refused
        if not readable:
            return "InvalidInput"
        if generation != a.email_gen:
            return "VerificationFailed"
        if a.state == "requested":
            a.take("email_sent", "emailed")
        a.take("scan", "scanned")
        a.token_deadline = None
        self.issue_code(a, now)
        return None

    def verify_sms(self, a: RefActivation, now: datetime, well_formed: bool,
                   generation: int | None) -> str | None:
        """A code of SMS `generation` (None: a code never sent) submitted."""
        refused = self.precheck(a, "verify_sms", now)
        if refused is not None:
            return refused
        if not well_formed:
            return "InvalidInput"
        if a.code_issued is None or now >= a.code_issued + self.s.sms_code_validity:
            return "VerificationFailed"
        if generation == a.sms_gen:
            a.take("verify_sms", "sms_verified")
            a.pin_deadline = now + self.s.pin_step_validity
            return None
        return self.wrong(a, "verify_sms", "sms_attempts", self.s.max_sms_attempts, "scanned",
                          "VerificationFailed")

    def set_pin(self, a: RefActivation, now: datetime, pin: str, weak: bool) -> str | None:
        """A PIN chosen (`weak`: one the service must refuse as too easy)."""
        refused = self.precheck(a, "set_pin", now)
        if refused is not None:
            return refused
        if not (pin.isdigit() and len(pin) == self.s.pin_length):
            return "InvalidInput"
        if weak:
            return "WeakPin"
        a.candidate = pin
        a.take("set_pin", "pin_set")
        return None

    def confirm_pin(self, a: RefActivation, now: datetime, pin: str) -> str | None:
        """The PIN typed again: the same activates (replacing an older credential), another goes back."""
        refused = self.precheck(a, "confirm_pin", now)
        if refused is not None:
            return refused
        if pin == a.candidate:
            a.pin, a.candidate = pin, None
            a.take("confirm_pin", "active")
            self.replace_older(a, now)
            return None
        a.candidate = None
        return self.wrong(a, "confirm_pin", "pin_mismatches", self.s.max_pin_mismatches, "sms_verified",
                          "PinMismatch")

    def authenticate(self, a: RefActivation, now: datetime, pin: str) -> str | None:
        """A login with `pin`."""
        refused = self.precheck(a, "authenticate", now)
        if refused is not None:
            return refused
        if pin == a.pin:
            a.login_failures = 0
            a.take("authenticate", "active")
            return None
        return self.wrong(a, "authenticate", "login_failures", self.s.max_login_failures, "active",
                          "VerificationFailed")

    def close(self, a: RefActivation, now: datetime, event: str, dest: str) -> str | None:
        """A cancel or a revoke: allowed where the table allows it."""
        refused = self.precheck(a, event, now)
        if refused is None:
            a.take(event, dest)
        return refused

    def fits(self, m: Pending, now: datetime) -> bool:
        """Whether a message still belongs to where its activation stands."""
        if m.kind == "notice":
            return True
        a = self.activations[m.aid]
        if a.due(now):
            return False
        if m.kind == "email":
            return a.state in ("requested", "emailed") and m.generation == a.email_gen
        return a.state == "scanned" and m.generation == a.sms_gen

    def dispatch(self, now: datetime, mail_down: bool, sms_down: bool) -> int:
        """What the dispatcher does at `now`; returns how many messages are sent."""
        sent = 0
        for m in sorted((m for m in self.pending if m.due <= now), key=lambda m: (m.due, m.seq)):
            self.pending.remove(m)
            if not self.fits(m, now):
                continue
            if (sms_down if m.kind == "sms" else mail_down):
                m.attempts += 1
                if m.attempts < self.s.delivery_attempts:
                    m.due = now + self.s.delivery_backoff * 2 ** (m.attempts - 1)
                    self.pending.append(m)
                elif m.kind != "notice":
                    self.activations[m.aid].take("delivery_failed", "failed")
                continue
            sent += 1
            a = self.activations[m.aid]
            if m.kind == "email":
                a.delivered_emails.append(m.generation)
                if a.state == "requested":
                    a.take("email_sent", "emailed")
            elif m.kind == "sms":
                a.delivered_sms.append(m.generation)
        return sent

    def expire_due(self, now: datetime) -> int:
        """What `expire_due` records."""
        due = [a for a in self.activations.values() if a.state in IN_FLIGHT and a.due(now)]
        for a in due:
            a.take("expire", "expired")
        return len(due)


def offset(deadline: datetime, delta: int) -> datetime:
    """`deadline` moved by `delta` seconds."""
    return deadline + timedelta(seconds=delta)
