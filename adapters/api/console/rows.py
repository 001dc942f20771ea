"""The console's list: rows of one kind each (activations now; other workflows add a source).

A row never holds an identifier or a contact in clear: the identifier typed in the search
box is turned into its pseudonym and looked up, and only masked contacts are shown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from workflow import ActivationService, State, security
from workflow.domain import Activation

LIST_LIMIT = 200


@dataclass(frozen=True, slots=True)
class Filters:
    """What the operator asked to see: a state, a maximum age in hours, a pseudonymised identifier."""

    state: str = ""
    max_age_hours: int | None = None
    subject: str = ""


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the list: a workflow instance of some `kind`."""

    kind: str
    id: str
    state: str
    created_at: datetime
    contacts: str
    href: str


RowSource = Callable[[ActivationService, Filters, datetime], list[Row]]


def subject_of(service: ActivationService, national_id: str) -> str:
    """The pseudonym an identifier is stored under; `InvalidIdentifier` for a malformed one."""
    return service.keys.pseudonym(security.validate_identifier(national_id, check_luhn=False))


def activation_rows(service: ActivationService, f: Filters, now: datetime) -> list[Row]:
    """The activations matching `f`, newest first."""
    found: list[Activation]
    if f.subject:
        found = service.store.find(f.subject, list(State))
    else:
        found = service.store.list_activations(LIST_LIMIT)
    rows = []
    for a in sorted(found, key=lambda a: a.created_at, reverse=True)[:LIST_LIMIT]:
        state = str(State.EXPIRED if service.engine.is_due(a, now) else a.state)
        if f.state and state != f.state:
            continue
        if f.max_age_hours is not None and now - a.created_at > timedelta(hours=f.max_age_hours):
            continue
        rows.append(Row("activation", a.id, state, a.created_at,
                        f"{a.masked_email} · {a.masked_phone}", f"/console/activations/{a.id}"))
    return rows


ROW_SOURCES: tuple[RowSource, ...] = (activation_rows,)


def all_rows(service: ActivationService, f: Filters, now: datetime,
             sources: tuple[RowSource, ...] = ROW_SOURCES) -> list[Row]:
    """Every source's rows, newest first."""
    rows = [r for source in sources for r in source(service, f, now)]
    return sorted(rows, key=lambda r: r.created_at, reverse=True)
