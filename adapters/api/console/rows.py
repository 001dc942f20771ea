"""The console's list: rows of one kind each, one source a kind (activations, logins).

A row never holds an identifier or a contact in clear: the identifier typed in the search
box is turned into its pseudonym and looked up, and only masked contacts are shown.
The list comes a page at a time, newest first; a page reads a bounded number of rows, however
many the store holds, and names where the next one starts (its `Cursor`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from workflow import ActivationService, State, security
from workflow.domain import Activation
from workflow.errors import InvalidInput
from workflow.login.definition import LoginState
from workflow.login.record import Login
from workflow.ports import LoginStore

PAGE = 50  # rows a page shows
BATCH = 200  # activations read at a time while filling a page
SCAN = 1000  # activations a page reads at most before it offers the next one

Cursor = tuple[datetime, str]  # a row's creation time and id: a page holds the rows below it
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Filters:
    """What the operator asked to see: a state, a maximum age in hours, a pseudonymised identifier,
    and the rows below `before` (a later page)."""

    state: str = ""
    max_age_hours: int | None = None
    subject: str = ""
    before: Cursor | None = None


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the list: a workflow instance of some `kind`."""

    kind: str
    id: str
    state: str
    created_at: datetime
    contacts: str
    href: str


@dataclass(frozen=True, slots=True)
class Page:
    """Rows newest first, and where the next page starts (None: there is no more)."""

    rows: list[Row]
    next: Cursor | None


RowSource = Callable[[ActivationService, Filters, datetime, int], Page]  # at most `limit` rows


def lookable(key: str) -> bool:
    """Whether `key` (an id, a pseudonym) is text a store can look up, as the service's own are
    (no NUL byte, which PostgreSQL refuses, nor a length none has)."""
    try:
        security.text_arg(key, "key", max_len=128)
    except InvalidInput:
        return False
    return True


def subject_of(service: ActivationService, national_id: str) -> str:
    """The pseudonym an identifier is stored under; `InvalidIdentifier` for a malformed one."""
    return service.keys.pseudonym(security.validate_identifier(national_id, check_luhn=False))


def cursor_text(at: Cursor) -> str:
    """A cursor as the URL carries it: microseconds since the epoch, then the id."""
    return f"{(at[0] - EPOCH) // MICROSECOND}.{at[1]}"


def parse_cursor(text: str) -> Cursor | None:
    """The cursor `cursor_text` wrote, or None for anything else (the first page)."""
    micros, _, row_id = text.partition(".")
    if not micros.isdigit() or len(micros) > 17 or not row_id or len(row_id) > 64:
        return None
    return EPOCH + int(micros) * MICROSECOND, row_id  # 17 digits stay below the year 9999


def _key(a: Activation) -> Cursor:
    return a.created_at, a.id


def activation_rows(service: ActivationService, f: Filters, now: datetime, limit: int = PAGE) -> Page:
    """A page of the activations matching `f`, newest first, reading at most `SCAN` of them."""
    oldest = now - timedelta(hours=f.max_age_hours) if f.max_age_hours is not None else None
    if f.subject:  # one identifier's activations: few, all read at once
        found = sorted(service.store.find(f.subject, list(State)) if lookable(f.subject) else [],
                       key=_key, reverse=True)
        batches = iter([[a for a in found if f.before is None or _key(a) < f.before]])
    else:
        batches = _batches(service, f.before, limit + 1)
    rows: list[Row] = []
    read = 0
    for batch in batches:
        for a in batch:
            read += 1
            if oldest is not None and a.created_at < oldest:
                return Page(rows, None)  # newest first: every later one is older still
            state = str(State.EXPIRED if service.engine.is_due(a, now) else a.state)
            if not f.state or state == f.state:
                if len(rows) == limit:  # one more than the page: there is a next one
                    return Page(rows, (rows[-1].created_at, rows[-1].id))
                rows.append(Row("activation", a.id, state, a.created_at,
                                f"{a.masked_email} · {a.masked_phone}", f"/console/activations/{a.id}"))
            if read == SCAN:
                return Page(rows, _key(a))
    return Page(rows, None)


def _batches(service: ActivationService, before: Cursor | None, first: int) -> Iterator[list[Activation]]:
    """The activations below `before`, newest first: `first` of them (a page when nothing is
    filtered out), then `BATCH` at a time."""
    size = first
    while True:
        batch = service.store.list_activations(size, before=before)
        if batch:
            yield batch
        if len(batch) < size:
            return
        before, size = _key(batch[-1]), BATCH


def login_rows(service: ActivationService, f: Filters, now: datetime, limit: int = PAGE) -> Page:
    """A page of the logins matching `f`, newest first, reading at most `SCAN` of them (none when
    the store keeps no logins). A row shows the portal and its binding message, no contact."""
    store = service.store
    if not isinstance(store, LoginStore):
        return Page([], None)
    oldest = now - timedelta(hours=f.max_age_hours) if f.max_age_hours is not None else None
    if f.subject:  # the logins of one identifier's credentials: few, all read at once
        credentials = store.find(f.subject, list(State)) if lookable(f.subject) else []
        found = sorted((g for a in credentials for g in store.logins_of(a.id, list(LoginState))),
                       key=_login_key, reverse=True)
        batches = iter([[g for g in found if f.before is None or _login_key(g) < f.before]])
    else:
        batches = _login_batches(store, f.before, limit + 1)
    engine = service.logins.engine
    rows: list[Row] = []
    read = 0
    for batch in batches:
        for g in batch:
            read += 1
            if oldest is not None and g.created_at < oldest:
                return Page(rows, None)
            state = str(LoginState.EXPIRED if engine.is_due(g, now) else g.state)
            if not f.state or state == f.state:
                if len(rows) == limit:
                    return Page(rows, (rows[-1].created_at, rows[-1].id))
                rows.append(Row("login", g.id, state, g.created_at,
                                f"{g.client_name} · “{g.binding_message}”", f"/console/logins/{g.id}"))
            if read == SCAN:
                return Page(rows, _login_key(g))
    return Page(rows, None)


def _login_key(g: Login) -> Cursor:
    return g.created_at, g.id


def _login_batches(store: LoginStore, before: Cursor | None, first: int) -> Iterator[list[Login]]:
    size = first
    while True:
        batch = store.list_logins(size, before=before)
        if batch:
            yield batch
        if len(batch) < size:
            return
        before, size = _login_key(batch[-1]), BATCH


ROW_SOURCES: tuple[RowSource, ...] = (activation_rows, login_rows)


def all_rows(service: ActivationService, f: Filters, now: datetime, limit: int = PAGE,
             sources: tuple[RowSource, ...] = ROW_SOURCES) -> Page:
    """A page of every source's rows, newest first: the rows above the newest place a source
    stopped at, at most `limit` of them."""
    pages = [source(service, f, now, limit) for source in sources]
    stops = [p.next for p in pages if p.next is not None]
    stop = max(stops) if stops else None
    rows = sorted((r for p in pages for r in p.rows if stop is None or (r.created_at, r.id) >= stop),
                  key=lambda r: (r.created_at, r.id), reverse=True)
    if len(rows) > limit:
        rows = rows[:limit]
        stop = (rows[-1].created_at, rows[-1].id)
    return Page(rows, stop)
