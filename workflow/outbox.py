"""The outbox dispatcher: delivers committed messages, retries with back-off, gives up cleanly.

A message that no longer fits its activation is dropped unsent (the replacement notice
always fits); after the last attempt the flow records `delivery_failed`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from workflow.definition import Event, State
from workflow.domain import Activation, Change, Delivery, MessageKind, OutboxMessage
from workflow.errors import ConcurrencyConflict, DeliveryFailed, TransitionNotAllowed
from workflow.feed import deliver_event, feed_order, is_event
from workflow.messages import Email, Sms
from workflow.ports import Mailer, SmsGateway
from workflow.work import Work

if TYPE_CHECKING:
    from workflow.service import ActivationService

log = logging.getLogger("ecps.outbox")
RETRIES = 64
MAX_RETRY_AFTER = timedelta(hours=1)


class Dispatcher:
    """Sends due outbox messages through the mailer and the SMS gateway."""

    def __init__(self, service: ActivationService, mailer: Mailer, sms: SmsGateway) -> None:
        self.service = service
        self.mailer = mailer
        self.sms = sms

    def dispatch(self, limit: int = 100) -> int:
        """Deliver up to `limit` due messages; returns how many were sent."""
        svc = self.service
        now = svc.now()
        claimed = svc.store.claim_outbox(now, limit, svc.settings.delivery_lease)
        events = sorted(filter(is_event, claimed), key=feed_order)
        sent = sum(self._deliver(message) for message in claimed if not is_event(message))
        return sent + sum(deliver_event(svc, message) for message in events)

    def fits(self, message: OutboxMessage, a: Activation | None, now: datetime) -> bool:
        """Whether the message still belongs to where its activation stands."""
        if message.kind == MessageKind.REPLACEMENT_NOTICE:
            return True
        if a is None or a.is_due(now):
            return False
        if message.kind == MessageKind.ACTIVATION_EMAIL:
            return a.state in (State.REQUESTED, State.EMAILED) and (
                message.generation == a.email_generation
            )
        return a.state == State.SCANNED and message.generation == a.sms_generation

    def _deliver(self, message: OutboxMessage) -> int:
        svc = self.service
        now = svc.now()
        a = svc.store.get(message.activation_id)
        if not self.fits(message, a, now):
            self._finish(message, Delivery.DROPPED, now)
            return 0
        try:
            self._send(message)
        except DeliveryFailed as exc:
            self._failed(message, now, exc)
            return 0
        except Exception as exc:  # an adapter that did not translate its error
            self._failed(message, now, DeliveryFailed(type(exc).__name__, transient=True))
            return 0
        self._finish(replace(message, attempts=message.attempts + 1), Delivery.SENT, svc.now())
        return 1

    def _send(self, message: OutboxMessage) -> None:
        svc = self.service
        content: dict[str, str] = json.loads(svc.keys.unseal(message.payload))
        if message.kind == MessageKind.SMS_CODE:
            minutes = int(svc.settings.sms_code_validity.total_seconds() // 60)
            self.sms.send(Sms(content["to"], svc.templates.sms_text(content["code"], minutes),
                              message.id))
            return
        if message.kind == MessageKind.ACTIVATION_EMAIL:
            minutes = int(svc.settings.qr_token_validity.total_seconds() // 60)
            email = svc.templates.activation_email(content["to"], content["name"],
                                                   content["payload"], minutes)
        else:
            email = svc.templates.replacement_notice(content["to"], content["name"])
        self.mailer.send(_with_id(email, message.id))

    def _failed(self, message: OutboxMessage, now: datetime, exc: DeliveryFailed) -> None:
        s = self.service.settings
        attempts = message.attempts + 1
        log.warning("outbox %s: attempt %d failed (%s)", message.id, attempts,
                    "transient" if exc.transient else "permanent")
        if exc.transient and attempts < s.delivery_attempts:
            wait = s.delivery_backoff * 2 ** (attempts - 1)
            asked = getattr(exc, "retry_after", None)
            if isinstance(asked, int) and asked > 0:
                wait = max(wait, min(timedelta(seconds=asked), MAX_RETRY_AFTER))
            retry = replace(message, attempts=attempts, claimed_until=None, due_at=now + wait,
                            last_error=type(exc).__name__)
            self._commit_outbox(retry)
            return
        self._finish(replace(message, attempts=attempts, last_error=type(exc).__name__),
                     Delivery.ABANDONED, now)

    def _finish(self, message: OutboxMessage, status: Delivery, now: datetime) -> None:
        """Mark the message done and record what it means for the flow, in one commit."""
        svc = self.service
        done = replace(message, status=status, payload=b"", claimed_until=None)
        for _ in range(RETRIES):
            a = svc.store.get(message.activation_id)
            event = self._consequence(message, status, a, now)
            if a is None or event is None:
                self._commit_outbox(done)
                return
            w = Work(a, a.version, now, event, "dispatcher")
            try:
                w.take(svc.workflow, svc.keys, event, reason=f"outbox {status}")
            except TransitionNotAllowed:
                self._commit_outbox(done)
                return
            if event == Event.DELIVERY_FAILED:
                a.closed_reason, a.step_deadline = f"{message.channel} undeliverable", None
            change = w.change()
            try:
                svc.store.commit(svc._fed(Change(change.writes, (done,), change.audit), now))
            except ConcurrencyConflict:
                continue
            svc._published(w)
            return
        log.warning("outbox %s: could not record its outcome (%s); it is retried when its claim lapses",
                    message.id, status)

    def _consequence(self, message: OutboxMessage, status: Delivery, a: Activation | None,
                     now: datetime) -> Event | None:
        if a is None or status == Delivery.DROPPED or not self.fits(message, a, now):
            return None
        if status == Delivery.ABANDONED:
            return Event.DELIVERY_FAILED
        if message.kind == MessageKind.ACTIVATION_EMAIL and a.state == State.REQUESTED:
            return Event.EMAIL_SENT
        return None

    def _commit_outbox(self, message: OutboxMessage) -> None:
        self.service.store.commit(Change(outbox=(message,)))


def _with_id(email: Email, message_id: str) -> Email:
    return replace(email, message_id=message_id)

