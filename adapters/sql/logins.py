"""The SQL store's logins: their statements, rows and reads (`SqlStore` mixes `LoginTables` in)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from adapters.sql.schema import LOGINS as _G
from workflow.errors import ConcurrencyConflict, StorageError
from workflow.login.definition import LoginState
from workflow.login.record import LOGIN_FIELDS, Login, LoginWrite

_STATES = {s.value: s for s in LoginState}
_PLAIN = tuple(name for name in LOGIN_FIELDS if name != "state")


class LoginStatements:
    """Every statement on the login table, for one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        insert = sqlite.insert if dialect.name == "sqlite" else postgresql.insert
        self.get = select(_G).where(_G.c.id == bindparam("id"))
        self.of = (select(_G).where(_G.c.activation_id == bindparam("activation_id"),
                                    _G.c.state.in_(bindparam("states", expanding=True)))
                   .order_by(_G.c.created_at, _G.c.id))
        self.since = (select(_G.c.created_at).where(_G.c.subject == bindparam("subject"),
                                                    _G.c.created_at >= bindparam("since"))
                      .order_by(_G.c.created_at))
        self.due = (select(_G.c.id).where(_G.c.expires_at <= bindparam("now"))
                    .order_by(_G.c.expires_at, _G.c.id).limit(bindparam("limit")))
        self.ids = (select(_G.c.id).where(_G.c.id > bindparam("after"))
                    .order_by(_G.c.id).limit(bindparam("limit")))
        self.newest = (select(_G).order_by(_G.c.created_at.desc(), _G.c.id.desc())
                       .limit(bindparam("limit")))
        at = bindparam("before_at", type_=_G.c.created_at.type)
        self.older = (select(_G).where(or_(_G.c.created_at < at,
                                           and_(_G.c.created_at == at,
                                                _G.c.id < bindparam("before_id", type_=_G.c.id.type))))
                      .order_by(_G.c.created_at.desc(), _G.c.id.desc()).limit(bindparam("limit")))
        self.insert = insert(_G).on_conflict_do_nothing(index_elements=["id"]).returning(_G.c.id)
        self.update = update(_G).where(_G.c.id == bindparam("w_id"),
                                       _G.c.version == bindparam("w_expected"))


def login_row(g: Login) -> dict[str, Any]:
    """The column values that store `g`."""
    return {**{name: getattr(g, name) for name in _PLAIN}, "state": str(g.state)}


def login(row: Mapping[Any, Any]) -> Login:
    """The login a row stores."""
    try:
        return Login(state=_STATES[row["state"]], **{name: row[name] for name in _PLAIN})
    except (KeyError, TypeError, ValueError) as exc:
        raise StorageError(f"login {row.get('id', '?')}: the stored row is unreadable "
                           f"({type(exc).__name__}); the database is damaged") from exc


def write_logins(conn: Connection, sql: LoginStatements, writes: Iterable[LoginWrite]) -> None:
    """Insert or compare-and-set each login (in id order); `ConcurrencyConflict` if one moved."""
    for w in sorted(writes, key=lambda w: w.login.id):
        row = login_row(w.login)
        if w.expected_version is None:
            done = len(conn.execute(sql.insert, row).all())
        else:
            keys = {"w_id": row.pop("id"), "w_expected": w.expected_version}
            done = conn.execute(sql.update.values(**{k: bindparam(k) for k in row}),
                                {**keys, **row}).rowcount
        if done != 1:
            raise ConcurrencyConflict(f"login {w.login.id} changed meanwhile")


class LoginTables:
    """The `LoginStore` reads of a SQL store (`_driver` and `_logins` are the store's)."""

    _logins: LoginStatements

    def _driver(self, what: str, *, write: bool) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def get_login(self, login_id: str) -> Login | None:
        with self._driver("get_login", write=False) as conn:
            rows = conn.execute(self._logins.get, {"id": login_id}).mappings().all()
        return login(rows[0]) if rows else None

    def logins_of(self, activation_id: str, states: Collection[LoginState]) -> list[Login]:
        if not states:
            return []
        with self._driver("logins_of", write=False) as conn:
            rows = conn.execute(self._logins.of, {"activation_id": activation_id,
                                                  "states": sorted(map(str, states))}).mappings().all()
        return [login(r) for r in rows]

    def logins_since(self, subject: str, since: datetime) -> list[datetime]:
        with self._driver("logins_since", write=False) as conn:
            rows = conn.execute(self._logins.since, {"subject": subject, "since": since}).all()
        return [r[0] for r in rows]

    def logins_due(self, now: datetime, limit: int) -> list[str]:
        with self._driver("logins_due", write=False) as conn:
            rows = conn.execute(self._logins.due, {"now": now, "limit": limit}).all()
        return [str(r[0]) for r in rows]

    def login_ids(self, after: str | None, limit: int) -> list[str]:
        with self._driver("login_ids", write=False) as conn:
            rows = conn.execute(self._logins.ids, {"after": after or "", "limit": limit}).all()
        return [str(r[0]) for r in rows]

    def list_logins(self, limit: int, before: tuple[datetime, str] | None = None) -> list[Login]:
        with self._driver("list_logins", write=False) as conn:
            if before is None:
                rows = conn.execute(self._logins.newest, {"limit": limit}).mappings().all()
            else:
                rows = conn.execute(self._logins.older, {"limit": limit, "before_at": before[0],
                                                         "before_id": before[1]}).mappings().all()
        return [login(r) for r in rows]
