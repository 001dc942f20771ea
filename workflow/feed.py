"""Delivery of the durable event feed: outbox rows of domain events, handed to the `EventSink`.

At-least-once, in order per activation (an event waits while an earlier one of its
activation is pending), retried with back-off capped at `MAX_BACKOFF`, never given up on
a transient failure; a permanent one is abandoned and logged (its row keeps the event).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta

from workflow.domain import Change, Delivery, MessageKind, OutboxMessage
from workflow.errors import DeliveryFailed
from workflow.events import from_json
from workflow.ports import EventSink, Store
from workflow.settings import Settings

log = logging.getLogger("ecps.feed")
MAX_BACKOFF = timedelta(hours=1)


def is_event(message: OutboxMessage) -> bool:
    """Whether the outbox row belongs to the event feed."""
    return message.kind == MessageKind.DOMAIN_EVENT


def deliver_event(store: Store, sink: EventSink | None, settings: Settings, now: datetime,
                  message: OutboxMessage) -> int:
    """Publish one claimed event row through `sink`; 1 if it was accepted."""
    if sink is None:
        log.warning("outbox %s: an event is due but the service has no sink; kept", message.id)
        _save(store, replace(message, claimed_until=None, due_at=now + settings.delivery_lease))
        return 0
    blocker = _earlier_pending(store.outbox_of(message.activation_id), message)
    if blocker is not None:
        _save(store, replace(message, claimed_until=None,  # behind what is due already
                               due_at=max(message.due_at, blocker.due_at, now)))
        return 0
    try:
        event = from_json(message.payload)
    except ValueError:
        _give_up(store, message, "unreadable event row")
        return 0
    try:
        sink.publish(event)
    except DeliveryFailed as exc:
        _failed(store, settings, message, now, exc)
        return 0
    except Exception as exc:  # a sink that did not translate its error
        _failed(store, settings, message, now, DeliveryFailed(type(exc).__name__, transient=True))
        return 0
    _save(store, replace(message, attempts=message.attempts + 1, status=Delivery.SENT,
                           payload=b"", claimed_until=None))
    return 1


def _earlier_pending(rows: list[OutboxMessage], message: OutboxMessage) -> OutboxMessage | None:
    earlier = [m for m in rows if is_event(m) and m.status == Delivery.PENDING
               and m.generation < message.generation]
    return min(earlier, key=lambda m: m.generation) if earlier else None


def _failed(store: Store, settings: Settings, message: OutboxMessage, now: datetime,
            exc: DeliveryFailed) -> None:
    attempts = message.attempts + 1
    if not exc.transient:
        _give_up(store, replace(message, attempts=attempts), type(exc).__name__)
        return
    delay = min(MAX_BACKOFF, settings.delivery_backoff * 2 ** min(attempts - 1, 20))
    log.warning("outbox %s: event attempt %d failed (%s); next in %s", message.id, attempts,
                type(exc).__name__, delay)
    _save(store, replace(message, attempts=attempts, claimed_until=None, due_at=now + delay,
                           last_error=type(exc).__name__))


def _give_up(store: Store, message: OutboxMessage, reason: str) -> None:
    log.error("outbox %s: event of activation %s abandoned (%s)", message.id,
              message.activation_id, reason)
    _save(store, replace(message, status=Delivery.ABANDONED, claimed_until=None,
                           last_error=reason))


def _save(store: Store, message: OutboxMessage) -> None:
    store.commit(Change(outbox=(message,)))
