"""`ActivationService`: every event of the workflow, each one load → check → fire → commit.

Checks run in the order of DESIGN.md §3: the activation exists, lazy expiry, the state
allows the event, the input is well-formed, the guard.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import TypeVar

from workflow import audit, security
from workflow.clock import SystemClock, checked_now
from workflow.definition import WORKFLOW, Event, Outcome, State, Workflow
from workflow.domain import Activation, Change, MessageKind, Step, Write
from workflow.errors import (
    ActivationExpired,
    ActivationLocked,
    ActivationNotFound,
    ConcurrencyConflict,
    DirectoryUnavailable,
    InvalidInput,
    NotEligible,
    PinMismatch,
    TooManyRequests,
    TransitionNotAllowed,
    VerificationFailed,
    WorkflowError,
)
from workflow.events import feed_rows, from_audit
from workflow.listeners import Listener, Listeners
from workflow.messages import DirectoryEntry
from workflow.outbox import Dispatcher
from workflow.ports import Clock, Directory, EventSink, Mailer, SmsGateway, Store
from workflow.results import ActivationStatus, Started, StepResult
from workflow.security import Keyring
from workflow.settings import Settings
from workflow.templates import FRENCH, Templates
from workflow.work import Work, copy_activation, describe, record

log = logging.getLogger("ecps.service")
R = TypeVar("R")
RETRIES = 64
ATTEMPT_COUNTERS = {
    State.SCANNED: ("sms_attempts", "max_sms_attempts"),
    State.SMS_VERIFIED: ("pin_mismatches", "max_pin_mismatches"),
    State.PIN_SET: ("pin_mismatches", "max_pin_mismatches"),
    State.ACTIVE: ("login_failures", "max_login_failures"),
}
REVOKE_REASONS = frozenset({"deleted", "admin", "replaced", "lost", "compromised"})


class ActivationService:
    """The e-CPS activation workflow over injected ports (store, mailer, SMS, directory, clock)."""

    def __init__(
        self,
        *,
        store: Store,
        mailer: Mailer,
        sms: SmsGateway,
        directory: Directory,
        settings: Settings | None = None,
        clock: Clock | None = None,
        workflow: Workflow = WORKFLOW,
        listeners: Iterable[Listener] = (),
        sink: EventSink | None = None,
        templates: Templates | None = None,
    ) -> None:
        settings = Settings() if settings is None else settings
        ports = {"store": (store, Store), "mailer": (mailer, Mailer), "sms": (sms, SmsGateway),
                 "directory": (directory, Directory), "settings": (settings, Settings)}
        for name, (value, kind) in ports.items():
            if not isinstance(value, kind):
                raise TypeError(f"{name} must implement {kind.__name__}, got {type(value).__name__}")
        self.settings = settings
        self.workflow = workflow
        self.store = store
        self.directory = directory
        self.clock: Clock = clock or SystemClock()
        self.keys = Keyring(settings)
        if sink is not None and not isinstance(sink, EventSink):
            raise TypeError(f"sink must implement EventSink, got {type(sink).__name__}")
        if not isinstance(templates or FRENCH, Templates):
            raise TypeError(f"templates must be Templates, got {type(templates).__name__}")
        self.templates: Templates = templates or FRENCH
        self.templates.check(settings)
        self.deep_link_base = self.templates.deep_link_base or settings.deep_link_base
        self.sink = sink
        self.listeners = Listeners(listeners)
        self.dispatcher = Dispatcher(self, mailer, sms)

    # -- commands -------------------------------------------------------------------------

    def request(self, national_id: object, device_id: object = "") -> Started:
        """Start an activation: check the identifier, the rate limit and the directory."""
        subject = ""
        try:
            nid = security.validate_identifier(national_id, check_luhn=self.settings.check_rpps_luhn)
            subject = self.keys.pseudonym(nid)
            device = security.text_arg(device_id, "device_id", max_len=128)
            self._check_request_rate(subject, self.now())
            entry = self._lookup(nid)
            contacts = {"email": security.clean_email(entry.email),
                        "phone": security.clean_phone(entry.phone), "name": security.clean_name(entry.name)}
        except WorkflowError as refused:
            self._audit_refused_request(subject, refused)
            raise
        return self._start(subject, device, contacts)

    def _audit_refused_request(self, subject: str, refused: WorkflowError) -> None:
        """Append a refused request to the audit trail (no activation exists: stream "")."""
        event = audit.chain(self.keys, "", activation_id="", subject=subject, seq=0, at=self.now(),
                            actor="app", action="request", outcome="refused", reason=describe(refused))
        log.info("request refused for subject %s (%s)", subject[:12] or "-", type(refused).__name__)
        try:
            self.store.commit(Change(audit=(event,)))
        except WorkflowError:
            log.warning("could not audit a refused request", exc_info=True)

    def _start(self, subject: str, device: str, contacts: dict[str, str]) -> Started:
        s = self.settings
        email, phone, name = contacts["email"], contacts["phone"], contacts["name"]
        sealed = json.dumps(contacts).encode()
        for attempt in range(RETRIES):
            now = self.now()
            if attempt:  # another request of this identifier may have committed meanwhile
                self._check_request_rate(subject, now)
            a = Activation(
                id=security.new_activation_id(), subject=subject, state=State.REQUESTED,
                created_at=now, flow_deadline=now + s.flow_validity,
                contacts=self.keys.seal(sealed), masked_email=security.mask_email(email),
                masked_phone=security.mask_phone(phone), device_id=device,
            )
            w = Work(a, None, now, Event.REQUEST)
            a.history.append(step := Step(str(Event.REQUEST), None, State.REQUESTED, now))
            w.steps.append(step)
            record(self.keys, a, now, "app", "request", "ok", "", "", str(a.state),
                   into=w.audit_events)
            self._issue_token(w, email, name)
            superseded = self._supersede(w)
            try:
                self._commit(w)
            except ConcurrencyConflict:
                continue
            log.info("activation %s requested by subject %s", a.id, subject[:12])
            return Started(a.id, a.state, a.masked_email, a.masked_phone, a.flow_deadline,
                           superseded)
        raise ConcurrencyConflict("the identifier's activations kept changing; try again")

    def scan(self, activation_id: object, qr_payload: object) -> StepResult:
        """The app scanned the QR code (or opened the deep link): check the token, send a code."""
        return self._run(activation_id, Event.SCAN, lambda w: self._scan(w, qr_payload))

    def resend_email(self, activation_id: object) -> StepResult:
        """Send the activation e-mail again with a new QR token (the old one dies)."""
        return self._run(activation_id, Event.RESEND_EMAIL, self._resend_email)

    def resend_sms(self, activation_id: object) -> StepResult:
        """Send a new SMS code (the old one dies)."""
        return self._run(activation_id, Event.RESEND_SMS, self._resend_sms)

    def verify_sms(self, activation_id: object, code: object) -> StepResult:
        """Check the SMS code; a wrong one counts, the last allowed wrong one locks."""
        return self._run(activation_id, Event.VERIFY_SMS, lambda w: self._verify_sms(w, code))

    def set_pin(self, activation_id: object, pin: object) -> StepResult:
        """Choose the PIN (format and strength are checked)."""
        return self._run(activation_id, Event.SET_PIN, lambda w: self._set_pin(w, pin))

    def confirm_pin(self, activation_id: object, pin: object) -> StepResult:
        """Confirm the PIN: equal activates the e-CPS, different goes back to choosing."""
        return self._run(activation_id, Event.CONFIRM_PIN, lambda w: self._confirm_pin(w, pin))

    def authenticate(self, activation_id: object, pin: object) -> bool:
        """Log in with the PIN of an active e-CPS: True, or `VerificationFailed` / locked."""
        self._run(activation_id, Event.AUTHENTICATE, lambda w: self._authenticate(w, pin))
        return True

    def cancel(self, activation_id: object) -> StepResult:
        """Abandon an activation in flight."""
        return self._run(activation_id, Event.CANCEL, self._cancel)

    def revoke(self, activation_id: object, reason: object = "deleted") -> StepResult:
        """Revoke an active e-CPS (deleted by its user, by an admin, or replaced)."""
        return self._run(activation_id, Event.REVOKE, lambda w: self._revoke(w, reason))

    def dispatch(self, limit: int = 100) -> int:
        """Deliver due outbox messages; returns how many were sent."""
        return self.dispatcher.dispatch(limit)

    def expire_due(self, batch: int = 500) -> int:
        """Record `expire` on every activation whose deadline has passed; returns how many."""
        expired, seen = 0, set()
        while True:
            ids = [i for i in self.store.due_for_expiry(self.now(), batch) if i not in seen]
            for aid in ids:
                seen.add(aid)
                expired += self._expire_one(aid)
            if len(ids) < batch:
                return expired

    def status(self, activation_id: object) -> ActivationStatus:
        """The activation as it stands; a passed deadline shows as `expired` at once."""
        a = self._load(self._id_arg(activation_id))
        state = State.EXPIRED if a.is_due(self.now()) else a.state
        counters = {c.name: a.counter(c.name) for c in self.workflow.definition.counters}
        left = None
        if state in ATTEMPT_COUNTERS:
            counter, bound = ATTEMPT_COUNTERS[state]
            left = getattr(self.settings, bound) - a.counter(counter)
        return ActivationStatus(
            a.id, state, tuple(a.history), a.due_at() if state == a.state else None, left,
            a.masked_email, a.masked_phone, a.created_at, counters, a.closed_reason,
        )

    def now(self) -> datetime:
        """The injected clock's time, checked to be aware UTC."""
        return checked_now(self.clock)

    # -- the engine of every event ----------------------------------------------------------

    def _run(self, activation_id: object, event: Event, body: Callable[[Work], object],
             actor: str = "app") -> StepResult:
        aid = self._id_arg(activation_id)
        for _ in range(RETRIES):
            loaded = self._load(aid)
            snapshot = copy_activation(loaded)
            w = Work(loaded, loaded.version, self.now(), event, actor)
            try:
                self._precheck(w)
                body(w)
            except _Done:
                pass
            except WorkflowError as refused:
                w = Work(snapshot, snapshot.version, w.now, event, actor)
                w.refuse(self.keys, refused)
            try:
                self._commit(w)
            except ConcurrencyConflict:
                continue
            self._log(w)
            if w.error is not None:
                raise w.error
            return StepResult(aid, w.activation.state, tuple(w.steps))
        raise ConcurrencyConflict(f"activation {aid} kept changing; try again")

    def _precheck(self, w: Work) -> None:
        a = w.activation
        if a.is_due(w.now):
            w.take(self.workflow, self.keys, Event.EXPIRE, reason=f"deadline passed ({w.event})")
            a.closed_reason = "deadline passed"
            a.step_deadline = None
            w.error = ActivationExpired(str(State.EXPIRED), str(w.event))
            raise _Done
        if a.state == State.EXPIRED:
            raise ActivationExpired(str(a.state), str(w.event))
        if a.state == State.LOCKED:
            raise ActivationLocked(str(a.state), str(w.event))
        if not self.workflow.definition.allows(a.state, w.event):
            raise TransitionNotAllowed(str(a.state), str(w.event))

    def _commit(self, w: Work) -> None:
        """Commit `w` (with its event feed rows when a sink is set), then tell the listeners."""
        self.store.commit(self._fed(w.change(), w.now))
        self._published(w)

    def _fed(self, change: Change, now: datetime) -> Change:
        """`change` plus the durable feed's rows for its transitions, when a sink is set."""
        if self.sink is None:
            return change
        return Change(change.writes, change.outbox + feed_rows(change.audit, now), change.audit)

    def _published(self, w: Work) -> None:
        """Give the transitions `w` committed to the listeners, in order (after the commit)."""
        if len(self.listeners):
            self.listeners.notify([e for e in map(from_audit, w.audit_events) if e is not None])

    def _log(self, w: Work) -> None:
        a = w.activation
        for step in w.steps:
            log.info("activation %s: %s %s -> %s", a.id, step.event, step.source, step.dest)
        if w.error is not None:
            log.info("activation %s: %s refused (%s)", a.id, w.event, describe(w.error))

    # -- event bodies ------------------------------------------------------------------------

    def _scan(self, w: Work, qr_payload: object) -> None:
        a = w.activation
        payload_id, token = security.parse_payload(qr_payload, self.deep_link_base)
        if payload_id != a.id or not self.keys.matches(a.token_digest, "token", a.id, token):
            raise VerificationFailed("this QR code does not belong to this activation or is no longer valid")
        if a.state == State.REQUESTED:
            w.take(self.workflow, self.keys, Event.EMAIL_SENT, reason="proven by a valid scan")
        w.take(self.workflow, self.keys, Event.SCAN)
        a.token_digest = ""
        a.step_deadline = None
        self._issue_code(w)

    def _resend_email(self, w: Work) -> None:
        a = w.activation
        self._check_resend(a.email_resends, a.last_email_at, w.now, "e-mail", a)
        a.email_resends += 1
        w.take(self.workflow, self.keys, Event.RESEND_EMAIL)
        contacts = self._contacts(a)
        self._issue_token(w, contacts["email"], contacts["name"])

    def _resend_sms(self, w: Work) -> None:
        a = w.activation
        self._check_resend(a.sms_resends, a.last_sms_at, w.now, "SMS", a)
        a.sms_resends += 1
        w.take(self.workflow, self.keys, Event.RESEND_SMS)
        self._issue_code(w)

    def _verify_sms(self, w: Work, code: object) -> None:
        s, a = self.settings, w.activation
        code = security.digits_arg(code, s.sms_code_digits, "code")
        if a.code_issued_at is None or w.now >= a.code_issued_at + s.sms_code_validity:
            raise VerificationFailed("the SMS code has expired; ask for a new one")
        if not self.keys.matches(a.code_digest, "sms", a.id, code):
            self._count_wrong(w, "sms_attempts", s.max_sms_attempts, "wrong SMS code")
            return
        w.take(self.workflow, self.keys, Event.VERIFY_SMS)
        a.code_digest = ""
        a.step_deadline = w.now + s.pin_step_validity

    def _set_pin(self, w: Work, pin: object) -> None:
        a = w.activation
        checked = self._pin_arg(pin)
        security.check_pin_policy(checked)
        a.pin_candidate = self.keys.hash_pin(a.id, checked)
        w.take(self.workflow, self.keys, Event.SET_PIN)

    def _confirm_pin(self, w: Work, pin: object) -> None:
        s, a = self.settings, w.activation
        checked = self._pin_arg(pin)
        if not self.keys.verify_pin(a.pin_candidate, a.id, checked):
            a.pin_candidate = ""
            self._count_wrong(w, "pin_mismatches", s.max_pin_mismatches,
                              "the confirmation differs from the chosen PIN", PinMismatch)
            return
        a.pin_hash, a.pin_candidate, a.step_deadline = a.pin_candidate, "", None
        w.take(self.workflow, self.keys, Event.CONFIRM_PIN)
        self._replace_older(w)

    def _authenticate(self, w: Work, pin: object) -> None:
        s, a = self.settings, w.activation
        checked = self._pin_arg(pin)
        if not self.keys.verify_pin(a.pin_hash, a.id, checked):
            self._count_wrong(w, "login_failures", s.max_login_failures, "wrong PIN")
            return
        a.login_failures = 0
        w.take(self.workflow, self.keys, Event.AUTHENTICATE)

    def _cancel(self, w: Work) -> None:
        w.activation.closed_reason = "cancelled by the professional"
        w.activation.step_deadline = None
        w.take(self.workflow, self.keys, Event.CANCEL)

    def _revoke(self, w: Work, reason: object) -> None:
        text = security.text_arg(reason, "reason", max_len=32)
        if text not in REVOKE_REASONS:
            raise InvalidInput(f"reason must be one of {', '.join(sorted(REVOKE_REASONS))}",
                               "reason")
        w.activation.closed_reason = text
        w.take(self.workflow, self.keys, Event.REVOKE, reason=text)

    # -- guards and effects -------------------------------------------------------------------

    def _count_wrong(self, w: Work, counter: str, bound: int, message: str,
                     error: type[VerificationFailed] = VerificationFailed) -> None:
        a = w.activation
        count = a.counter(counter) + 1
        setattr(a, counter, count)
        if count >= bound:
            a.closed_reason, a.step_deadline = f"too many attempts ({counter})", None
            w.take(self.workflow, self.keys, w.event, Outcome.EXHAUSTED, reason=message)
            w.error = ActivationLocked(str(a.state), str(w.event))
        else:
            w.take(self.workflow, self.keys, w.event, Outcome.WRONG, reason=message)
            w.error = error(message, attempts_left=bound - count)

    def _check_resend(self, used: int, last: datetime | None, now: datetime, channel: str,
                      a: Activation) -> None:
        s = self.settings
        if used >= s.max_resends:
            wait = (a.due_at() or now) - now
            raise TooManyRequests(f"no more {channel} resends for this activation",
                                  _seconds(wait))
        if last is not None and now < last + s.resend_cooldown:
            raise TooManyRequests(f"wait before asking for another {channel}",
                                  _seconds(last + s.resend_cooldown - now))

    def _check_request_rate(self, subject: str, now: datetime) -> None:
        s = self.settings
        times = self.store.requests_since(subject, now - s.request_window)
        if len(times) >= s.max_requests:
            oldest = sorted(times)[len(times) - s.max_requests]
            raise TooManyRequests("too many activation requests for this identifier",
                                  _seconds(oldest + s.request_window - now))

    def _lookup(self, nid: str) -> DirectoryEntry:
        entry = self.directory.lookup(nid)
        if entry is None:
            raise NotEligible("the directory does not know this identifier")
        if not isinstance(entry, DirectoryEntry) or entry.national_id != nid:
            raise DirectoryUnavailable("the directory answered for another identifier")
        return entry

    def _issue_token(self, w: Work, email: str, name: str) -> None:
        s, a = self.settings, w.activation
        token = security.new_token()
        a.token_digest = self.keys.digest("token", a.id, token)
        a.email_generation += 1
        a.last_email_at = w.now
        a.step_deadline = w.now + s.qr_token_validity
        payload = security.make_payload(self.deep_link_base, a.id, token)
        w.queue(self.keys, MessageKind.ACTIVATION_EMAIL, {"to": email, "name": name, "payload": payload},
                a.email_generation)

    def _issue_code(self, w: Work) -> None:
        s, a = self.settings, w.activation
        code = security.new_sms_code(s.sms_code_digits)
        a.code_digest = self.keys.digest("sms", a.id, code)
        a.code_issued_at = a.last_sms_at = w.now
        a.sms_generation += 1
        w.queue(self.keys, MessageKind.SMS_CODE, {"to": self._contacts(a)["phone"], "code": code},
                a.sms_generation)

    def _supersede(self, w: Work) -> tuple[str, ...]:
        older = self.store.find(w.activation.subject, self.workflow.definition.in_flight)
        for old in older:
            if old.is_due(w.now):
                self._close(w, old, Event.EXPIRE, "deadline passed")
            else:
                self._close(w, old, Event.CANCEL, "superseded by a newer request")
        return tuple(o.id for o in older)

    def _replace_older(self, w: Work) -> None:
        a = w.activation
        for old in self.store.find(a.subject, {State.ACTIVE}):
            if old.id == a.id:
                continue
            self._close(w, old, Event.REVOKE, "replaced")
            contacts = self._contacts(old)
            w.queue(self.keys, MessageKind.REPLACEMENT_NOTICE, {"to": contacts["email"],
                                                   "name": contacts["name"]}, 0, old)

    def _close(self, w: Work, other: Activation, event: Event, reason: str) -> None:
        expected = other.version
        source = other.state
        other.state = self.workflow.fire(source, event)
        other.closed_reason, other.step_deadline = reason, None
        other.history.append(Step(str(event), source, other.state, w.now))
        record(self.keys, other, w.now, "system", str(event), "ok", reason, str(source),
               str(other.state), into=w.audit_events)
        other.version += 1
        w.others.append(Write(other, expected))

    def _expire_one(self, aid: str) -> int:
        for _ in range(RETRIES):
            a = self.store.get(aid)
            now = self.now()
            if a is None or not a.is_due(now):
                return 0
            w = Work(a, a.version, now, Event.EXPIRE, "sweeper")
            w.take(self.workflow, self.keys, Event.EXPIRE, reason="deadline passed")
            a.closed_reason, a.step_deadline = "deadline passed", None
            try:
                self._commit(w)
            except ConcurrencyConflict:
                continue
            self._log(w)
            return 1
        return 0

    # -- small helpers -------------------------------------------------------------------------

    def _contacts(self, a: Activation) -> dict[str, str]:
        contacts: dict[str, str] = json.loads(self.keys.unseal(a.contacts))
        return contacts

    def _pin_arg(self, pin: object) -> str:
        return security.digits_arg(pin, self.settings.pin_length, "pin")

    def _id_arg(self, activation_id: object) -> str:
        return security.text_arg(activation_id, "activation_id", max_len=128)

    def _load(self, aid: str) -> Activation:
        a = self.store.get(aid)
        if a is None:
            raise ActivationNotFound(aid)
        return a


class _Done(WorkflowError):
    """Internal: the precheck already recorded what happens (lazy expiry)."""


def _seconds(delta: timedelta) -> int:
    return max(1, math.ceil(delta.total_seconds()))
