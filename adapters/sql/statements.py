"""Every statement the SQL store runs, as SQLAlchemy Core, built once per dialect.

Each runs on the driver's cursor, compiled once (`adapters.sql.direct`), or through
`Connection.execute` where that cannot be done; bound and read times go through the
`UtcDateTime` column type either way.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, bindparam, literal_column, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Executable, Select

from adapters.sql.direct import Direct
from adapters.sql.schema import ACTIVATIONS, AUDIT, IDEMPOTENCY, OUTBOX, SUBJECTS, UtcDateTime
from workflow.domain import Delivery

_A, _O, _U, _S = ACTIVATIONS, OUTBOX, AUDIT, SUBJECTS
FIXED = ("id", "subject", "created_at")  # set at creation by the service


class Statement:
    """One statement and how to run it on a connection: on the driver's cursor, compiled once
    (`adapters.sql.direct`), or through `Connection.execute` where that cannot be done."""

    def __init__(self, statement: Executable, dialect: Dialect) -> None:
        self.statement = statement
        self.direct = Direct(statement, dialect)
        self.returns = len(getattr(statement, "exported_columns", ())) > 0  # RETURNING, for DML

    def run(self, conn: Connection, **values: Any) -> int:
        """Execute; the number of rows changed."""
        done = self.direct.run(conn, values)
        return int(conn.execute(self.statement, values).rowcount) if done is None else done

    def count(self, conn: Connection, **values: Any) -> int:
        """Execute; the rows it returned (RETURNING), else the rows it changed."""
        if self.returns:
            return len(self.rows(conn, **values))
        return self.run(conn, **values)

    def run_many(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        """Execute once per row of values (one round trip where the dialect allows)."""
        if not self.direct.run_many(conn, rows):
            conn.execute(self.statement, rows)

    def rows(self, conn: Connection, **values: Any) -> list[dict[str, Any]]:
        """Execute; the rows returned, by column name, times aware UTC."""
        found = self.direct.rows(conn, values)
        if found is None:
            return [dict(r) for r in conn.execute(self.statement, values).mappings()]
        return found


class Statements:
    """Every statement the store runs, for one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        is_sqlite = dialect.name == "sqlite"
        insert = sqlite.insert if is_sqlite else postgresql.insert

        def S(statement: Executable) -> Statement:
            return Statement(statement, dialect)

        # the row with the head of its trail, read in one statement (one snapshot) for the
        # service's trust check, which asks `trail_head` right after `get`
        newest = select(_U).where(_U.c.activation_id == _A.c.id).order_by(_U.c.seq.desc()).limit(1)
        self.get_with_head = S(select(
            _A, newest.with_only_columns(_U.c.seq).scalar_subquery().label("head_seq"),
            newest.with_only_columns(_U.c.hash).scalar_subquery().label("head_hash"),
        ).where(_A.c.id == bindparam("id")))
        self._find: dict[int, Statement] = {}
        self.insert = S(insert(_A).on_conflict_do_nothing(index_elements=["id"]).returning(_A.c.version))
        # `subject` and `created_at` never change in practice: leaving them out of SET spares
        # SQLite rewriting their index entries; a write that does change them takes `update_all`.
        by_version = update(_A).where(_A.c.id == bindparam("w_id"), _A.c.version == bindparam("w_expected"))
        self.update = S(by_version.where(_A.c.subject == bindparam("w_subject"),
                                         _A.c.created_at == bindparam("w_created", type_=UtcDateTime())))
        self.update_all = S(by_version)
        upsert = insert(_O)
        self.upsert = S(upsert.on_conflict_do_update(index_elements=["id"], set_={
            c.name: upsert.excluded[c.name] for c in _O.columns if c.name not in ("n", "id")}))
        self.append = S(_U.insert())
        answer = insert(IDEMPOTENCY)
        self.answer = S(answer.on_conflict_do_update(index_elements=["key"], set_={
            name: answer.excluded[name] for name in ("status", "body", "headers")}))
        self.requests_since = S(select(_A.c.created_at).where(_A.c.subject == bindparam("subject"),
                                                              _A.c.created_at >= bindparam("since"))
                                .order_by(_A.c.created_at))
        self.due = S(select(_A.c.id).where(_A.c.due_at <= bindparam("now"))
                     .order_by(_A.c.due_at, _A.c.id).limit(bindparam("limit")))
        self.outbox_of = S(select(_O).where(_O.c.activation_id == bindparam("activation_id"))
                           .order_by(_O.c.created_at, _O.c.n))
        self.audit_trail = S(select(_U).where(_U.c.activation_id == bindparam("activation_id"))
                             .order_by(_U.c.seq, _U.c.n))
        self.trail_head = S(select(_U.c.seq, _U.c.hash)
                            .where(_U.c.activation_id == bindparam("activation_id"))
                            .order_by(_U.c.seq.desc()).limit(1))
        self.refusal_head = S(select(_U.c.seq, _U.c.hash)
                              .where(_U.c.activation_id == literal_column("''"),
                                     _U.c.subject == bindparam("subject"),
                                     _U.c.seq > literal_column("0"))  # literal: the partial index's
                              .order_by(_U.c.seq.desc()).limit(1))
        self.ids_after = S(select(_A.c.id).where(_A.c.id > bindparam("after"))
                           .order_by(_A.c.id).limit(bindparam("limit")))
        self.newest = S(select(_A).order_by(_A.c.created_at.desc(), _A.c.id.desc())
                        .limit(bindparam("limit")))
        at = bindparam("before_at", type_=UtcDateTime())
        self.older = S(select(_A).where(or_(_A.c.created_at < at, and_(
            _A.c.created_at == at, _A.c.id < bindparam("before_id"))))
            .order_by(_A.c.created_at.desc(), _A.c.id.desc()).limit(bindparam("limit")))
        self.steps = S(select(_U.c.activation_id, _U.c.action, _U.c.source, _U.c.dest, _U.c.at)
                       .where(_U.c.activation_id == bindparam("activation_id"),
                              _U.c.step > bindparam("after"))
                       .order_by(_U.c.step).limit(bindparam("limit")))
        self.turn = S(select(_S.c.turn).where(_S.c.subject == bindparam("subject")))
        self.first_turn = S(insert(_S).values(turn=1).on_conflict_do_nothing(index_elements=["subject"])
                            .returning(_S.c.turn))
        self.next_turn = S(update(_S).where(_S.c.subject == bindparam("who"),
                                            _S.c.turn == bindparam("expected")).values(turn=_S.c.turn + 1))
        due: Select[Any] = (
            select(_O.c.n)
            .where(_O.c.status == str(Delivery.PENDING), _O.c.due_at <= bindparam("now"),
                   or_(_O.c.claimed_until.is_(None), _O.c.claimed_until <= bindparam("now")))
            .order_by(_O.c.due_at, _O.c.created_at, _O.c.n).limit(bindparam("limit")))
        if not is_sqlite:
            due = due.with_for_update(skip_locked=True)
        self.claim = S(update(_O).where(_O.c.n.in_(due.scalar_subquery()))
                       .values(claimed_until=bindparam("until")).returning(*_O.columns))

    def find(self, count: int) -> Statement:
        """The activations of `subject` in one of `count` states (`state0`, `state1`, ...), oldest
        first: one statement per count, so that each is compiled once (no expanding parameter)."""
        found = self._find.get(count)
        if found is None:
            states = [bindparam(f"state{i}", type_=_A.c.state.type) for i in range(count)]
            found = self._find[count] = Statement(
                select(_A).where(_A.c.subject == bindparam("subject"), _A.c.state.in_(states))
                .order_by(_A.c.created_at, _A.c.id), self.dialect)
        return found
