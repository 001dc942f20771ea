"""`ActivationMachine`: Hypothesis drives the service like many phones, checked against `Model`.

Subclass it with `make_store` (and optionally `make_mailer`, `make_sms`) to run it over
your own adapters: `TestMyStore = ActivationMachine.configure(make_store=MyStore).TestCase`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import asdict
from datetime import timedelta
from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from workflow.audit import verify
from workflow.definition import State
from workflow.domain import Delivery, MessageKind
from workflow.errors import WorkflowError
from workflow.messages import DirectoryEntry, Email
from workflow.ports import DumpableStore, Mailer, SmsGateway, Store
from workflow.results import Started
from workflow.security import Keyring, luhn_ok
from workflow.service import ActivationService
from workflow.settings import Settings
from workflow.testing.clock import FakeClock
from workflow.testing.coverage import COVERAGE
from workflow.testing.model import IN_FLIGHT, Model, RefActivation
from workflow.testing.phone import code_from
from workflow.testing.pins import strong_pins, weak_pins
from workflow.testing.recording import FixedDirectory, Inbox, Line, close_store

MAIN_PATH = ("request", "email_sent", "scan", "verify_sms", "set_pin", "confirm_pin")
PINS = strong_pins(4)[:6]  # what the rules draw; `_sized` gives the settings' length of each
WEAK = weak_pins(4)
JUMPS = (1, 1, 10, 20, 40, 59, 60, 61, 80, 299, 300, 301, 599, 600, 3599, 3600, 86400)
RARELY = st.integers(0, 3).map(lambda n: n == 0)


def _person(rpps10: str) -> str:
    return "8" + rpps10 + next(d for d in "0123456789" if luhn_ok(rpps10 + d))


PEOPLE = {
    _person("9970036624"): DirectoryEntry("", "jane.doe@domain.fr", "0612345678", "Dr Jane Doe"),
    _person("1010000000"): DirectoryEntry("", "paul.martin@clinique.fr", "0798765432", "Paul Martin"),
    _person("1234567890"): DirectoryEntry("", "lea.roux@cabinet.fr", None, "Léa Roux"),
}
UNKNOWN = _person("5555555555")
UNAUDITED = frozenset({"ActivationNotFound"})
"""The errors an activation's audit trail does not record; any other error that took no step is a refusal."""
REQUEST_REFUSALS = frozenset({"TooManyRequests", "NotEligible"})


def machine_settings() -> Settings:
    """Settings of the harness: defaults, a test key and a cheap PIN hash."""
    return Settings(secret_key="harness-key-" + "h" * 24, argon2_memory_kib=64,
                    argon2_time_cost=1, argon2_parallelism=1)


class _Logs(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


class data_for:  # stands in for st.data() when a rule calls another
    """A `data` object whose only draw is the given activation."""

    def __init__(self, activation: RefActivation) -> None:
        self.activation = activation

    def draw(self, strategy: object) -> RefActivation:
        return self.activation


FACTORIES = ("make_store", "make_mailer", "make_sms", "make_settings", "close_store")
"""What `ActivationMachine.configure` accepts."""


class ActivationMachine(RuleBasedStateMachine):
    """Requests, scans, codes, PINs, resends, cancels, revocations, clock jumps and line faults."""

    make_store: ClassVar[Callable[[], Store]]
    make_mailer: ClassVar[Callable[[], Mailer | Inbox]] = Inbox
    make_sms: ClassVar[Callable[[], SmsGateway | Inbox]] = Inbox
    make_settings: ClassVar[Callable[[], Settings]] = machine_settings
    close_store: ClassVar[Callable[[Store], None]] = close_store

    @classmethod
    def configure(cls, **factories: Callable[[], Any]) -> type[ActivationMachine]:
        """A subclass using the given factories: `make_store` (required, unless `cls` has one),
        `make_mailer`, `make_sms`, `make_settings` and `close_store`.

        An unknown name or a value that is not callable is a `TypeError`: a misspelt factory would
        otherwise leave the kit's own fake in place of your adapter, and the run would test that.
        """
        unknown = sorted(set(factories) - set(FACTORIES))
        if unknown:
            raise TypeError(f"ActivationMachine.configure: unknown {', '.join(map(repr, unknown))}; "
                            f"it takes {', '.join(FACTORIES)}")
        for name, f in factories.items():
            if not callable(f):
                raise TypeError(f"ActivationMachine.configure: {name} must be callable (a class or a "
                                f"function), not a {type(f).__name__}")
        if "make_store" not in factories and not hasattr(cls, "make_store"):
            raise TypeError("ActivationMachine.configure: make_store is required (your store's factory)")
        wrapped = {name: staticmethod(f) for name, f in factories.items()}
        store = factories.get("make_store", cls)
        name = getattr(store, "__name__", type(store).__name__).replace("<lambda>", "Lambda")
        return type(f"{cls.__name__}For{name}", (cls,), wrapped)

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.settings = type(self).make_settings()
        self.pins = strong_pins(self.settings.pin_length)[:len(PINS)]
        self.weak = weak_pins(self.settings.pin_length)
        self.store = type(self).make_store()
        self.mail, self.sms = Line(type(self).make_mailer()), Line(type(self).make_sms())
        directory = FixedDirectory(DirectoryEntry(n, e.email, e.phone, e.name) for n, e in PEOPLE.items())
        self.service = ActivationService(store=self.store, mailer=self.mail, sms=self.sms,
                                         directory=directory, clock=self.clock, settings=self.settings)
        self.keys = Keyring(self.settings)
        self._audited = 0
        self.model = Model(self.settings)
        self.secrets: set[str] = set()
        self.texts: list[str] = []
        self.logs = _Logs()
        logging.getLogger("ecps").addHandler(self.logs)
        logging.getLogger("ecps").setLevel(logging.DEBUG)

    def teardown(self) -> None:
        logging.getLogger("ecps").removeHandler(self.logs)
        type(self).close_store(self.store)

    # -- helpers -----------------------------------------------------------------------------

    def _call(self, expected: str | None, call: Callable[[], object],
              about: tuple[RefActivation, str] | None = None) -> object:
        """Run `call`; its error kind (or success) must be the model's `expected`.

        `about` names the activation and event, so that a refusal is expected in its audit trail.
        """
        if expected is not None and about is not None and expected not in UNAUDITED and (
                len(about[0].audit) == self._audited):
            about[0].refuse(about[1])
        elif expected in REQUEST_REFUSALS:
            self.model.refused_request()
        try:
            result = call()
        except WorkflowError as exc:
            self.texts.append(str(exc))
            raised = type(exc).__name__
            assert raised == expected, f"service raised {exc!r}, the model expected {expected}"  # noqa: PT017
            return exc
        assert expected is None, f"service succeeded, the model expected {expected}"
        return result

    def _pick(self, data: st.DataObject, states: tuple[str, ...] | None = None) -> RefActivation:
        pool = [a for a in self.model.activations.values() if states is None or a.state in states]
        picked = data.draw(st.sampled_from(sorted(pool, key=lambda a: a.created)))
        self._audited = len(picked.audit)  # what the model expects audited before this call
        return picked

    def _has(self, *states: str) -> bool:
        return any(a.state in states for a in self.model.activations.values())

    def _emails(self, aid: str) -> list[Email]:
        return [m for m in self.mail.delivered if isinstance(m, Email) and f"a={aid}&" in m.text]

    def _sized(self, pin: str) -> str:
        """The PIN of the settings' length that stands for `pin`, one of the 4-digit PINS, WEAK
        or malformed ones the rules draw (the same PIN at the default length)."""
        length = self.settings.pin_length
        if pin in PINS:
            return self.pins[PINS.index(pin)]
        if pin in WEAK:
            return self.weak[min(WEAK.index(pin), len(self.weak) - 1)]
        return pin if length == 4 else ("12a" + "4" * (length - 3) if "a" in pin else "4" * (length - 1))

    def _codes(self, aid: str) -> list[str]:
        ids = {m.id for m in self.store.outbox_of(aid)}
        digits = self.settings.sms_code_digits
        return [code_from(m, digits) for m in self.sms.delivered
                if not isinstance(m, Email) and m.message_id in ids]

    def _payload_of(self, email: Email) -> str:
        from workflow.testing.phone import payload_from

        payload = payload_from(email)
        self.secrets.add(payload.rsplit("t=", 1)[1])
        return payload

    # -- rules ---------------------------------------------------------------------------------

    @initialize(goal=st.sampled_from(["requested", "emailed", "scanned", "sms_verified", "pin_set",
                                      "active"]), edge=st.sampled_from([None, -1, 0, 1]),
                trouble=st.sampled_from([False, False, True]))
    def start_somewhere(self, goal: str, edge: int | None, trouble: bool) -> None:
        """A first professional followed the app up to some step, then maybe hit an outage or a deadline."""
        self.request(next(iter(PEOPLE)))
        a = next(iter(self.model.activations.values()))
        for _ in range(8):
            if a.state == goal or a.state not in IN_FLIGHT:
                break
            self.proceed(data_for(a))
        if trouble and a.state in ("requested", "emailed", "scanned"):
            self.wait(60)
            self.resend(data_for(a))
            self.outage(5, sms=a.state == "scanned")
        if edge is not None and a.state in IN_FLIGHT:
            self._jump(a, edge)

    @rule(person=st.sampled_from([*PEOPLE, UNKNOWN]))
    def request(self, person: str) -> None:
        """A professional types their identifier and asks for activation."""
        now = self.clock.now()
        eligible = person in PEOPLE and PEOPLE[person].phone is not None
        expected = self.model.request_refusal(person, now, eligible)
        result = self._call(expected, lambda: self.service.request(person, device_id="phone"))
        if isinstance(result, Started):
            superseded = self.model.request(result.activation_id, person, now)
            assert sorted(result.superseded) == sorted(superseded)
            COVERAGE.hit_state(State.REQUESTED)

    @rule(mail_down=st.booleans(), sms_down=st.booleans())
    def dispatch(self, mail_down: bool, sms_down: bool) -> None:
        """The outbox dispatcher runs, with the mail and SMS lines up or down."""
        self.mail.down, self.sms.down = mail_down, sms_down
        expected = self.model.dispatch(self.clock.now(), mail_down, sms_down)
        assert self.service.dispatch() == expected

    @precondition(lambda self: self._has("requested", "emailed"))
    @rule(data=st.data(), which=st.sampled_from(["current", "old", "foreign", "garbage", "empty"]))
    def scan(self, data: st.DataObject, which: str) -> None:
        """The phone scans the newest QR, an older one, another activation's, or garbage."""
        a = self._pick(data, ("requested", "emailed"))
        now = self.clock.now()
        mails = self._emails(a.aid)
        others = [m for m in self.mail.delivered
                  if isinstance(m, Email) and f"a={a.aid}&" not in m.text and "?a=" in m.text]
        if (which in ("current", "old") and not mails) or (which == "foreign" and not others):
            which = "garbage"
        payload = {"garbage": "ecps://activation?a=nope", "empty": ""}.get(which, "")
        if which == "current":
            payload = self._payload_of(mails[-1])
        elif which == "old":
            payload = self._payload_of(mails[0])
        elif which == "foreign":
            payload = self._payload_of(others[-1])
        index = {"current": -1, "old": 0}.get(which)
        generation = None if index is None else a.delivered_emails[index]
        expected = self.model.scan(a, now, which not in ("garbage", "empty"), generation)
        self._call(expected, lambda: self.service.scan(a.aid, payload), (a, "scan"))

    @precondition(lambda self: self._has("requested", "emailed", "scanned"))
    @rule(data=st.data())
    def resend(self, data: st.DataObject) -> None:
        """The professional asks for the e-mail or the SMS again."""
        a = self._pick(data, ("requested", "emailed", "scanned"))
        channel = "sms" if a.state == "scanned" else "email"
        event = f"resend_{channel}"
        now = self.clock.now()
        expected = self.model.precheck(a, event, now) or self.model.resend(a, channel, now)
        call = self.service.resend_sms if channel == "sms" else self.service.resend_email
        self._call(expected, lambda: call(a.aid), (a, event))

    @precondition(lambda self: self._has("scanned"))
    @rule(data=st.data(), which=st.sampled_from(["right", "right", "wrong", "malformed", "old"]))
    def verify_sms(self, data: st.DataObject, which: str) -> None:
        """The app submits the SMS code: the newest, an older one, a wrong or a malformed one."""
        a = self._pick(data, ("scanned",))
        now = self.clock.now()
        codes = self._codes(a.aid)
        code, generation = "12a456", None
        if which in ("right", "old") and codes:
            index = -1 if which == "right" else 0
            code, generation = codes[index], a.delivered_sms[index]
        elif which != "malformed":
            digits = self.settings.sms_code_digits  # wrong, and well formed at any length
            code = next(c for c in (d * digits for d in "0123") if c not in codes)
        self.secrets.update(codes)
        expected = self.model.verify_sms(a, now, which != "malformed", generation)
        self._call(expected, lambda: self.service.verify_sms(a.aid, code), (a, "verify_sms"))

    @precondition(lambda self: self._has("sms_verified"))
    @rule(data=st.data(), pin=st.sampled_from(PINS + WEAK + ("12a4", "482")))
    def set_pin(self, data: st.DataObject, pin: str) -> None:
        """The professional chooses a PIN (strong, weak or malformed)."""
        a = self._pick(data, ("sms_verified",))
        pin = self._sized(pin)
        expected = self.model.set_pin(a, self.clock.now(), pin, pin in self.weak)
        if pin in self.pins:
            self.secrets.add(pin)
        self._call(expected, lambda: self.service.set_pin(a.aid, pin), (a, "set_pin"))

    @precondition(lambda self: self._has("pin_set"))
    @rule(data=st.data(), same=st.booleans())
    def confirm_pin(self, data: st.DataObject, same: bool) -> None:
        """The professional confirms the PIN, or types another one."""
        a = self._pick(data, ("pin_set",))
        pin = a.candidate if same and a.candidate else next(p for p in self.pins if p != a.candidate)
        expected = self.model.confirm_pin(a, self.clock.now(), pin)
        self._call(expected, lambda: self.service.confirm_pin(a.aid, pin), (a, "confirm_pin"))

    @precondition(lambda self: self._has("active"))
    @rule(data=st.data(), right=st.booleans())
    def authenticate(self, data: st.DataObject, right: bool) -> None:
        """The professional logs in with the PIN, or a wrong one."""
        a = self._pick(data, ("active",))
        pin = a.pin if right and a.pin else next(p for p in self.pins if p != a.pin)
        expected = self.model.authenticate(a, self.clock.now(), pin)
        self._call(expected, lambda: self.service.authenticate(a.aid, pin), (a, "authenticate"))

    @precondition(lambda self: bool(self.model.activations))
    @rule(data=st.data(), now=RARELY)
    def cancel(self, data: st.DataObject, now: bool) -> None:
        """The professional abandons an activation (allowed only in flight), now and then."""
        if not now:
            return
        a = self._pick(data)
        expected = self.model.close(a, self.clock.now(), "cancel", "cancelled")
        self._call(expected, lambda: self.service.cancel(a.aid), (a, "cancel"))

    @precondition(lambda self: bool(self.model.activations))
    @rule(data=st.data(), now=RARELY)
    def revoke(self, data: st.DataObject, now: bool) -> None:
        """The professional deletes their e-CPS (allowed only when active), now and then."""
        if not now:
            return
        a = self._pick(data)
        expected = self.model.close(a, self.clock.now(), "revoke", "revoked")
        self._call(expected, lambda: self.service.revoke(a.aid, reason="deleted"), (a, "revoke"))

    @precondition(lambda self: self._has(*IN_FLIGHT))
    @rule(data=st.data())
    def proceed(self, data: st.DataObject) -> None:
        """The professional does what the app asks next, with the right inputs."""
        a = self._pick(data, IN_FLIGHT)
        if a.state in ("requested", "emailed") and self._emails(a.aid):
            self.scan(data_for(a), "current")
        elif a.state == "scanned" and self._codes(a.aid):
            self.verify_sms(data_for(a), "right")
        elif a.state == "sms_verified":
            self.set_pin(data_for(a), PINS[len(a.history) % len(PINS)])
        elif a.state == "pin_set":
            self.confirm_pin(data_for(a), True)
        else:
            self.dispatch(False, False)

    @precondition(lambda self: self._has(*IN_FLIGHT))
    @rule(data=st.data(), times=st.integers(2, 6))
    def persist(self, data: st.DataObject, times: int) -> None:
        """The professional follows the app several steps in a row."""
        a = self._pick(data, IN_FLIGHT)
        for _ in range(times):
            if a.state in IN_FLIGHT:
                self.proceed(data_for(a))

    @precondition(lambda self: self._has("scanned", "sms_verified", "active"))
    @rule(data=st.data(), times=st.integers(1, 10))
    def struggle(self, data: st.DataObject, times: int) -> None:
        """The professional gets the code, the confirmation or the PIN wrong several times."""
        a = self._pick(data, ("scanned", "sms_verified", "active"))
        for _ in range(times):
            if a.state == "scanned":
                self.verify_sms(data_for(a), "wrong")
            elif a.state == "sms_verified":
                self.set_pin(data_for(a), PINS[0])
                self.confirm_pin(data_for(a), False)
            elif a.state == "active":
                self.authenticate(data_for(a), False)

    @rule(times=st.sampled_from([1, 2, 5, 5, 6]), sms=st.booleans())
    def outage(self, times: int, sms: bool) -> None:
        """The mail or SMS line is down through several dispatcher runs with back-off waits."""
        for attempt in range(times):
            self.dispatch(not sms, sms)
            self.wait(10 * 2 ** attempt)

    @rule()
    def expire_due(self) -> None:
        """The sweeper expires every flow past its deadline."""
        expected = self.model.expire_due(self.clock.now())
        assert self.service.expire_due() == expected

    @rule(seconds=st.sampled_from(JUMPS))
    def wait(self, seconds: int) -> None:
        """Time passes."""
        self.clock.advance(timedelta(seconds=seconds))

    @precondition(lambda self: self._has(*IN_FLIGHT))
    @rule(data=st.data(), delta=st.sampled_from([-1, 0, 1]))
    def jump_to_deadline(self, data: st.DataObject, delta: int) -> None:
        """Time jumps to one second before, at, or one second after a flow's deadline."""
        self._jump(self._pick(data, IN_FLIGHT), delta)

    def _jump(self, a: RefActivation, delta: int) -> None:
        deadline = a.deadline()
        if deadline is None or deadline + timedelta(seconds=delta) <= self.clock.now():
            return
        self.clock.set(deadline + timedelta(seconds=delta))
        names = {"requested": "token", "emailed": "token", "sms_verified": "pin_step", "pin_set": "pin_step"}
        name = "flow" if deadline == a.flow_deadline else names[a.state]
        COVERAGE.hit_boundary(name, delta)

    @invariant()
    def the_expiry_query_equals_the_model(self) -> None:
        """`due_for_expiry` gives exactly the model's due flows, soonest first, at most `limit`."""
        now = self.clock.now()
        expected = self.model.due_ids(now)
        got = self.store.due_for_expiry(now, 1000)
        assert sorted(got) == sorted(expected), (
            f"due_for_expiry gave {got}, the model expects {expected}: "
            f"extra {sorted(set(got) - set(expected))}, missing {sorted(set(expected) - set(got))}")
        deadlines = [d for aid in got if (d := self.model.activations[aid].deadline()) is not None]
        assert deadlines == sorted(deadlines), f"due_for_expiry is not soonest first: {got}"
        if expected:
            for limit in (0, len(expected) - 1):
                limited = self.store.due_for_expiry(now, limit)
                assert len(limited) == limit, f"due_for_expiry(limit={limit}) gave {limited}: limit ignored"

    # -- invariants -----------------------------------------------------------------------------

    @invariant()
    def stored_state_equals_the_model(self) -> None:
        """Every activation's state and history equal the reference model's."""
        now = self.clock.now()
        for a in self.model.activations.values():
            status = self.service.status(a.aid)
            expected = "expired" if a.due(now) else a.state
            assert status.state == expected, f"{a.aid}: service {status.state}, model {expected}"
            assert [(s.event, s.source, s.dest) for s in status.history] == a.history
            for source, event, outcome in a.edges:
                COVERAGE.hit_edge(source, event, outcome)
            a.edges.clear()
            COVERAGE.hit_state(status.state)

    @invariant()
    def the_outbox_keeps_every_pending_message(self) -> None:
        """Each message the model still expects to send is a pending row of the store's outbox."""
        kinds = {"email": MessageKind.ACTIVATION_EMAIL, "sms": MessageKind.SMS_CODE,
                 "notice": MessageKind.REPLACEMENT_NOTICE}
        for m in self.model.pending:
            rows = {(r.kind, r.generation) for r in self.store.outbox_of(m.aid)
                    if r.status == Delivery.PENDING}
            assert (kinds[m.kind], m.generation) in rows, (
                f"{m.aid}: the store lost an outbox row: no pending {kinds[m.kind]} of generation "
                f"{m.generation} (it keeps {sorted(rows)})")

    @invariant()
    def every_audit_trail_equals_the_model(self) -> None:
        """Each activation's audit trail holds its steps and refusals in order, hash-chained by `seq`."""
        for a in self.model.activations.values():
            trail = self.store.audit_trail(a.aid)
            got = [(e.action, "refused" if e.outcome == "refused" else "step", e.source, e.dest)
                   for e in trail]
            assert got == a.audit, f"{a.aid}: audit trail {got}, the model expects {a.audit}"
            problems = verify(self.keys, trail)
            assert not problems, f"{a.aid}: audit chain broken: {problems}"
        refusals = self.store.audit_trail("")
        assert len(refusals) == self.model.request_refusals, (
            f"{len(refusals)} refused requests audited, the model expects {self.model.request_refusals}")

    @invariant()
    def an_active_credential_passed_every_step_in_order(self) -> None:
        """`active` implies request, email_sent, scan, verify_sms, set_pin, confirm_pin in order."""
        for a in self.model.activations.values():
            if a.state in ("active", "revoked") and any(e == "confirm_pin" and d == "active"
                                                         for e, _, d in a.history):
                events = iter(e for e, _, _ in a.history)
                assert all(step in events for step in MAIN_PATH), a.history

    @invariant()
    def counters_never_pass_their_bounds(self) -> None:
        """Attempts, mismatches, login failures and resends stay within their settings."""
        s = self.settings
        for a in self.model.activations.values():
            stored = self.store.get(a.aid)
            assert stored is not None
            assert stored.sms_attempts <= s.max_sms_attempts
            assert stored.pin_mismatches <= s.max_pin_mismatches
            assert stored.login_failures <= s.max_login_failures
            assert max(stored.email_resends, stored.sms_resends) <= s.max_resends

    @invariant()
    def terminal_states_absorb(self) -> None:
        """A terminal activation's history ends with the step that made it terminal."""
        for a in self.model.activations.values():
            status = self.service.status(a.aid)
            if status.state in ("expired", "locked", "cancelled", "failed", "revoked") and status.history:
                last = status.history[-1]
                assert status.state in (last.dest, "expired")

    @invariant()
    def no_raw_secret_anywhere(self) -> None:
        """No QR token, SMS code or PIN in records, outbox, audit, the store's `dump()`, logs or errors."""
        people = set(PEOPLE) | {e.email or "" for e in PEOPLE.values()} | {
            e.phone or "" for e in PEOPLE.values()}
        plain = " ".join(self.texts + self.logs.lines)
        for aid in self.model.activations:
            stored = self.store.get(aid)
            assert stored is not None
            record = asdict(stored)
            for opaque in ("id", "subject", "token_digest", "code_digest", "pin_candidate", "pin_hash",
                           "audit_head", "contacts"):
                record.pop(opaque)
            plain += repr(record)
            plain += " ".join(f"{e.action} {e.outcome} {e.reason}" for e in self.store.audit_trail(aid))
            plain += " ".join(m.payload.decode("latin-1") + m.last_error for m in self.store.outbox_of(aid))
        if isinstance(self.store, DumpableStore):
            dumped = self.store.dump()
            plain += " " + (dumped.decode("latin-1") if isinstance(dumped, bytes) else dumped)
        words = set(re.findall(r"[A-Za-z0-9]+", plain))  # a short secret counts only as a whole word
        for secret in self.secrets | (people - {""}):
            readable = secret in words if len(secret) <= 8 else secret in plain
            assert not readable, "a secret or a full contact is readable"

