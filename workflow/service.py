"""`ActivationService`: the e-CPS activation's guards and effects, run by the engine's interpreter.

Every call loads the activation and checks, in this order, that it exists, lazy expiry, that
its state allows the event, that the input is well-formed, then the guard; the interpreter
takes the edge (counters, deadlines, implied events, closing) and the store commits it all.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from workflow import audit, seal, security
from workflow.clock import SystemClock, checked_now
from workflow.definition import WORKFLOW, Event, Outcome, State, Workflow
from workflow.device import thumbprint
from workflow.domain import Activation, Answer, Change, Delivery, MessageKind, OutboxMessage, Turn, Write
from workflow.engine import AtBound, Binding, Bindings, Counter, Interpreter, Wrong, retrying
from workflow.errors import (
    ActivationExpired,
    ActivationLocked,
    ActivationNotFound,
    ConcurrencyConflict,
    DefinitionError,
    DirectoryUnavailable,
    InvalidInput,
    NotEligible,
    PinMismatch,
    StorageError,
    TooManyRequests,
    TransitionNotAllowed,
    VerificationFailed,
    WorkflowError,
    WrongServerKey,
)
from workflow.events import feed_rows, from_audit, login_feed_rows, login_from_audit
from workflow.listeners import Listener, Listeners
from workflow.login.credentials import PinAttempt
from workflow.login.results import LoginResult, LoginStarted, PendingLogin
from workflow.login.service import LoginDesk
from workflow.messages import DirectoryEntry
from workflow.outbox import Dispatcher
from workflow.ports import (
    Clock,
    Closable,
    Directory,
    EventSink,
    LoginStore,
    Mailer,
    PushGateway,
    RefusalHeads,
    SmsGateway,
    Store,
    TrailHeads,
    in_process,
)
from workflow.results import ActivationStatus, HistoryPage, Started, StepResult
from workflow.security import Keyring
from workflow.settings import Settings
from workflow.sweep import sweep
from workflow.templates import FRENCH, Templates
from workflow.work import Work, copy_activation, describe, journal

_REFUSAL_STRIPES = 64  # locks that this process's refusals take by identifier
_REFUSAL_PAUSE_US = 2000  # µs, at most, before chaining again after another process's refusal

log = logging.getLogger("ecps.service")
_ANSWER: ContextVar[Callable[[object], Answer | None] | None] = ContextVar("ecps_answer", default=None)
RECENT_STEPS = 100  # the steps `status()` shows
MAX_PAGE = 1000  # the most steps one `history()` page holds
MAX_BATCH = 1_000_000  # the most messages one `dispatch()`, or ids one read of `expire_due()`, takes
REVOKE_REASONS = frozenset({"deleted", "admin", "replaced", "lost", "compromised"})
_CLOSED = {State.EXPIRED: ActivationExpired, State.LOCKED: ActivationLocked}


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
        workflow: Workflow[State, Event] = WORKFLOW,
        listeners: Iterable[Listener] = (),
        sink: EventSink | None = None,
        templates: Templates | None = None,
        push: PushGateway | None = None,
    ) -> None:
        settings = Settings() if settings is None else settings
        ports = {"store": (store, Store), "mailer": (mailer, Mailer), "sms": (sms, SmsGateway),
                 "directory": (directory, Directory), "settings": (settings, Settings)}
        for name, (value, kind) in ports.items():
            if not isinstance(value, kind):
                raise TypeError(f"{name} must implement {kind.__name__}, got {type(value).__name__}")
        if push is not None and not isinstance(push, PushGateway):
            raise TypeError(f"push must implement PushGateway, got {type(push).__name__}")
        self.settings = settings
        self.store = store
        # rows kept in this process cannot be edited outside the service: neither sealed nor checked
        self._outside = not in_process(store)
        self._heads = store if self._outside and isinstance(store, TrailHeads) else None
        self._refusals = store if isinstance(store, RefusalHeads) else None
        # this process's refusals of one identifier chain one at a time (their commits would
        # race for the same head); other processes' still race, with a pause between tries
        self._refusing = tuple(threading.Lock() for _ in range(_REFUSAL_STRIPES))
        # a store that can run an event's reads and its commit on one connection (SqlStore)
        self._unit: Callable[[], AbstractContextManager[object]] = getattr(store, "unit", nullcontext)
        self._fitted = threading.local()  # (message id, row) this thread's last `fits` read
        self.directory = directory
        self.clock: Clock = clock or SystemClock()
        self.keys = Keyring(settings)
        self._seals = seal.Seals(self.keys) if self._outside else None
        if sink is not None and not isinstance(sink, EventSink):
            raise TypeError(f"sink must implement EventSink, got {type(sink).__name__}")
        if not isinstance(templates or FRENCH, Templates):
            raise TypeError(f"templates must be Templates, got {type(templates).__name__}")
        self.templates: Templates = templates or FRENCH
        self.templates.check(settings)
        self.deep_link_base = self.templates.deep_link_base or settings.deep_link_base
        self.sink = sink
        self.listeners = Listeners(listeners)
        self.workflow = workflow
        self.dispatcher = Dispatcher(store=store, keys=self.keys, templates=self.templates,
                                     settings=settings, now=self.now, mailer=mailer, sms=sms,
                                     flows=self, sink=sink, push=push)
        self._logins = (LoginDesk(store=store, keys=self.keys, settings=settings, now=self.now,
                                  credentials=self) if isinstance(store, LoginStore) else None)

    @property
    def workflow(self) -> Workflow[State, Event]:
        """The built definition this service runs."""
        return self._workflow

    @workflow.setter
    def workflow(self, workflow: Workflow[State, Event]) -> None:
        moved = [d.name for d in set(workflow.definition.deadlines) ^ set(WORKFLOW.definition.deadlines)]
        if moved:  # a store finds due flows by `Activation.due_at()`, the shipped deadlines
            raise DefinitionError("a variant of the activation must keep its deadlines: stores "
                                  "index each activation's deadline by them (Activation.due_at)",
                                  tuple(sorted(set(moved))))
        self._workflow = workflow
        self.engine = Interpreter(workflow, self.settings)
        self.bindings = Bindings(workflow.definition, self._code())

    def _code(self) -> tuple[Binding[Work], ...]:
        """The activation's own code, bound to its events by name."""
        E = Event
        return (
            Binding(E.SCAN, parse=self._payload_arg, guard=self._token_valid, effect=self._code_sent),
            Binding(E.RESEND_EMAIL, guard=self._email_cooldown_over, effect=self._email_sent_again,
                    at_bound=self._no_more("e-mail")),
            Binding(E.RESEND_SMS, guard=self._sms_cooldown_over, effect=self._code_sent,
                    at_bound=self._no_more("SMS")),
            Binding(E.VERIFY_SMS, parse=self._code_arg, guard=self._code_right, effect=self._code_used),
            Binding(E.SET_PIN, parse=self._strong_pin, effect=self._pin_chosen),
            Binding(E.CONFIRM_PIN, parse=self._pin_arg, guard=self._pin_confirmed,
                    effect=self._credential_bound, on_wrong=self._choice_dropped),
            Binding(E.AUTHENTICATE, parse=self._pin_arg, guard=self._pin_right),
            Binding(E.CANCEL, closing="cancelled by the professional"),
            Binding(E.REVOKE, parse=self._revoke_reason, reason=str),
            Binding(E.EMAIL_SENT, system=True),
            Binding(E.EXPIRE, system=True),
            Binding(E.DELIVERY_FAILED, system=True),
        )

    # -- commands -------------------------------------------------------------------------

    def request(self, national_id: object, device_id: object = "",
                device_key: object = None) -> Started:
        """Start an activation: check the identifier, the rate limit and the directory.

        `device_key`, the app's public JWK (P-256 or Ed25519), binds the activation to that
        key: its RFC 7638 thumbprint is stored (`Activation.device_thumbprint`).
        """
        subject = ""
        try:
            nid = security.validate_identifier(national_id, check_luhn=self.settings.check_rpps_luhn)
            subject = self.keys.pseudonym(nid)
            device = security.text_arg(device_id, "device_id", max_len=128)
            bound = "" if device_key is None else thumbprint(device_key)
            seen = self._turn_checked(subject)  # before the directory: a refusal costs no lookup
            entry = self._lookup(nid)
            contacts = {"email": security.clean_email(entry.email),
                        "phone": security.clean_phone(entry.phone), "name": security.clean_name(entry.name)}
        except WorkflowError as refused:
            self._audit_refused_request(subject, refused)
            raise
        try:
            return self._start(subject, device, contacts, bound, seen)
        except TooManyRequests as refused:  # other requests took the last places meanwhile
            self._audit_refused_request(subject, refused)
            raise

    def scan(self, activation_id: object, qr_payload: object) -> StepResult:
        """The app scanned the QR code (or opened the deep link): check the token, send a code."""
        return self._run(activation_id, Event.SCAN, qr_payload)

    def resend_email(self, activation_id: object) -> StepResult:
        """Send the activation e-mail again with a new QR token (the old one dies)."""
        return self._run(activation_id, Event.RESEND_EMAIL)

    def resend_sms(self, activation_id: object) -> StepResult:
        """Send a new SMS code (the old one dies)."""
        return self._run(activation_id, Event.RESEND_SMS)

    def verify_sms(self, activation_id: object, code: object) -> StepResult:
        """Check the SMS code; a wrong one counts, the last allowed wrong one locks."""
        return self._run(activation_id, Event.VERIFY_SMS, code)

    def set_pin(self, activation_id: object, pin: object) -> StepResult:
        """Choose the PIN (format and strength are checked)."""
        return self._run(activation_id, Event.SET_PIN, pin)

    def confirm_pin(self, activation_id: object, pin: object) -> StepResult:
        """Confirm the PIN: equal activates the e-CPS, different goes back to choosing."""
        return self._run(activation_id, Event.CONFIRM_PIN, pin)

    def authenticate(self, activation_id: object, pin: object) -> bool:
        """Log in with the PIN of an active e-CPS: True, or `VerificationFailed` / locked."""
        self._run(activation_id, Event.AUTHENTICATE, pin)
        return True

    def cancel(self, activation_id: object) -> StepResult:
        """Abandon an activation in flight."""
        return self._run(activation_id, Event.CANCEL)

    def revoke(self, activation_id: object, reason: object = "deleted", *, actor: str = "app") -> StepResult:
        """Revoke an active e-CPS (deleted by its user, by an admin, or replaced); `actor` is who
        asked, as the audit trail records it (`app`, `operator`)."""
        return self._run(activation_id, Event.REVOKE, reason, security.text_arg(actor, "actor", max_len=32))

    def dispatch(self, limit: int = 100) -> int:
        """Deliver up to `limit` (0-1000000) due outbox messages; returns how many were sent."""
        return self.dispatcher.dispatch(_count_arg(limit, "limit", 0, MAX_BATCH))

    def expire_due(self, batch: int = 500) -> int:
        """Record `expire` on every activation (and login) whose deadline has passed, reading
        `batch` (1-1000000) due ids at a time past those it could not expire; how many."""
        batch = _count_arg(batch, "batch", 1, MAX_BATCH)
        expired = sweep(lambda limit: self.store.due_for_expiry(self.now(), limit),
                        self._expire_one, batch)
        return expired + (self._logins.expire_due(batch) if self._logins else 0)

    def status(self, activation_id: object) -> ActivationStatus:
        """The activation as it stands; a passed deadline shows as `expired` at once."""
        aid = self._id_arg(activation_id)
        a = retrying(lambda: self._load(aid), f"activation {aid} kept changing; try again")
        expire = self.workflow.definition.expire_event
        state = self.workflow.fire(a.state, expire) if self.engine.is_due(a, self.now()) else a.state
        counters = {c.name: a.counter(c.name) for c in self.workflow.definition.counters}
        recent = self.store.steps(a.id, max(0, a.step_count - RECENT_STEPS), RECENT_STEPS)
        return ActivationStatus(
            a.id, state, tuple(recent), self.engine.due_at(a) if state == a.state else None,
            self.engine.attempts_left(a, state), a.masked_email, a.masked_phone, a.created_at,
            counters, a.closed_reason, a.step_count,
        )

    def history(self, activation_id: object, after: object = None, limit: object = 100) -> HistoryPage:
        """The activation's steps oldest first: up to `limit` (1-1000) numbered after `after`."""
        a = self._load(self._id_arg(activation_id))
        start = 0 if after is None else _count_arg(after, "after", 0, a.step_count)
        count = _count_arg(limit, "limit", 1, MAX_PAGE)
        return HistoryPage(a.id, start, tuple(self.store.steps(a.id, start, count)), a.step_count)

    def close(self) -> None:
        """Release the store's connections when it holds any (`SqlStore`); the service is not
        used after."""
        if isinstance(self.store, Closable):
            self.store.close()

    def now(self) -> datetime:
        """The injected clock's time, checked to be aware UTC."""
        return checked_now(self.clock)

    @contextmanager
    def answering(self, answer: Callable[[object], Answer | None]) -> Iterator[None]:
        """Within this block (in this thread or task), a call commits `answer(outcome)` with its
        change: outcome is the result it returns (`Started`, `StepResult`) or the refusal it raises."""
        token = _ANSWER.set(answer)
        try:
            yield
        finally:
            _ANSWER.reset(token)

    # -- the login workflow (its own code is `workflow.login.service`) --------------------------

    def start_login(self, national_id: object, *, client_id: object, client_name: object,
                    binding_message: object) -> LoginStarted:
        """A portal asks to log the professional in; the push leaves with `dispatch()`."""
        return self.logins.start(national_id, client_id, client_name, binding_message)

    def pending_logins(self, activation_id: object) -> tuple[PendingLogin, ...]:
        """The logins waiting for the professional's answer on this credential."""
        return self.logins.pending(activation_id)

    def approve_login(self, login_id: object, pin: object) -> LoginResult:
        """Approve a login with the PIN (a wrong one counts toward the credential's failures)."""
        return self.logins.approve(login_id, pin)

    def deny_login(self, login_id: object) -> LoginResult:
        """The professional refuses a login."""
        return self.logins.deny(login_id)

    def cancel_login(self, login_id: object, *, actor: str = "portal") -> LoginResult:
        """The portal gives a login up; `actor` is who asked, as the audit trail records it
        (`portal`, `operator`)."""
        return self.logins.cancel(login_id, actor)

    def login_result(self, login_id: object) -> LoginResult:
        """The portal polls a login: its state, and the signed assertion once (then `AlreadyUsed`)."""
        return self.logins.result(login_id)

    def jwks(self) -> dict[str, Any]:
        """The public keys (a JWK Set) that verify login assertions."""
        return self.logins.jwks()

    @property
    def logins(self) -> LoginDesk:
        """The login workflow over this service's store (which must keep logins)."""
        if self._logins is None:
            raise StorageError(f"{type(self.store).__name__} does not keep logins (LoginStore)")
        return self._logins

    # -- what the login asks of its credential (`workflow.login.credentials.Credentials`) -------

    def audit_refusal(self, subject: str, action: str, actor: str, refused: WorkflowError) -> None:
        """Chain a refused `action` of `subject` (no flow made) after its newest refusal."""
        self._audit_refused_request(subject, refused, action=action, actor=actor)

    def active_credential(self, subject: str) -> Activation | None:
        """The subject's active credential, checked against its trail, or None."""
        active = self.store.find(subject, {State.ACTIVE})
        return self._trusted(active[-1]) if active else None

    def credential(self, activation_id: str) -> Activation:
        """The activation with this id, checked against its trail."""
        return self._load(activation_id)

    def pin_right(self, credential: Activation, pin: str) -> bool:
        """Whether `pin` is the credential's PIN (nothing counted)."""
        return self.keys.verify_pin(credential.pin_hash, credential.id, pin)

    def count_pin(self, credential: Activation, right: bool, now: datetime) -> PinAttempt:
        """The credential's `authenticate` step for a PIN typed for a login (not committed)."""
        w = Work(credential, credential.version, now, Event.AUTHENTICATE, "login")
        outcome = Outcome.OK if right else Outcome.WRONG
        move = w.take(self.engine, self.keys, Event.AUTHENTICATE, outcome,
                      reason="login approved" if right else "wrong PIN (login)")
        left = self.engine.attempts_left(credential, move.dest)
        return PinAttempt(str(move.outcome), left, w.change(self._sealing))

    def commit(self, change: Change, now: datetime, outcome: object = None) -> None:
        """Commit a login's change with the feed rows of the credential's transitions in it (and
        the answer to `outcome` when one is asked for, as `answering` says), then tell the
        listeners of the login's and the credential's transitions."""
        ours = {w.activation.id for w in change.writes}
        if self.sink is not None:
            credential = [e for e in change.audit if e.activation_id in ours]
            login = [e for e in change.audit if e.activation_id not in ours]
            change = replace(change, outbox=change.outbox + feed_rows(credential, now)
                             + login_feed_rows(login, now))
        self.store.commit(_answered(change, outcome))
        if len(self.listeners):  # after the commit, in the order of its audit records
            told = (from_audit(e) if e.activation_id in ours else login_from_audit(e)
                    for e in change.audit)
            self.listeners.notify([e for e in told if e is not None])

    # -- the engine of every event ----------------------------------------------------------

    def _run(self, activation_id: object, event: Event, arg: object = None,
             actor: str = "app") -> StepResult:
        aid = self._id_arg(activation_id)
        code = self.bindings[event]

        def attempt() -> Work:
            loaded = self._load(aid)
            snapshot = copy_activation(loaded)
            w = Work(loaded, loaded.version, self.now(), event, actor)
            try:
                if self._precheck(w):
                    self._apply(w, code, arg)
            except WorkflowError as refused:
                w = Work(snapshot, snapshot.version, w.now, event, actor)
                w.refuse(self.keys, refused)
            self._commit(w, w.error or StepResult(aid, w.activation.state, tuple(w.steps)))
            return w

        with self._unit():
            w = retrying(attempt, f"activation {aid} kept changing; try again")
        self._log(w)
        if w.error is not None:
            raise w.error
        return StepResult(aid, w.activation.state, tuple(w.steps))

    def _precheck(self, w: Work) -> bool:
        """Lazy expiry (recorded, then refused) and the state's refusals; False once expired."""
        a = w.activation
        if self.engine.is_due(a, w.now):
            w.take(self.engine, self.keys, Event.EXPIRE, reason=f"deadline passed ({w.event})",
                   closing="deadline passed")
            w.error = ActivationExpired(str(w.activation.state), str(w.event))  # where `expire` led
            return False
        if a.state in _CLOSED:
            raise _CLOSED[a.state](str(a.state), str(w.event))
        if not self.workflow.definition.allows(a.state, w.event):
            raise TransitionNotAllowed(str(a.state), str(w.event))
        return True

    def _apply(self, w: Work, code: Binding[Work], arg: object) -> None:
        """Input, bound, guard, then the interpreter's move and the effect of its outcome."""
        value = code.parse(arg) if code.parse is not None else arg
        try:
            self.engine.admit(w.activation, w.event)
        except AtBound as at:
            assert code.at_bound is not None  # Bindings checked it
            raise code.at_bound(w, at.counter) from None
        verdict = code.guard(w, value) if code.guard is not None else None
        if verdict is None:
            reason = code.reason(value) if code.reason is not None else ""
            w.take(self.engine, self.keys, w.event, reason=reason, closing=code.closing)
            if code.effect is not None:
                code.effect(w, value)
            return
        if code.on_wrong is not None:
            code.on_wrong(w, value)
        move = w.take(self.engine, self.keys, w.event, Outcome.WRONG, reason=verdict.message)
        if move.outcome == Outcome.EXHAUSTED:
            w.error = ActivationLocked(str(move.dest), str(w.event))
        else:
            w.error = verdict.error(verdict.message,
                                    attempts_left=self.engine.attempts_left(w.activation, move.dest))

    def _commit(self, w: Work, outcome: object = None) -> None:
        """Commit `w` (with its event feed rows when a sink is set, and the answer to `outcome`
        when one is asked for), then tell the listeners."""
        self.store.commit(_answered(self._fed(w.change(self._sealing), w.now), outcome))
        self._published(w)

    def _fed(self, change: Change, now: datetime) -> Change:
        """`change` plus the durable feed's rows for its transitions, when a sink is set."""
        if self.sink is None:
            return change
        return replace(change, outbox=change.outbox + feed_rows(change.audit, now))

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

    # -- guards --------------------------------------------------------------------------------

    def _token_valid(self, w: Work, payload: tuple[str, str]) -> Wrong | None:
        a, (payload_id, token) = w.activation, payload
        if payload_id != a.id or not self.keys.matches(a.token_digest, "token", a.id, token):
            raise VerificationFailed("this QR code does not belong to this activation or is no longer valid")
        return None

    def _email_cooldown_over(self, w: Work, _: object) -> Wrong | None:
        self._check_cooldown(w.activation.last_email_at, w.now, "e-mail")
        return None

    def _sms_cooldown_over(self, w: Work, _: object) -> Wrong | None:
        self._check_cooldown(w.activation.last_sms_at, w.now, "SMS")
        return None

    def _code_right(self, w: Work, code: str) -> Wrong | None:
        a = w.activation
        if a.code_issued_at is None or w.now >= a.code_issued_at + self.settings.sms_code_validity:
            raise VerificationFailed("the SMS code has expired; ask for a new one")
        if not self.keys.matches(a.code_digest, "sms", a.id, code):
            return Wrong("wrong SMS code")
        return None

    def _pin_confirmed(self, w: Work, pin: str) -> Wrong | None:
        a = w.activation
        if not self.keys.verify_pin(a.pin_candidate, a.id, pin):
            return Wrong("the confirmation differs from the chosen PIN", PinMismatch)
        return None

    def _pin_right(self, w: Work, pin: str) -> Wrong | None:
        a = w.activation
        return None if self.keys.verify_pin(a.pin_hash, a.id, pin) else Wrong("wrong PIN")

    def _no_more(self, channel: str) -> Callable[[Work, Counter], WorkflowError]:
        def refusal(w: Work, _: Counter) -> WorkflowError:
            wait = (self.engine.due_at(w.activation) or w.now) - w.now
            return TooManyRequests(f"no more {channel} resends for this activation", _seconds(wait))
        return refusal

    def _check_cooldown(self, last: datetime | None, now: datetime, channel: str) -> None:
        cooldown = self.settings.resend_cooldown
        if last is not None and now < last + cooldown:
            raise TooManyRequests(f"wait before asking for another {channel}",
                                  _seconds(last + cooldown - now))

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

    # -- effects ---------------------------------------------------------------------------------

    def _code_sent(self, w: Work, _: object) -> None:
        """A new SMS code in the outbox (the QR token, once scanned, is spent)."""
        w.activation.token_digest = ""
        self._issue_code(w)

    def _email_sent_again(self, w: Work, _: object) -> None:
        contacts = self._contacts(w.activation)
        self._issue_token(w, contacts["email"], contacts["name"])

    def _code_used(self, w: Work, _: object) -> None:
        w.activation.code_digest = ""

    def _pin_chosen(self, w: Work, pin: str) -> None:
        w.activation.pin_candidate = self.keys.hash_pin(w.activation.id, pin)

    def _choice_dropped(self, w: Work, _: object) -> None:
        w.activation.pin_candidate = ""

    def _credential_bound(self, w: Work, _: object) -> None:
        a = w.activation
        a.pin_hash, a.pin_candidate = a.pin_candidate, ""
        self._replace_older(w)

    def _issue_token(self, w: Work, email: str, name: str) -> None:
        a = w.activation
        token = security.new_token()
        a.token_digest = self.keys.digest("token", a.id, token)
        a.email_generation += 1
        a.last_email_at = w.now
        payload = security.make_payload(self.deep_link_base, a.id, token)
        w.queue(self.keys, MessageKind.ACTIVATION_EMAIL, {"to": email, "name": name, "payload": payload},
                a.email_generation)

    def _issue_code(self, w: Work) -> None:
        a = w.activation
        code = security.new_sms_code(self.settings.sms_code_digits)
        a.code_digest = self.keys.digest("sms", a.id, code)
        a.code_issued_at = a.last_sms_at = w.now
        a.sms_generation += 1
        w.queue(self.keys, MessageKind.SMS_CODE, {"to": self._contacts(a)["phone"], "code": code},
                a.sms_generation)

    # -- creating a flow, and the flows it touches ----------------------------------------------

    def _audit_refused_request(self, subject: str, refused: WorkflowError, *,
                               action: str = "request", actor: str = "app") -> None:
        """Append a refused request to the audit trail (activation id ""), chained after the
        subject's newest refusal; a commit that another refusal beat to that head is retried."""
        log.info("%s refused for subject %s (%s)", action, subject[:12] or "-", type(refused).__name__)

        tries = itertools.count()

        def attempt() -> None:
            if next(tries):  # another process's refusal came first: let it finish
                time.sleep(secrets.randbelow(_REFUSAL_PAUSE_US) / 1e6)
            seq, prev = self._refusal_head(subject)
            event = audit.chain(self.keys, prev, activation_id="", subject=subject, seq=seq + 1,
                                at=self.now(), actor=actor, action=action, outcome="refused",
                                reason=describe(refused))
            self.store.commit(_answered(Change(audit=(event,)), refused))

        try:
            with self._refusing[hash(subject) % _REFUSAL_STRIPES]:
                retrying(attempt, "other refusals of this identifier kept coming first")
        except StorageError:
            raise  # the store is down: that is the failure to report, not the refusal
        except WorkflowError:
            log.error("could not audit a refused request", exc_info=True)

    def _refusal_head(self, subject: str) -> tuple[int, str]:
        """(seq, hash) of the subject's newest chained refusal, (0, "") before the first."""
        if self._refusals is not None:
            return self._refusals.refusal_head(subject) or (0, "")
        chained = [e for e in self.store.audit_trail("") if e.subject == subject and e.seq > 0]
        newest = max(chained, key=lambda e: e.seq, default=None)
        return (0, "") if newest is None else (newest.seq, newest.hash)

    def _turn_checked(self, subject: str) -> tuple[Turn, datetime]:
        """The subject's turn, read first (what follows is that turn's), and the moment its
        request rate was found under the limit; `TooManyRequests` if it is not."""
        now = self.now()
        turn = Turn(subject, self.store.turn(subject))
        self._check_request_rate(subject, now)
        return turn, now

    def _start(self, subject: str, device: str, contacts: dict[str, str], bound: str,
               seen: tuple[Turn, datetime]) -> Started:
        """Commit a new activation in the subject's turn `seen` (read again on a conflict)."""
        email, name = contacts["email"], contacts["name"]
        sealed = self.keys.seal(json.dumps(contacts).encode())
        first = [seen]

        def attempt() -> Started:
            turn, now = first.pop() if first else self._turn_checked(subject)
            a = Activation(
                id=security.new_activation_id(), subject=subject, state=self.workflow.definition.initial,
                created_at=now, flow_deadline=None, contacts=sealed,
                masked_email=security.mask_email(email), masked_phone=security.mask_phone(contacts["phone"]),
                device_id=device, device_thumbprint=bound,
            )
            w = Work(a, None, now, Event.REQUEST, turn=turn)
            w.steps.append(journal(self.keys, a, self.engine.create(a, now), now, "app",
                                   into=w.audit_events))
            self._issue_token(w, email, name)
            superseded = self._supersede(w)
            assert a.flow_deadline is not None
            started = Started(a.id, a.state, a.masked_email, a.masked_phone, a.flow_deadline, superseded)
            self._commit(w, started)
            log.info("activation %s requested by subject %s", a.id, subject[:12])
            return started

        with self._unit():
            return retrying(attempt, "the identifier's activations kept changing; try again")

    def _supersede(self, w: Work) -> tuple[str, ...]:
        older = self.store.find(w.activation.subject, self.workflow.definition.in_flight)
        for old in map(self._trusted, older):
            if self.engine.is_due(old, w.now):
                self._close(w, old, Event.EXPIRE, "deadline passed")
            else:
                self._close(w, old, Event.CANCEL, "superseded by a newer request")
        return tuple(o.id for o in older)

    def _replace_older(self, w: Work) -> None:
        a = w.activation
        w.turn = Turn(a.subject, self.store.turn(a.subject))  # one credential bound at a time
        for old in self.store.find(a.subject, {State.ACTIVE}):
            if old.id == a.id:
                continue
            self._trusted(old)
            self._close(w, old, Event.REVOKE, "replaced")
            contacts = self._contacts(old)
            w.queue(self.keys, MessageKind.REPLACEMENT_NOTICE, {"to": contacts["email"],
                                                   "name": contacts["name"]}, 0, old)

    def _close(self, w: Work, other: Activation, event: Event, reason: str) -> None:
        expected = other.version
        for move in self.engine.apply(other, event, w.now, reason=reason):
            journal(self.keys, other, move, w.now, "system", into=w.audit_events)
        other.version += 1
        w.others.append(Write(other, expected))

    def _expire_one(self, aid: str) -> bool:
        def attempt() -> Work | None:
            a = self.store.get(aid)
            now = self.now()
            if a is None or not self.engine.is_due(a, now):
                return None
            self._trusted(a)
            w = Work(a, a.version, now, Event.EXPIRE, "sweeper")
            w.take(self.engine, self.keys, Event.EXPIRE, reason="deadline passed")
            self._commit(w)
            return w

        try:
            w = retrying(attempt, f"activation {aid} kept changing")
        except (ConcurrencyConflict, StorageError):
            return False
        if w is None:
            return False
        self._log(w)
        return True

    # -- what the dispatcher asks ---------------------------------------------------------------

    def fits(self, message: OutboxMessage, now: datetime) -> bool:
        """Whether an outbox message still belongs to where its activation stands."""
        if message.kind == MessageKind.LOGIN_PUSH:
            return self.logins.fits(message, now)
        a = self.store.get(message.activation_id)
        self._fitted.row = (message.id, a)  # `settle` of this message starts from it
        return self._fits(message, a, now)

    def _fits(self, message: OutboxMessage, a: Activation | None, now: datetime) -> bool:
        if message.kind == MessageKind.REPLACEMENT_NOTICE:
            return True
        if a is None or self.engine.is_due(a, now):
            return False
        if message.kind == MessageKind.ACTIVATION_EMAIL:
            return a.state in (State.REQUESTED, State.EMAILED) and (
                message.generation == a.email_generation
            )
        return a.state == State.SCANNED and message.generation == a.sms_generation

    def settle(self, done: OutboxMessage, now: datetime) -> None:
        """Commit a finished message with the event its outcome means for the flow, if any."""
        if done.kind == MessageKind.LOGIN_PUSH:
            self.logins.settle(done, now)
            return

        # the row `fits` read for this message, if that was this thread's last: the first
        # attempt commits against its version (a row changed since is a conflict, read again)
        fitted: tuple[str, Activation | None] | None = getattr(self._fitted, "row", None)
        self._fitted.row = None

        def attempt() -> None:
            nonlocal fitted
            kept, fitted = fitted, None
            a = kept[1] if kept is not None and kept[0] == done.id else self.store.get(done.activation_id)
            try:
                a = None if a is None else self._trusted(a)
            except StorageError:
                a = None  # a row edited outside the service is not moved: the message is only recorded
            event = self._consequence(done, a, now)
            if a is None or event is None:
                self.store.commit(Change(outbox=(done,)))
                return
            w = Work(a, a.version, now, event, "dispatcher")
            closing = f"{done.channel} undeliverable" if event == Event.DELIVERY_FAILED else None
            try:
                w.take(self.engine, self.keys, event, reason=f"outbox {done.status}", closing=closing)
            except TransitionNotAllowed:
                self.store.commit(Change(outbox=(done,)))
                return
            change = w.change(self._sealing)
            self.store.commit(self._fed(Change(change.writes, (done,), change.audit), now))
            self._published(w)

        try:
            retrying(attempt, "outcome not recorded")
        except ConcurrencyConflict:
            log.warning("outbox %s: could not record its outcome (%s); it is retried when its claim "
                        "lapses", done.id, done.status)

    def _consequence(self, message: OutboxMessage, a: Activation | None, now: datetime) -> Event | None:
        if a is None or message.status == Delivery.DROPPED or not self._fits(message, a, now):
            return None
        if message.status == Delivery.ABANDONED:
            return Event.DELIVERY_FAILED
        if message.kind == MessageKind.ACTIVATION_EMAIL and a.state == State.REQUESTED:
            return Event.EMAIL_SENT
        return None

    # -- input -----------------------------------------------------------------------------------

    def _contacts(self, a: Activation) -> dict[str, str]:
        contacts: dict[str, str] = json.loads(self.keys.unseal(a.contacts))
        return contacts

    def _payload_arg(self, payload: object) -> tuple[str, str]:
        return security.parse_payload(payload, self.deep_link_base)

    def _code_arg(self, code: object) -> str:
        return security.digits_arg(code, self.settings.sms_code_digits, "code")

    def _pin_arg(self, pin: object) -> str:
        return security.digits_arg(pin, self.settings.pin_length, "pin")

    def _strong_pin(self, pin: object) -> str:
        checked = self._pin_arg(pin)
        security.check_pin_policy(checked)
        return checked

    def _revoke_reason(self, reason: object) -> str:
        text = security.text_arg(reason, "reason", max_len=32)
        if text not in REVOKE_REASONS:
            raise InvalidInput(f"reason must be one of {', '.join(sorted(REVOKE_REASONS))}",
                               "reason")
        return text

    def _id_arg(self, activation_id: object) -> str:
        return security.text_arg(activation_id, "activation_id", max_len=128)

    def _load(self, aid: str) -> Activation:
        a = self.store.get(aid)
        if a is None:
            raise ActivationNotFound(aid)
        return self._trusted(a)

    @property
    def _sealing(self) -> seal.Seals | None:
        return self._seals

    def _trusted(self, a: Activation) -> Activation:
        """`a` as its seal and the head of its trail vouch for it; `StorageError` if it was edited
        or has no seal (a row written before seals is used once `seal_legacy` sealed it). A head
        read while another event commits is a `ConcurrencyConflict`, retried by the caller.
        """
        if not self._outside:
            return a
        heads = self._heads
        cut = heads is not None and (heads.trail_head(a.id) or (0, "")) != (a.audit_seq, a.audit_head)
        if cut:
            again = self.store.get(a.id)
            if again is not None and again.version != a.version:
                raise ConcurrencyConflict(f"activation {a.id} changed while it was read")
        elif self._seals is not None and self._seals.intact(a):
            return a
        trail = self.store.audit_trail(a.id)  # a refusal's cost only
        if audit.sealed_elsewhere(self.keys, trail):
            raise WrongServerKey.of(f"activation {a.id}")
        if not a.seal:
            raise StorageError(f"activation {a.id} has no seal: a row written before seals is "
                               "used once sealed with the server key (ecps db upgrade seals the "
                               "rows their trails vouch for), and a removed seal is refused")
        raise StorageError(f"activation {a.id} does not match the head of its audit trail: its row "
                           "was changed outside the service (ecps audit verify names what differs)")


def _answered(change: Change, outcome: object) -> Change:
    """`change` with the answer asked for by `ActivationService.answering`, if any."""
    answer = _ANSWER.get()
    if answer is None or outcome is None:
        return change
    return replace(change, answer=answer(outcome))


def _count_arg(value: object, field: str, low: int, high: int) -> int:
    """`value` as a whole number from `low` to `high`, else `InvalidInput` naming `field`."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{field} must be a whole number from {low} to {high}", field)
    return value


def _seconds(delta: timedelta) -> int:
    return max(1, math.ceil(delta.total_seconds()))
