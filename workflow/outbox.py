"""The outbox dispatcher: delivers committed messages, retries with back-off, gives up cleanly.

It takes the ports it needs and asks a `Deliveries` (the workflow) whether a message still
fits its flow and what its outcome means for it: a message that no longer fits is dropped
unsent; after the last attempt the flow records its delivery failure.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from workflow.domain import Change, Delivery, MessageKind, OutboxMessage
from workflow.errors import DeliveryFailed
from workflow.feed import deliver_event, is_event
from workflow.messages import Email, Push, Sms
from workflow.ports import EventSink, Mailer, PushGateway, SmsGateway, Store
from workflow.security import Keyring
from workflow.settings import Settings
from workflow.templates import Templates, minutes_of

log = logging.getLogger("ecps.outbox")
MAX_RETRY_AFTER = timedelta(hours=1)


class Deliveries(Protocol):
    """What the dispatcher asks the workflow about the messages it delivers."""

    def fits(self, message: OutboxMessage, now: datetime) -> bool:
        """Whether the message still belongs to where its flow stands."""
        ...

    def settle(self, message: OutboxMessage, now: datetime) -> None:
        """Commit the finished `message` with what its outcome means for its flow, at once."""
        ...


class Dispatcher:
    """Sends due outbox messages through the mailer and the SMS gateway (events to the sink)."""

    def __init__(self, *, store: Store, keys: Keyring, templates: Templates, settings: Settings,
                 now: Callable[[], datetime], mailer: Mailer, sms: SmsGateway, flows: Deliveries,
                 sink: EventSink | None = None, push: PushGateway | None = None) -> None:
        self.store = store
        self.push = push
        self.keys = keys
        self.templates = templates
        self.settings = settings
        self.now = now
        self.mailer = mailer
        self.sms = sms
        self.flows = flows
        self.sink = sink

    def dispatch(self, limit: int = 100) -> int:
        """Deliver up to `limit` due messages, claiming each just before its delivery; how many were sent.

        A claim leases one message, so the lease covers that message's own delivery: however
        slow the ones before it were, no other dispatcher takes it while it is being sent. A
        message that comes back in the same round (an event put back behind an earlier one of
        its activation) ends the round.
        """
        sent, seen = 0, set[str]()
        for _ in range(limit):
            claimed = self.store.claim_outbox(self.now(), 1, self.settings.delivery_lease)
            if not claimed:
                break
            message = claimed[0]
            if is_event(message):
                sent += deliver_event(self.store, self.sink, self.settings, self.now(), message)
            else:
                sent += self._deliver(message)
            if message.id in seen:
                break
            seen.add(message.id)
        return sent

    def _deliver(self, message: OutboxMessage) -> int:
        now = self.now()
        if not self.flows.fits(message, now):
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
        self._finish(replace(message, attempts=message.attempts + 1), Delivery.SENT, self.now())
        return 1

    def _send(self, message: OutboxMessage) -> None:
        content: dict[str, str] = json.loads(self.keys.unseal(message.payload))
        if message.kind == MessageKind.LOGIN_PUSH:
            if self.push is None:
                raise DeliveryFailed("no push gateway is configured", transient=False)
            self.push.send(Push(content["to"], content["login_id"], content["client_name"],
                                content["binding_message"], message.id))
            return
        if message.kind == MessageKind.SMS_CODE:
            minutes = minutes_of(self.settings.sms_code_validity)
            self.sms.send(Sms(content["to"], self.templates.sms_text(content["code"], minutes),
                              message.id))
            return
        if message.kind == MessageKind.ACTIVATION_EMAIL:
            minutes = minutes_of(self.settings.qr_token_validity)
            email = self.templates.activation_email(content["to"], content["name"],
                                                    content["payload"], minutes)
        else:
            email = self.templates.replacement_notice(content["to"], content["name"])
        self.mailer.send(_with_id(email, message.id))

    def _failed(self, message: OutboxMessage, now: datetime, exc: DeliveryFailed) -> None:
        s = self.settings
        attempts = message.attempts + 1
        log.warning("outbox %s: attempt %d failed (%s)", message.id, attempts,
                    "transient" if exc.transient else "permanent")
        if exc.transient and attempts < s.delivery_attempts:
            wait = s.delivery_backoff * 2 ** (attempts - 1)
            asked = getattr(exc, "retry_after", None)
            if isinstance(asked, int) and asked > 0:
                wait = max(wait, timedelta(seconds=min(asked, MAX_RETRY_AFTER.total_seconds())))
            retry = replace(message, attempts=attempts, claimed_until=None, due_at=now + wait,
                            last_error=type(exc).__name__)
            self.store.commit(Change(outbox=(retry,)))
            return
        self._finish(replace(message, attempts=attempts, last_error=type(exc).__name__),
                     Delivery.ABANDONED, now)

    def _finish(self, message: OutboxMessage, status: Delivery, now: datetime) -> None:
        """Mark the message done (payload erased) and let the flow record what it means."""
        self.flows.settle(replace(message, status=status, payload=b"", claimed_until=None), now)


def _with_id(email: Email, message_id: str) -> Email:
    return replace(email, message_id=message_id)


FIRST_PAUSE = 0.01
"""Seconds of the first pause after a round that sent nothing; each next one doubles."""


@dataclass(slots=True)
class Rounds:
    """What a `DispatchLoop` did so far."""

    sent: int = 0
    expired: int = 0
    rounds: int = 0


class DispatchLoop:
    """Delivers batch after batch with no pause while rounds send; pauses only when one sent nothing.

    A pause starts at `first_pause` seconds and doubles up to `longest_pause`; `wake` (for
    instance a listener told of each committed step) ends it at once. Due activations are
    expired when a round sent nothing, and at least every `expire_every` seconds.
    """

    def __init__(self, dispatch: Callable[[], int], expire: Callable[[], int], *,
                 longest_pause: float = 1.0, first_pause: float = FIRST_PAUSE,
                 expire_every: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.dispatch = dispatch
        self.expire = expire
        self.first_pause = first_pause
        self.longest_pause = max(longest_pause, first_pause)
        self.expire_every = expire_every
        self.clock = clock
        self.done = Rounds()
        self._bell = threading.Event()
        self._stopped = False

    def wake(self, *_: object) -> None:
        """End the current pause now (callable as a listener)."""
        self._bell.set()

    def stop(self) -> None:
        """Make `run` return after the round under way."""
        self._stopped = True
        self._bell.set()

    def run(self, duration: float | None = None, *, survive: bool = False,
            after_round: Callable[[Rounds], object] | None = None) -> Rounds:
        """Loop until `stop` (or `duration` seconds); `survive` logs a failed round and pauses."""
        start = self.clock()
        end = None if duration is None else start + duration
        pause, expired_at = self.first_pause, start - self.expire_every
        while not self._stopped and (end is None or self.clock() < end):
            self._bell.clear()
            try:
                sent = self.dispatch()
                self.done.sent += sent
                if not sent or self.clock() - expired_at >= self.expire_every:
                    expired_at = self.clock()
                    self.done.expired += self.expire()
            except Exception:
                if not survive:
                    raise
                log.exception("dispatch round failed")
                sent = 0  # pause before trying again
            self.done.rounds += 1
            if after_round is not None:
                after_round(self.done)
            if sent:
                pause = self.first_pause
                continue
            if self._stopped:
                break
            self.rest(pause if end is None else min(pause, max(0.0, end - self.clock())))
            pause = min(2 * pause, self.longest_pause)
        return self.done

    def rest(self, seconds: float) -> None:
        """Pause up to `seconds`, less if woken or stopped."""
        self._bell.wait(seconds)
