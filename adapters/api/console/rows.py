"""The console's list: rows of one kind each, one source a kind (activations, logins).

A row never holds an identifier or a contact in clear: the identifier typed in the search
box is turned into its pseudonym and looked up, and only masked contacts are shown.
The list comes a page at a time, newest first; a page reads a bounded number of rows, however
many the store holds, and names where the next one starts (its `Cursor`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

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
R = TypeVar("R", Activation, Login)  # a record a source lists


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
    if not (micros.isascii() and micros.isdigit()) or len(micros) > 17 or not row_id \
            or len(row_id) > 64:
        return None
    return EPOCH + int(micros) * MICROSECOND, row_id  # 17 digits stay below the year 9999


def _key(record: Activation | Login) -> Cursor:
    return record.created_at, record.id


def activation_rows(service: ActivationService, f: Filters, now: datetime, limit: int = PAGE) -> Page:
    """A page of the activations matching `f`, newest first, reading at most `SCAN` of them."""
    store = service.store
    if f.subject:  # one identifier's activations: few, all read at once
        batches = _all_at_once(store.find(f.subject, list(State)) if lookable(f.subject) else [], f.before)
    else:
        batches = _batches(lambda size, before: store.list_activations(size, before=before),
                           f.before, limit + 1)

    def row(a: Activation) -> Row:
        state = str(State.EXPIRED if service.engine.is_due(a, now) else a.state)
        return Row("activation", a.id, state, a.created_at, f"{a.masked_email} · {a.masked_phone}",
                   f"/console/activations/{a.id}")
    return _page(batches, row, f, now, limit)


def login_rows(service: ActivationService, f: Filters, now: datetime, limit: int = PAGE) -> Page:
    """A page of the logins matching `f`, newest first, reading at most `SCAN` of them (none when
    the store keeps no logins). A row shows the portal and its binding message, no contact."""
    store = service.store
    if not isinstance(store, LoginStore):
        return Page([], None)
    if f.subject:  # the logins of one identifier's credentials: few, all read at once
        credentials = store.find(f.subject, list(State)) if lookable(f.subject) else []
        batches = _all_at_once((g for a in credentials for g in store.logins_of(a.id, list(LoginState))),
                               f.before)
    else:
        batches = _batches(lambda size, before: store.list_logins(size, before=before), f.before, limit + 1)
    engine = service.logins.engine

    def row(g: Login) -> Row:
        state = str(LoginState.EXPIRED if engine.is_due(g, now) else g.state)
        return Row("login", g.id, state, g.created_at, f"{g.client_name} · “{g.binding_message}”",
                   f"/console/logins/{g.id}")
    return _page(batches, row, f, now, limit)


def _page(batches: Iterator[list[R]], row: Callable[[R], Row], f: Filters, now: datetime,
          limit: int) -> Page:
    """The rows of the records `batches` gives newest first, kept when in `f`'s state: at most
    `limit`, none older than its age, after reading at most `SCAN` records."""
    oldest = now - timedelta(hours=f.max_age_hours) if f.max_age_hours is not None else None
    rows: list[Row] = []
    read = 0
    for batch in batches:
        for record in batch:
            read += 1
            if oldest is not None and record.created_at < oldest:
                return Page(rows, None)  # newest first: every later one is older still
            shown = row(record)
            if not f.state or shown.state == f.state:
                if len(rows) == limit:  # one more than the page: there is a next one
                    return Page(rows, (rows[-1].created_at, rows[-1].id))
                rows.append(shown)
            if read == SCAN:
                return Page(rows, _key(record))
    return Page(rows, None)


def _all_at_once(found: Iterable[R], before: Cursor | None) -> Iterator[list[R]]:
    """`found`, newest first and below `before`, as one batch."""
    yield [r for r in sorted(found, key=_key, reverse=True) if before is None or _key(r) < before]


def _batches(read: Callable[[int, Cursor | None], list[R]], before: Cursor | None,
             first: int) -> Iterator[list[R]]:
    """The records below `before`, newest first, as `read(size, before)` lists them: `first` of
    them (a page when nothing is filtered out), then `BATCH` at a time."""
    size = first
    while True:
        batch = read(size, before)
        if batch:
            yield batch
        if len(batch) < size:
            return
        before, size = _key(batch[-1]), BATCH


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
