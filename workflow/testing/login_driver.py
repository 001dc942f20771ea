"""`LoginDriver`: plays the portal, the phone, the dispatcher and the sweeper for the login's replay.

Each run is a fresh world: a real `ActivationService` over the store `make_store` gives, an
active credential made through the activation's own steps, and the login a portal starts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from workflow.domain import Delivery, MessageKind
from workflow.engine import Outcome
from workflow.errors import SlowDown, TransitionNotAllowed, WorkflowError
from workflow.login import LOGIN_DEFINITION, LoginState
from workflow.login.record import Login
from workflow.messages import Push
from workflow.ports import Store
from workflow.service import ActivationService
from workflow.settings import Settings
from workflow.testing.activation_driver import NATIONAL_ID, ActivationDriver, conformance_settings
from workflow.testing.conformance import ClockedDriver, Observed, Recorder
from workflow.testing.pins import driver_pins


class LoginDriver(ClockedDriver):
    """One login of an active professional on a fresh service; `act` answers each event."""

    system = frozenset({"push_sent", "expire", "delivery_failed"})
    wrong_answers = frozenset({"approve"})

    def __init__(self, make_store: Callable[[], Store], settings: Settings | None = None) -> None:
        self.make_store = make_store
        self.settings = settings or conformance_settings()
        self.pin, self.other_pin, _ = driver_pins(self.settings.pin_length)
        self.login_id = ""

    def start(self) -> None:
        """A fresh world with an active credential, and the login a portal starts for it."""
        activation = ActivationDriver(self.make_store, self.settings)
        activation.start()
        for event in ("email_sent", "scan", "verify_sms", "set_pin", "confirm_pin"):
            assert activation.act(event, Outcome.OK) is None, event
        self.clock, self.store = activation.clock, activation.store
        self.pushes = Recorder[Push]()
        self.service = ActivationService(store=self.store, mailer=activation.mailer,
                                         sms=activation.sms, directory=activation.service.directory,
                                         clock=self.clock, settings=self.settings, push=self.pushes)
        self.login_id = self.service.start_login(
            NATIONAL_ID, client_id="portal", client_name="Portail", binding_message="A7-3F").login_id

    def observe(self) -> Observed:
        g = self._login()
        return Observed(str(g.state), {}, {dl.attribute: getattr(g, dl.attribute)
                                           for dl in LOGIN_DEFINITION.deadlines})

    def act(self, event: str, outcome: str) -> WorkflowError | None:
        """Give `event` a right answer (`ok`) or a well-formed wrong PIN; the error raised, if any."""
        lid, svc = self.login_id, self.service
        actions: dict[str, Callable[[bool], object]] = {
            "push_sent": lambda _: svc.dispatch(),
            "approve": lambda right: svc.approve_login(lid, self.pin if right else self.other_pin),
            "deny": lambda _: svc.deny_login(lid),
            "cancel": lambda _: svc.cancel_login(lid),
            "collect": lambda _: self._collect(),
            "withdraw": lambda _: self._withdrawn(),
            "expire": lambda _: svc.expire_due(),
            "delivery_failed": lambda _: self._gave_up(),
        }
        return self.answer(actions, event, outcome)

    def _collect(self) -> None:
        """The portal polls; a poll that gets no assertion did not collect."""
        result = self.service.login_result(self.login_id)
        if result.state != LoginState.COMPLETED or result.assertion is None:
            raise TransitionNotAllowed(str(result.state), "collect")

    def _withdrawn(self) -> None:
        """The credential is revoked; the portal's next poll finds it gone (after the pause
        between polls, when it polled just before)."""
        before = self._login()
        credential = before.activation_id
        if self.service.status(credential).state == "active":
            self.service.revoke(credential)
        try:
            result = self.service.login_result(self.login_id)
        except SlowDown as early:
            self.clock.advance(timedelta(seconds=early.retry_after))
            result = self.service.login_result(self.login_id)
        if result.state != LoginState.DENIED or before.state == LoginState.DENIED:
            raise TransitionNotAllowed(str(result.state), "withdraw")  # ended before, or otherwise

    def _gave_up(self) -> None:
        """The outbox gives up on the login's push (the dispatcher's callback)."""
        for m in self.store.outbox_of(self.login_id):
            if m.kind == MessageKind.LOGIN_PUSH:
                done = replace(m, status=Delivery.ABANDONED, payload=b"", claimed_until=None)
                self.service.settle(done, self.clock.now())

    def _login(self) -> Login:
        g = self.service.logins.store.get_login(self.login_id)
        assert g is not None, f"login {self.login_id} vanished from the store"
        return g
