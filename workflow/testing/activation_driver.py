"""`ActivationDriver`: plays the professional, the dispatcher and the sweeper for the conformance replay.

It knows how to give each event of the activation a right or a well-formed wrong answer on a
real `ActivationService` over the store given by `make_store` and a `FakeClock`.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import replace

from workflow.definition import DEFINITION
from workflow.domain import Activation, Delivery, MessageKind, OutboxMessage
from workflow.errors import WorkflowError
from workflow.messages import DirectoryEntry, Email, Sms
from workflow.ports import Store
from workflow.service import ActivationService
from workflow.settings import Settings
from workflow.testing.clock import FakeClock
from workflow.testing.conformance import ClockedDriver, Observed, Recorder
from workflow.testing.phone import code_from, payload_from
from workflow.testing.pins import driver_pins

NATIONAL_ID = "899700366240"
PIN, OTHER_PIN, WEAK_PIN = driver_pins(4)  # at the default length; a driver uses its settings' own


class _Directory:
    def lookup(self, national_id: str) -> DirectoryEntry | None:
        if national_id != NATIONAL_ID:
            return None
        return DirectoryEntry(national_id, "jane.doe@domain.fr", "0612345678", "Dr Jane Doe")


def conformance_settings() -> Settings:
    """Default bounds and deadlines, a test key and the cheapest PIN hash."""
    return Settings(secret_key="conformance-" + "c" * 24, argon2_memory_kib=64,
                    argon2_time_cost=1, argon2_parallelism=1)


class ActivationDriver(ClockedDriver):
    """One professional's activation on a fresh service; `act` answers each event right or wrong."""

    system = frozenset({"email_sent", "expire", "delivery_failed"})
    wrong_answers = frozenset({"scan", "verify_sms", "set_pin", "confirm_pin", "authenticate"})

    def __init__(self, make_store: Callable[[], Store], settings: Settings | None = None) -> None:
        self.make_store = make_store
        self.settings = settings or conformance_settings()
        self.pin, self.other_pin, self.weak_pin = driver_pins(self.settings.pin_length)
        self.aid = ""

    def start(self) -> None:
        """A fresh world, and the activation its `request` creates."""
        self.clock = FakeClock()
        self.mailer, self.sms = Recorder[Email | Sms](), Recorder[Email | Sms]()
        self.store = self.make_store()
        self.service = ActivationService(store=self.store, mailer=self.mailer, sms=self.sms,
                                         directory=_Directory(), clock=self.clock,
                                         settings=self.settings)
        self.aid = self.service.request(NATIONAL_ID).activation_id

    def observe(self) -> Observed:
        a = self._activation()
        return Observed(str(a.state), {c.name: a.counter(c.name) for c in DEFINITION.counters},
                        {dl.attribute: getattr(a, dl.attribute) for dl in DEFINITION.deadlines})

    def act(self, event: str, outcome: str) -> WorkflowError | None:
        """Give `event` a right answer (`ok`) or a well-formed wrong one; the error raised, if any."""
        actions: dict[str, Callable[[bool], object]] = {
            "email_sent": lambda _: self.service.dispatch(),
            "scan": lambda right: self.service.scan(self.aid, self._payload(right)),
            "resend_email": lambda _: self._after_cooldown(self.service.resend_email),
            "resend_sms": lambda _: self._after_cooldown(self.service.resend_sms),
            "verify_sms": lambda right: self.service.verify_sms(self.aid, self._code(right)),
            "set_pin": lambda right: self.service.set_pin(self.aid, self.pin if right else self.weak_pin),
            "confirm_pin": lambda right: self.service.confirm_pin(
                self.aid, self.pin if right else self.other_pin),
            "authenticate": lambda right: self.service.authenticate(
                self.aid, self.pin if right else self.other_pin),
            "cancel": lambda _: self.service.cancel(self.aid),
            "revoke": lambda _: self.service.revoke(self.aid, "deleted"),
            "expire": lambda _: self.service.expire_due(),
            "delivery_failed": lambda _: self._gave_up(),
        }
        return self.answer(actions, event, outcome)

    # -- what the phone reads ----------------------------------------------------------------------

    def _payload(self, right: bool) -> str:
        """The newest QR payload: from an e-mail not yet sent if there is one, else the last received."""
        pending = self._pending(MessageKind.ACTIVATION_EMAIL)
        if pending is not None:
            payload = str(pending["payload"])
        elif self.mailer.sent:
            payload = payload_from(self._last_email())
        else:
            payload = f"{self.service.deep_link_base}?a={self.aid}&t={secrets.token_urlsafe(16)}"
        return payload if right else payload.rsplit("&t=", 1)[0] + "&t=" + secrets.token_urlsafe(16)

    def _code(self, right: bool) -> str:
        digits = self.settings.sms_code_digits
        pending = self._pending(MessageKind.SMS_CODE)
        if pending is not None:
            code = str(pending["code"])
        elif self.sms.sent:
            code = code_from(self._last_sms(), digits)
        else:
            code = "0" * digits
        return code if right else str((int(code) + 1) % 10 ** digits).zfill(digits)

    def _pending(self, kind: MessageKind) -> dict[str, object] | None:
        rows = [m for m in self.store.outbox_of(self.aid) if m.kind == kind and m.payload]
        if not rows:
            return None
        content: dict[str, object] = json.loads(self.service.keys.unseal(rows[-1].payload))
        return content

    def _last_email(self) -> Email:
        found = self.mailer.sent[-1]
        assert isinstance(found, Email)
        return found

    def _last_sms(self) -> Sms:
        found = self.sms.sent[-1]
        assert isinstance(found, Sms)
        return found

    # -- the dispatcher's and the user's timing --------------------------------------------------

    def _after_cooldown(self, resend: Callable[[str], object]) -> object:
        self.clock.advance(self.settings.resend_cooldown)
        return resend(self.aid)

    def _gave_up(self) -> None:
        """The outbox gives up on the newest message of each channel (the dispatcher's callback)."""
        for kind in (MessageKind.ACTIVATION_EMAIL, MessageKind.SMS_CODE):
            rows: list[OutboxMessage] = [m for m in self.store.outbox_of(self.aid) if m.kind == kind]
            if rows:
                done = replace(rows[-1], status=Delivery.ABANDONED, payload=b"", claimed_until=None)
                self.service.settle(done, self.clock.now())

    def _activation(self) -> Activation:
        a = self.store.get(self.aid)
        assert a is not None, f"activation {self.aid} vanished from the store"
        return a
