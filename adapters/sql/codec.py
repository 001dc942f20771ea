"""Converts the SQL store's rows to and from the domain records; unreadable rows are errors."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from datetime import datetime
from typing import Any, TypeVar

from adapters.sql.schema import ACTIVATIONS, AUDIT, OUTBOX, UtcDateTime
from workflow.definition import State
from workflow.domain import (
    Activation,
    Answer,
    AuditEvent,
    Channel,
    Delivery,
    MessageKind,
    OutboxMessage,
    Step,
)
from workflow.errors import StorageError

T = TypeVar("T")
_PLAIN = tuple(f.name for f in fields(Activation) if f.name != "state")
_OUTBOX = tuple(f.name for f in fields(OutboxMessage) if f.name not in ("kind", "channel", "status"))
_AUDIT = tuple(f.name for f in fields(AuditEvent))
_ANSWER = tuple(f.name for f in fields(Answer))
_TIMES = {c.name for table in (ACTIVATIONS, OUTBOX, AUDIT) for c in table.columns
          if isinstance(c.type, UtcDateTime)}
_STATES: dict[str | None, State] = {s.value: s for s in State}


def activation_row(a: Activation) -> dict[str, Any]:
    """The column values that store `a`."""
    row = {name: getattr(a, name) for name in _PLAIN}
    row["state"] = str(a.state)
    try:
        row["due_at"] = a.due_at()
    except TypeError as exc:  # a naive deadline beside aware ones: refused, as any naive time
        raise StorageError("commit: a value cannot be stored (stored times must be "
                           "timezone-aware datetimes)") from exc
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


def answer_row(a: Answer) -> dict[str, Any]:
    """The column values that store `a`."""
    return {name: getattr(a, name) for name in _ANSWER}


def audit(row: Mapping[Any, Any]) -> AuditEvent:
    """The audit event a row stores."""
    return _read("audit event", row, _audit)


def step(row: Mapping[Any, Any]) -> Step:
    """The history step an audit row of a transition records."""
    return _read("step of activation", row, _step)


def _activation(row: Mapping[Any, Any]) -> Activation:
    a = Activation(state=_STATES[row["state"]], **{name: row[name] for name in _PLAIN})
    if not isinstance(a.contacts, bytes):
        a.contacts = bytes(a.contacts)
    for name in ("version", "audit_seq", "sms_attempts", "step_count"):
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
    e = AuditEvent(**{name: row[name] for name in _AUDIT})
    for name in ("seq", "step"):
        if type(getattr(e, name)) is not int:
            raise TypeError(f"{name} is not an integer")
    return e


def _step(row: Mapping[Any, Any]) -> Step:
    source = row["source"]
    return Step(row["action"], _STATES[source] if source else None, _STATES[row["dest"]], row["at"])


class UnreadableTime(ValueError):
    """A time column holds something that is not a time."""


def _times_read(row: Mapping[Any, Any]) -> None:
    for name in _TIMES & row.keys():
        value = row[name]
        if value is not None and not isinstance(value, datetime):
            raise UnreadableTime(f"unreadable time in {name}")


def _read(what: str, row: Mapping[Any, Any], convert: Callable[[Mapping[Any, Any]], T]) -> T:
    try:
        _times_read(row)
        return convert(row)
    except (ValueError, TypeError, KeyError) as exc:
        ident = row.get("id") or row.get("activation_id") or "?"
        detail = str(exc) if isinstance(exc, UnreadableTime) else type(exc).__name__
        raise StorageError(f"{what} {ident}: the stored row is unreadable "
                           f"({detail}); the database is damaged") from exc


def whole(value: object, what: str) -> int:
    """`value` read as a whole number; `StorageError` naming `what` if the column holds another."""
    if type(value) is int:
        return value
    try:
        return int(str(value))
    except ValueError:
        raise StorageError(f"{what}: the stored row is unreadable (not a whole number); the "
                           "database is damaged") from None


def created_at(row: Mapping[Any, Any]) -> datetime:
    """The creation time a row of `requests_since` holds."""
    at: datetime = _read("activation", row, lambda r: r["created_at"])
    return at
