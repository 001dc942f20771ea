"""The login's own code (guards and effects bound to its events), run by the engine's interpreter.

Every call loads the login and checks, in this order, that it exists, lazy expiry, that its
state allows the event, that the input is well-formed, then the guard; the interpreter takes
the edge and the store commits the login, the credential it counted on, the outbox and the
audit trail together.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from workflow import audit, security
from workflow.definition import State
from workflow.domain import Change, Channel, Delivery, MessageKind, OutboxMessage, Turn
from workflow.engine import Binding, Bindings, Interpreter, Move, Outcome, retrying
from workflow.errors import (
    ActivationExpired,
    ActivationLocked,
    AlreadyUsed,
    ConcurrencyConflict,
    InvalidInput,
    LoginNotFound,
    NotEligible,
    SlowDown,
    StorageError,
    TooManyRequests,
    TransitionNotAllowed,
    VerificationFailed,
    WorkflowError,
    WrongServerKey,
)
from workflow.login.assertion import Signer
from workflow.login.credentials import Credentials
from workflow.login.definition import LOGIN_DEFINITION, LOGIN_WORKFLOW, LoginEvent, LoginState
from workflow.login.record import Login, copy_login
from workflow.login.results import LoginResult, LoginStarted, PendingLogin
from workflow.login.work import LoginWork, intact
from workflow.ports import LoginStore, Store, in_process
from workflow.security import Keyring
from workflow.settings import Settings
from workflow.sweep import sweep
from workflow.work import describe

log = logging.getLogger("ecps.login")
E, L = LoginEvent, LoginState
WAITING = frozenset({L.REQUESTED, L.NOTIFIED})
IN_FLIGHT = LOGIN_DEFINITION.in_flight  # waiting, or approved and not yet collected
MAX_CLIENT_ID, MAX_CLIENT_NAME, MAX_BINDING = 128, 80, 32


class LoginDesk:
    """Starts, answers and settles logins over a store that keeps them (`LoginStore`)."""

    def __init__(self, *, store: LoginStore, keys: Keyring, settings: Settings,
                 now: Callable[[], datetime], credentials: Credentials) -> None:
        self.store = store
        self.keys = keys
        self.settings = settings
        self.now = now
        self.credentials = credentials
        self.engine = Interpreter(LOGIN_WORKFLOW, settings)
        self.definition = LOGIN_WORKFLOW.definition
        self.signer = Signer(settings.key)
        self.bindings: Bindings[LoginWork] = Bindings(self.definition, (
            Binding(E.APPROVE, parse=self._pin_arg),
            Binding(E.DENY, closing="denied by the professional"),
            Binding(E.CANCEL, closing="cancelled by the {actor}"),  # portal, operator
            Binding(E.COLLECT),
            Binding(E.PUSH_SENT, system=True),
            Binding(E.WITHDRAW, system=True),
            Binding(E.EXPIRE, system=True),
            Binding(E.DELIVERY_FAILED, system=True),
        ))

    # -- commands -------------------------------------------------------------------------

    def start(self, national_id: object, client_id: object, client_name: object,
              binding_message: object) -> LoginStarted:
        """A portal asks to log the professional in: a login and its push in the outbox."""
        nid = security.validate_identifier(national_id, check_luhn=self.settings.check_rpps_luhn)
        client = _label(client_id, "client_id", MAX_CLIENT_ID)
        name = _label(client_name, "client_name", MAX_CLIENT_NAME)
        binding = _label(binding_message, "binding_message", MAX_BINDING)
        subject = self.keys.pseudonym(nid)

        def attempt() -> LoginStarted:
            now = self.now()
            turn = Turn(subject, self.store.turn(subject))  # read first: the limit holds under concurrency
            self._check_rate(subject, now)
            credential = self.credentials.active_credential(subject)
            if credential is None:
                raise NotEligible("no active e-CPS for this identifier")
            g = Login(id=new_login_id(), subject=subject, activation_id=credential.id,
                      state=self.definition.initial, created_at=now, client_id=client,
                      client_name=name, binding_message=binding)
            w = LoginWork(g, None, now, E.START, "portal", turn=turn)
            self._journal(w, self.engine.create(g, now))
            content = {"to": credential.device_id, "login_id": g.id, "client_name": name,
                       "binding_message": binding}
            w.outbox.append(OutboxMessage(
                id=secrets.token_hex(16), activation_id=g.id, kind=MessageKind.LOGIN_PUSH,
                channel=Channel.PUSH, generation=1,
                payload=self.keys.seal(json.dumps(content).encode()), created_at=now, due_at=now))
            assert g.expires_at is not None
            started = LoginStarted(g.id, g.state, g.expires_at)
            self.credentials.commit(w.change(self._sealing), now, started)
            log.info("login %s started by %s for subject %s", g.id, client, subject[:12])
            return started

        try:
            return retrying(attempt, "the identifier's logins kept changing; try again")
        except (NotEligible, TooManyRequests) as refused:  # audited, chained with the subject's refusals
            self.credentials.audit_refusal(subject, str(E.START), "portal", refused)
            raise

    def pending(self, activation_id: object) -> tuple[PendingLogin, ...]:
        """The logins of a credential waiting for an answer (what the app shows); `StorageError`
        if one of them was changed outside the service (its portal or binding message would be
        shown as they are)."""
        aid = security.text_arg(activation_id, "activation_id", max_len=128)
        if self.credentials.credential(aid).state != State.ACTIVE:
            return ()  # a locked or revoked e-CPS can approve nothing: the app shows nothing
        now = self.now()
        return tuple(PendingLogin(g.id, g.client_name, g.binding_message, g.expires_at)
                     for g in map(self._trusted, self.store.logins_of(aid, WAITING))
                     if g.expires_at is not None and not self.engine.is_due(g, now))

    def approve(self, login_id: object, pin: object) -> LoginResult:
        """Approve with the PIN: right approves; wrong counts on the credential, the last locks it."""
        verdicts: dict[str, bool] = {}

        def guard(w: LoginWork, pin: str) -> None:
            c = self.credentials.credential(w.login.activation_id)
            if c.state != State.ACTIVE:
                self._take(w, E.WITHDRAW, closing="credential no longer active")
                w.error = (ActivationLocked if c.state == State.LOCKED else TransitionNotAllowed)(
                    str(c.state), str(E.APPROVE))
                return
            if c.pin_hash not in verdicts:  # a retry after a conflict does not hash again
                verdicts[c.pin_hash] = self.credentials.pin_right(c, pin)
            counted = self.credentials.count_pin(c, verdicts[c.pin_hash], w.now)
            w.credential = counted.change
            if counted.outcome == Outcome.OK:
                self._take(w, E.APPROVE, reason="PIN right on the registered device")
                w.login.approved_at = w.now
            elif counted.outcome == Outcome.EXHAUSTED:
                self._take(w, E.DENY, reason="credential locked", closing="credential locked")
                w.error = ActivationLocked(str(State.LOCKED), str(E.APPROVE))
            else:
                w.error = VerificationFailed("wrong PIN", attempts_left=counted.attempts_left)
                self._refuse(w, w.error)

        return self._run(login_id, E.APPROVE, pin, guard, "app")

    def deny(self, login_id: object) -> LoginResult:
        """The professional refuses the login."""
        return self._run(login_id, E.DENY, None, None, "app")

    def cancel(self, login_id: object, actor: str = "portal") -> LoginResult:
        """The portal gives the login up (or an operator, as `actor` records it)."""
        return self._run(login_id, E.CANCEL, None, None, security.text_arg(actor, "actor", max_len=32))

    def result(self, login_id: object) -> LoginResult:
        """The portal polls: the state, and the assertion the first time it is approved."""
        lid = login_id_arg(login_id)

        def attempt() -> tuple[LoginWork, str | None]:
            g = self._load(lid)
            w = LoginWork(g, g.version, self.now(), E.COLLECT, "portal")
            if g.state == L.COMPLETED:
                raise AlreadyUsed(str(g.state), str(E.COLLECT))
            last, interval = g.last_poll_at, self.settings.login_poll_interval
            if last is not None and w.now < last + interval:
                raise SlowDown(_seconds(last + interval - w.now))
            g.last_poll_at = w.now
            assertion = None
            if self.engine.is_due(g, w.now):
                self._take(w, E.EXPIRE, reason="validity passed (poll)")
            elif g.state in IN_FLIGHT and self._credential_gone(g):  # approved ones too
                self._take(w, E.WITHDRAW, reason="credential no longer active (poll)",
                           closing="credential no longer active")
            elif g.state == L.APPROVED:
                self._take(w, E.COLLECT, reason="assertion given")
                assertion = self._assertion(g, w.now)
            self.credentials.commit(w.change(self._sealing), w.now)
            return w, assertion

        w, assertion = retrying(attempt, f"login {lid} kept changing; try again")
        g = w.login
        return LoginResult(g.id, g.state, assertion, g.closed_reason)

    def expire_due(self, batch: int = 500) -> int:
        """Record `expire` on every login whose validity has passed, reading `batch` due ids at a
        time past those it could not expire; how many."""
        def expire(login_id: str) -> bool:
            try:
                return self.expire_if_due(login_id)
            except (ConcurrencyConflict, StorageError):
                return False

        return sweep(lambda limit: self.store.logins_due(self.now(), limit), expire, batch)

    def expire_if_due(self, login_id: str) -> bool:
        """Record `expire` on the login if its validity has passed; whether it did."""
        def attempt() -> bool:
            g = self._load(login_id)
            now = self.now()
            if not self.engine.is_due(g, now):
                return False
            w = LoginWork(g, g.version, now, E.EXPIRE, "sweeper")
            self._take(w, E.EXPIRE, reason="validity passed")
            self.credentials.commit(w.change(self._sealing), now)
            return True

        return retrying(attempt, f"login {login_id} kept changing")

    def jwks(self) -> dict[str, Any]:
        """The public keys that verify the assertions (a JWK Set)."""
        return self.signer.jwks()

    # -- what the dispatcher asks ---------------------------------------------------------

    def fits(self, message: OutboxMessage, now: datetime) -> bool:
        """Whether a login's push still fits: the login waits for it and is not due."""
        g = self.store.get_login(message.activation_id)
        if g is None or (self._sealing is not None and not intact(self.keys, g)):
            return False
        return g.state == L.REQUESTED and not self.engine.is_due(g, now)

    def settle(self, done: OutboxMessage, now: datetime) -> None:
        """Commit a finished push with what it means: `push_sent`, or `delivery_failed`."""
        def attempt() -> None:
            g = self.store.get_login(done.activation_id)
            if g is not None and self._sealing is not None and not intact(self.keys, g):
                g = None  # a row edited outside the service is not moved: the message is recorded
            if g is None or g.state != L.REQUESTED or done.status == Delivery.DROPPED \
                    or self.engine.is_due(g, now):
                self.store_outbox(done)
                return
            sent = done.status == Delivery.SENT
            w = LoginWork(g, g.version, now, E.PUSH_SENT if sent else E.DELIVERY_FAILED, "dispatcher")
            self._take(w, w.event, reason=f"outbox {done.status}",
                       closing=None if sent else "push undeliverable")
            w.outbox.append(done)
            self.credentials.commit(w.change(self._sealing), now)

        retrying(attempt, "push outcome not recorded")

    def store_outbox(self, done: OutboxMessage) -> None:
        """Record a finished message that changes no login."""
        self.credentials.commit(Change(outbox=(done,)), self.now())

    # -- the engine of every event --------------------------------------------------------

    def _run(self, login_id: object, event: LoginEvent, arg: object,
             guard: Callable[[LoginWork, Any], None] | None, actor: str) -> LoginResult:
        lid = login_id_arg(login_id)
        code = self.bindings[event]

        def attempt() -> LoginWork:
            g = self._load(lid)
            snapshot = copy_login(g)
            w = LoginWork(g, g.version, self.now(), event, actor)
            try:
                if self._precheck(w):
                    value = code.parse(arg) if code.parse is not None else arg
                    if guard is not None:
                        guard(w, value)
                    else:
                        self._take(w, event, closing=None if code.closing is None
                                   else code.closing.replace("{actor}", actor))
            except WorkflowError as refused:
                w = LoginWork(snapshot, snapshot.version, w.now, event, actor)
                self._refuse(w, refused)
            change = w.change(self._sealing)
            self.credentials.commit(change, w.now, w.error or _result(w.login))
            return w

        w = retrying(attempt, f"login {lid} kept changing; try again")
        if w.error is not None:
            log.info("login %s: %s refused (%s)", lid, event, type(w.error).__name__)
            raise w.error
        return _result(w.login)

    def _precheck(self, w: LoginWork) -> bool:
        """Lazy expiry (recorded, then refused) and the state's refusals; False once expired."""
        g = w.login
        if self.engine.is_due(g, w.now):
            self._take(w, E.EXPIRE, reason=f"validity passed ({w.event})")
            w.error = ActivationExpired(str(L.EXPIRED), str(w.event), "login")
            return False
        if g.state == L.EXPIRED:
            raise ActivationExpired(str(g.state), str(w.event), "login")
        if not self.definition.allows(g.state, w.event):
            raise TransitionNotAllowed(str(g.state), str(w.event))
        return True

    def _take(self, w: LoginWork, event: LoginEvent, reason: str = "",
              closing: str | None = None) -> Move[LoginState]:
        moves = self.engine.apply(w.login, event, w.now, Outcome.OK, reason, closing)
        for move in moves:
            self._journal(w, move)
        return moves[-1]

    def _journal(self, w: LoginWork, move: Move[LoginState]) -> None:
        w.login.step_count += 1
        self._record(w, str(move.event), str(move.outcome), move.reason,
                     "" if move.source is None else str(move.source), str(move.dest),
                     w.login.step_count)

    def _refuse(self, w: LoginWork, error: WorkflowError) -> None:
        w.error = error
        state = str(w.login.state)
        self._record(w, str(w.event), "refused", describe(error), state, state, 0)

    def _record(self, w: LoginWork, action: str, outcome: str, reason: str, source: str,
                dest: str, step: int) -> None:
        g = w.login
        g.audit_seq += 1
        event = audit.chain(self.keys, g.audit_head, activation_id=g.id, subject=g.subject,
                            seq=g.audit_seq, at=w.now, actor=w.actor, action=action,
                            outcome=outcome, reason=reason, source=source, dest=dest, step=step)
        g.audit_head = event.hash
        w.audit_events.append(event)

    def _assertion(self, g: Login, now: datetime) -> str:
        assert g.approved_at is not None
        return self.signer.sign(audience=g.client_id, subject=g.subject, auth_time=g.approved_at,
                                issued=now, login_id=g.id)

    def _credential_gone(self, g: Login) -> bool:
        """Whether the credential `g` waits on was locked or revoked since it started."""
        return self.credentials.credential(g.activation_id).state != State.ACTIVE

    def _check_rate(self, subject: str, now: datetime) -> None:
        s = self.settings
        times = self.store.logins_since(subject, now - s.login_window)
        if len(times) >= s.max_logins:
            oldest = times[len(times) - s.max_logins]
            raise TooManyRequests("too many logins asked for this identifier",
                                  _seconds(oldest + s.login_window - now))

    def _load(self, lid: str) -> Login:
        g = self.store.get_login(lid)
        if g is None:
            raise LoginNotFound(lid)
        return self._trusted(g)

    @property
    def _sealing(self) -> Keyring | None:
        """The keys that seal login rows: none for a store in the service's own memory."""
        return None if in_process(self.store) else self.keys

    def _trusted(self, g: Login) -> Login:
        """`g` as its seal vouches for it; `StorageError` if its row was changed outside
        (`WrongServerKey` if its trail's newest event fails too: the key is not the database's)."""
        if self._sealing is None or intact(self.keys, g):
            return g
        trail = self.store.audit_trail(g.id) if isinstance(self.store, Store) else []
        if audit.sealed_elsewhere(self.keys, trail):
            raise WrongServerKey.of(f"login {g.id}")
        raise StorageError(f"login {g.id} was changed outside the service (ecps audit verify "
                           "names what differs)")

    def _pin_arg(self, pin: object) -> str:
        return security.digits_arg(pin, self.settings.pin_length, "pin")


def _result(g: Login) -> LoginResult:
    return LoginResult(g.id, g.state, None, g.closed_reason)


def new_login_id() -> str:
    """A fresh login id: `lg-` and 128 random bits in lowercase hex."""
    return "lg-" + secrets.token_hex(16)


def _label(value: object, field: str, max_len: int) -> str:
    text = security.text_arg(value, field, max_len=max_len).strip()
    if not text or not text.isprintable():
        raise InvalidInput(f"{field} must be printable text of 1 to {max_len} characters",
                                    field)
    return text


def login_id_arg(login_id: object) -> str:
    """`login_id` if it is text of a sane length without NUL, else `InvalidInput` (checked
    before any store reads it)."""
    return security.text_arg(login_id, "login_id", max_len=128)


def _seconds(delta: timedelta) -> int:
    return max(1, math.ceil(delta.total_seconds()))
