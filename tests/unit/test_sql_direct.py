"""The SQL store's statements on the driver's cursor: what they rely on from SQLAlchemy, and that
they read and write what `Connection.execute` does."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from adapters.bootstrap import build_service
from adapters.memory import MemoryMailer, MemorySms
from adapters.sql import SqlStore
from adapters.sql.direct import Direct, plain
from adapters.sql.statements import Statement, Statements
from tests.conftest import NID, fast_settings
from workflow import ActivationService
from workflow.errors import StorageError
from workflow.testing import payload_from


def _dialects() -> list[Dialect]:
    return [sqlite.pysqlite.dialect(), postgresql.psycopg.dialect()]  # type: ignore[no-untyped-call]


@pytest.mark.parametrize("dialect", _dialects(), ids=lambda d: d.name)
def test_the_sqlalchemy_parts_it_relies_on_are_there(dialect: Dialect) -> None:
    """`Compiled.string`, `.positiontup` (positional dialects) and `.binds`, and the types'
    processors, as `adapters.sql.direct` reads them."""
    sql = Statements(dialect)
    statement: Any = sql.update.statement
    keys = ("w_id", "w_expected", "w_subject", "w_created", "state", "version")
    compiled: Any = statement.compile(dialect=dialect, column_keys=list(keys))
    assert isinstance(compiled.string, str)
    assert set(compiled.binds) == set(keys)
    if dialect.positional:
        assert sorted(compiled.positiontup) == sorted(keys)
    else:
        assert "%(w_id)s" in compiled.string
    created = compiled.binds["w_created"].type.dialect_impl(dialect)
    assert created.bind_processor(dialect) is not None  # UtcDateTime
    direct = Direct(statement, dialect).compiled(keys)
    assert direct is not None
    assert direct.sql == compiled.string
    assert [n for n, _ in direct.binds] == ["w_created"]


@pytest.mark.parametrize("dialect", _dialects(), ids=lambda d: d.name)
def test_a_bound_default_is_sent_and_an_expanding_list_stays_on_execute(dialect: Dialect) -> None:
    """`.values(turn=1)` binds 1 without being given; an expanding IN is left to `execute`."""
    from sqlalchemy import bindparam, select

    from adapters.sql.schema import ACTIVATIONS

    first = Direct(Statements(dialect).first_turn.statement, dialect).compiled(("subject",))
    assert first is not None
    sent = first.parameters({"subject": "s"})
    assert (1 in sent) if dialect.positional else sent["turn"] == 1
    expanding = select(ACTIVATIONS.c.id).where(
        ACTIVATIONS.c.state.in_(bindparam("states", expanding=True)))
    assert Direct(expanding, dialect).compiled(("states",)) is None


def test_the_event_flags_it_reads_follow_listeners(tmp_path: Path) -> None:
    """With a `before_cursor_execute` listener, statements go through `Connection.execute`."""
    store = SqlStore(f"sqlite:///{tmp_path / 'e.db'}")
    store.ensure_schema()
    try:
        with store.engine.connect() as conn:
            assert plain(conn)
        seen: list[str] = []
        event.listen(store.engine, "before_cursor_execute",
                     lambda _c, _cur, statement, *_: seen.append(statement))
        with store.engine.connect() as conn:
            assert not plain(conn)
        assert store.turn("nobody") == 0
        assert len(seen) == 1
    finally:
        store.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def svc(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[ActivationService,
                                                                        MemoryMailer]]:
    """A service on a SQLite file or a PostgreSQL schema, and its mailer."""
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    mailer = MemoryMailer()
    service = build_service(url, state_dir=tmp_path, mailer=mailer, sms=MemorySms(),
                            settings=fast_settings())
    yield service, mailer
    service.store.close()  # type: ignore[attr-defined]


def _through_execute(statement: Statement, conn: Connection, values: dict[str, Any]
                     ) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(statement.statement, values).mappings()]


def test_reads_give_the_rows_execute_gives(svc: tuple[ActivationService, MemoryMailer]) -> None:
    """Every read the store runs on the cursor returns the rows (and types) of `execute`."""
    service, mailer = svc
    store = service.store
    assert isinstance(store, SqlStore)
    aid = service.request(NID, "phone").activation_id
    service.dispatch()
    service.scan(aid, payload_from(mailer.sent[-1]))
    a = store.get(aid)
    assert a is not None
    sql = store._sql
    reads: list[tuple[Statement, dict[str, Any]]] = [
        (sql.get_with_head, {"id": aid}),
        (sql.find(2), {"subject": a.subject, "state0": str(a.state), "state1": "requested"}),
        (sql.outbox_of, {"activation_id": aid}),
        (sql.audit_trail, {"activation_id": aid}),
        (sql.trail_head, {"activation_id": aid}),
        (sql.steps, {"activation_id": aid, "after": 0, "limit": 10}),
        (sql.turn, {"subject": a.subject}),
        (sql.requests_since, {"subject": a.subject, "since": a.created_at}),
        (sql.newest, {"limit": 5}),
    ]
    with store.engine.connect() as conn:
        for statement, values in reads:
            direct = statement.direct.rows(conn, values)
            assert direct is not None
            expected = _through_execute(statement, conn, values)
            assert expected, statement.statement
            assert direct == expected
            assert [[type(v) for v in r.values()] for r in direct] == \
                [[type(v) for v in r.values()] for r in expected]


def test_a_time_that_cannot_be_stored_is_a_storage_error(tmp_path: Path) -> None:
    """A naive time is refused by the column type, as `Connection.execute` refuses it."""
    store = SqlStore(f"sqlite:///{tmp_path / 't.db'}")
    try:
        with pytest.raises(StorageError, match="a value cannot be stored or read"):
            store.requests_since("someone", datetime(2026, 1, 1))
    finally:
        store.close()
