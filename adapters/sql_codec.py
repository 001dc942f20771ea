"""Converts the SQL store's rows to and from the domain records; unreadable rows are errors."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any, TypeVar

from workflow.definition import State
from workflow.domain import Activation, AuditEvent, Channel, Delivery, MessageKind, OutboxMessage, Step
from workflow.errors import StorageError

T = TypeVar("T")
_PLAIN = tuple(f.name for f in fields(Activation) if f.name not in ("state", "history"))
_OUTBOX = tuple(f.name for f in fields(OutboxMessage) if f.name not in ("kind", "channel", "status"))
_AUDIT = tuple(f.name for f in fields(AuditEvent))
_STATES: dict[str | None, State] = {s.value: s for s in State}
_SOURCES: dict[str | None, State | None] = {None: None, **_STATES}


def activation_row(a: Activation) -> dict[str, Any]:
    """The column values that store `a`."""
    row = {name: getattr(a, name) for name in _PLAIN}
    row["state"] = str(a.state)
    row["history"] = json.dumps([[s.event, s.source, s.dest, _utc(s.at).isoformat()]
                                 for s in a.history], separators=(",", ":"))
    row["due_at"] = a.due_at()
    return row


def activation(row: Mapping[Any, Any]) -> Activation:
    """The activation a row stores."""
    return _read("activation", row, _activation)


def outbox_row(m: OutboxMessage) -> dict[str, Any]:
    """The column values that store `m` (its position `n` is the store's)."""
    row = {name: getattr(m, name) for name in _OUTBOX}
    row.update(kind=str(m.kind), channel=str(m.channel), status=str(m.status))
    return row


def outbox(row: Mapping[Any, Any]) -> OutboxMessage:
    """The outbox message a row stores."""
    return _read("outbox message", row, _outbox)


def audit_row(e: AuditEvent) -> dict[str, Any]:
    """The column values that store `e`."""
    return {name: getattr(e, name) for name in _AUDIT}


def audit(row: Mapping[Any, Any]) -> AuditEvent:
    """The audit event a row stores."""
    return _read("audit event", row, _audit)


def _activation(row: Mapping[Any, Any]) -> Activation:
    steps = json.loads(row["history"])
    if not isinstance(steps, list):
        raise TypeError("history is not a list")
    history = [Step(str(event), _SOURCES[source], _STATES[dest], _utc(datetime.fromisoformat(at)))
               for event, source, dest, at in steps]
    a = Activation(state=_STATES[row["state"]], history=history,
                   **{name: row[name] for name in _PLAIN})
    if not isinstance(a.contacts, bytes):
        a.contacts = bytes(a.contacts)
    for name in ("version", "audit_seq", "sms_attempts"):
        if type(getattr(a, name)) is not int:
            raise TypeError(f"{name} is not an integer")
    return a


def _outbox(row: Mapping[Any, Any]) -> OutboxMessage:
    m = OutboxMessage(kind=MessageKind(row["kind"]), channel=Channel(row["channel"]),
                      status=Delivery(row["status"]), **{name: row[name] for name in _OUTBOX})
    if not isinstance(m.payload, bytes):
        m.payload = bytes(m.payload)
    return m


def _audit(row: Mapping[Any, Any]) -> AuditEvent:
    return AuditEvent(**{name: row[name] for name in _AUDIT})


def _utc(at: datetime) -> datetime:
    if at.tzinfo is UTC:
        return at
    if at.utcoffset() is None:
        raise ValueError("stored times must be timezone-aware (a history step has none)")
    return at.astimezone(UTC)


def _read(what: str, row: Mapping[Any, Any], convert: Callable[[Mapping[Any, Any]], T]) -> T:
    try:
        return convert(row)
    except (ValueError, TypeError, KeyError) as exc:
        ident = row.get("id") or row.get("activation_id") or "?"
        raise StorageError(f"{what} {ident}: the stored row is unreadable "
                           f"({type(exc).__name__}); the database is damaged") from exc
