"""The login against a plain reference model: starts, pushes, approvals with right and wrong PINs
(shared with `authenticate`), denials, cancels, polls and time passing, one call after another
and two calls at once (the outcome must be one of the two serial orders)."""

from __future__ import annotations

import copy
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from adapters.memory import MemoryMailer, MemoryPush, MemorySms, MemoryStore, StaticDirectory
from adapters.sql import SqlStore
from tests.conftest import NID, Driver, fast_settings, people
from workflow import ActivationService, WorkflowError
from workflow.ports import Store
from workflow.testing import FakeClock

PIN, WRONG = "4821", "1397"
PORTAL = {"client_id": "portail", "client_name": "Portail", "binding_message": "A7-3F"}
WAITING, IN_FLIGHT = {"requested", "notified"}, {"requested", "notified", "approved"}
VALIDITY, POLL = timedelta(minutes=2), timedelta(seconds=5)


@dataclass
class Model:
    """What the rules say, written plainly: the credential's count and each login's state."""

    failures: int = 0
    locked: bool = False
    logins: dict[str, list[object]] = field(default_factory=dict)  # id: [state, expires, last poll]
    starts: list[datetime] = field(default_factory=list)

    def _expired(self, lid: str, now: datetime) -> bool:
        g = self.logins[lid]
        if g[0] in IN_FLIGHT and now >= g[1]:  # type: ignore[operator]
            g[0] = "expired"
            return True
        return g[0] == "expired"

    def start(self, lid: str, now: datetime) -> str:
        if len([t for t in self.starts if t >= now - timedelta(minutes=10)]) >= 10:  # the bound counts
            return "TooManyRequests"
        if self.locked:
            return "NotEligible"
        self.starts.append(now)
        self.logins[lid] = ["requested", now + VALIDITY, None]
        return "ok"

    def dispatch(self, now: datetime) -> None:
        for g in self.logins.values():
            if g[0] == "requested" and now < g[1]:  # type: ignore[operator]
                g[0] = "notified"

    def approve(self, lid: str, right: bool, now: datetime) -> str:
        if self._expired(lid, now):
            return "ActivationExpired"
        g = self.logins[lid]
        if g[0] not in WAITING:
            return "TransitionNotAllowed"
        if self.locked:
            g[0] = "denied"
            return "ActivationLocked"
        if right:
            self.failures, g[0] = 0, "approved"
            return "ok"
        self.failures += 1
        if self.failures >= 10:
            self.locked, g[0] = True, "denied"
            return "ActivationLocked"
        return "VerificationFailed"

    def authenticate(self, right: bool) -> str:
        if self.locked:
            return "ActivationLocked"
        if right:
            self.failures = 0
            return "ok"
        self.failures += 1
        if self.failures >= 10:
            self.locked = True
            return "ActivationLocked"
        return "VerificationFailed"

    def end(self, lid: str, to: str, now: datetime) -> str:
        if self._expired(lid, now):
            return "ActivationExpired"
        g = self.logins[lid]
        if g[0] not in (IN_FLIGHT if to == "denied" else WAITING):  # an approval can be withdrawn
            return "TransitionNotAllowed"
        g[0] = to
        return "ok"

    def poll(self, lid: str, now: datetime) -> str:
        g = self.logins[lid]
        if g[0] == "completed":
            return "AlreadyUsed"
        if g[2] is not None and now < g[2] + POLL:  # type: ignore[operator]
            return "SlowDown"
        g[2] = now
        if g[0] in IN_FLIGHT and now >= g[1]:  # type: ignore[operator]
            g[0] = "expired"
        elif g[0] in IN_FLIGHT and self.locked:  # locked elsewhere: the poll ends it, approved too
            g[0] = "denied"
        elif g[0] == "approved":
            g[0] = "completed"
        return "ok"


def _outcome(call: object) -> str:
    try:
        call()  # type: ignore[operator]
    except WorkflowError as exc:
        return type(exc).__name__
    return "ok"


class LoginMachine(RuleBasedStateMachine):
    """Drives the service and the model with the same calls and compares them after each."""

    make_store: Callable[[], Store] = MemoryStore

    @initialize()
    def activate(self) -> None:
        self.clock = FakeClock()
        mailer, sms = MemoryMailer(), MemorySms()
        self.store = type(self).make_store()
        self.svc = ActivationService(store=self.store, mailer=mailer, sms=sms, push=MemoryPush(),
                                     directory=StaticDirectory(people()), clock=self.clock,
                                     settings=fast_settings())
        self.aid = Driver(self.svc, mailer, sms).reach("active", pin=PIN)
        self.model = Model()
        self.ids: list[str] = []

    def _call(self, name: str, lid: str, right: bool = True) -> object:
        svc = self.svc
        return {"approve": lambda: svc.approve_login(lid, PIN if right else WRONG),
                "deny": lambda: svc.deny_login(lid), "cancel": lambda: svc.cancel_login(lid),
                "poll": lambda: svc.login_result(lid)}[name]

    def _expect(self, model: Model, name: str, lid: str, right: bool, now: datetime) -> str:
        if name == "approve":
            return model.approve(lid, right, now)
        if name == "poll":
            return model.poll(lid, now)
        return model.end(lid, "denied" if name == "deny" else "cancelled", now)

    @rule()
    def a_portal_starts_a_login(self) -> None:
        now = self.clock.now()
        try:
            lid = self.svc.start_login(NID, **PORTAL).login_id
            got = "ok"
        except WorkflowError as exc:
            lid, got = "", type(exc).__name__
        assert got == self.model.start(lid, now)
        if lid:
            self.ids.append(lid)

    @rule()
    def the_outbox_sends_the_pushes(self) -> None:
        self.model.dispatch(self.clock.now())
        self.svc.dispatch()

    @precondition(lambda self: self.ids)
    @rule(data=st.data(), name=st.sampled_from(["approve", "deny", "cancel", "poll"]),
          right=st.booleans())
    def the_phone_or_the_portal_acts(self, data: st.DataObject, name: str, right: bool) -> None:
        lid = data.draw(st.sampled_from(self.ids))
        expected = self._expect(self.model, name, lid, right, self.clock.now())
        assert _outcome(self._call(name, lid, right)) == expected

    @rule(right=st.booleans())
    def the_professional_authenticates(self, right: bool) -> None:
        self._authenticate(right)

    def _authenticate(self, right: bool) -> None:
        expected = self.model.authenticate(right)
        assert _outcome(lambda: self.svc.authenticate(self.aid, PIN if right else WRONG)) == expected

    @rule(data=st.data(), count=st.integers(1, 9))
    def wrong_pins_in_a_row(self, data: st.DataObject, count: int) -> None:
        for _ in range(count):
            if self.ids and data.draw(st.booleans()):
                lid = data.draw(st.sampled_from(self.ids))
                expected = self.model.approve(lid, False, self.clock.now())
                assert _outcome(self._call("approve", lid, right=False)) == expected
            else:
                self._authenticate(False)

    @precondition(lambda self: self.ids)
    @rule(data=st.data(), first=st.sampled_from(["approve", "deny", "cancel"]),
          second=st.sampled_from(["approve", "deny", "cancel"]), right=st.booleans())
    def two_calls_at_once(self, data: st.DataObject, first: str, second: str, right: bool) -> None:
        a, b = data.draw(st.sampled_from(self.ids)), data.draw(st.sampled_from(self.ids))
        now, got = self.clock.now(), ["", ""]
        barrier = threading.Barrier(2)

        def run(i: int, name: str, lid: str) -> None:
            barrier.wait()
            got[i] = _outcome(self._call(name, lid, right))

        threads = [threading.Thread(target=run, args=(0, first, a)),
                   threading.Thread(target=run, args=(1, second, b))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        orders = []
        for order in ((0, 1), (1, 0)):
            model = copy.deepcopy(self.model)
            calls = ((first, a), (second, b))
            outcomes = ["", ""]
            for i in order:
                outcomes[i] = self._expect(model, calls[i][0], calls[i][1], right, now)
            orders.append((outcomes, model))
        matching = [m for outcomes, m in orders if outcomes == got]
        assert matching, f"{got} is neither serial order {[o for o, _ in orders]}"
        self.model = matching[0]

    @rule(seconds=st.integers(0, 150))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(timedelta(seconds=seconds))

    @invariant()
    def the_credential_counts_what_the_model_counts(self) -> None:
        if not hasattr(self, "svc"):
            return
        status = self.svc.status(self.aid)
        assert status.counters["login_failures"] == self.model.failures
        assert (status.state == "locked") == self.model.locked
        event("credential locked" if self.model.locked else "credential active")

    @invariant()
    def each_login_stands_where_the_model_says(self) -> None:
        if not hasattr(self, "svc"):
            return
        now = self.clock.now()
        for lid, (state, expires, _) in self.model.logins.items():
            g = self.svc.logins.store.get_login(lid)
            assert g is not None
            shown = "expired" if state in IN_FLIGHT and now >= expires else state  # type: ignore[operator]
            stored = "expired" if g.state in IN_FLIGHT and now >= g.expires_at else str(g.state)  # type: ignore[operator]
            assert stored == shown, (lid, stored, shown)


    def teardown(self) -> None:
        close = getattr(getattr(self, "store", None), "close", None)
        if close is not None:
            close()


LoginMachine.TestCase.settings = settings(max_examples=30, stateful_step_count=30, deadline=None,
                                          suppress_health_check=list(HealthCheck))
TestLoginMachine = LoginMachine.TestCase
_FILES = tempfile.TemporaryDirectory(prefix="ecps-login-machine-")
_SERIAL = iter(range(1, 10**9))


class SqliteLoginMachine(LoginMachine):
    """The same machine over SqlStore, each example on a fresh SQLite file."""

    @staticmethod
    def make_store() -> Store:
        return SqlStore(f"sqlite:///{Path(_FILES.name) / f'login-{next(_SERIAL)}.db'}")


SqliteLoginMachine.TestCase.settings = settings(max_examples=8, stateful_step_count=25,
                                                deadline=None, suppress_health_check=list(HealthCheck))
TestLoginMachineOnSqlite = SqliteLoginMachine.TestCase
