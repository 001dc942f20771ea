"""SqlStore's schema: created on first use, versioned, indexed for every lookup, and refused
(with a clear `StorageError`, never silent damage) when it is not this release's or a row is damaged.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, inspect, text

from adapters.memory import MemoryMailer, MemorySms, StaticDirectory
from adapters.sql import SqlStore, migrate
from adapters.sql.schema import ACTIVATIONS, SCHEMA_VERSION
from tests.conftest import NID, Driver, fast_settings, people
from workflow import ActivationService, State
from workflow.definition import DEFINITION
from workflow.domain import Activation, Change, Turn, Write
from workflow.errors import StorageError
from workflow.login import LoginState
from workflow.testing import FakeClock
from workflow.testing.store_contract import T0, sample_activation, sample_message

HTTP_TABLES = ("ecps_proof_jti", "ecps_operator_guess", "ecps_console_signout", "ecps_request_address",
               "ecps_request_slot")  # the HTTP API's, made by the migrations too


@pytest.fixture
def store(url: str) -> Iterator[SqlStore]:
    """A store on the fresh database."""
    with SqlStore(url) as s:
        yield s


def _sql(url: str, *statements: str) -> list[Any]:
    """Run raw SQL on the database behind `url` (as an operator or a broken tool would)."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            results = [conn.execute(text(s)) for s in statements]
            return [r.all() if r.returns_rows else None for r in results]
    finally:
        engine.dispose()


def _service(store: Any, clock: FakeClock) -> tuple[ActivationService, Driver]:
    mailer, sms = MemoryMailer(), MemorySms()
    svc = ActivationService(store=store, mailer=mailer, sms=sms,
                            directory=StaticDirectory(people()), clock=clock,
                            settings=fast_settings())
    return svc, Driver(svc, mailer, sms)


# -- creation and version ---------------------------------------------------------------------


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_the_schema_is_created_on_first_use_with_its_version(url: str) -> None:
    """Constructing touches nothing; the first call creates the tables and records the version."""
    with SqlStore(url) as store:
        assert _tables(url) == set()
        assert store.get("nope") is None
        assert _tables(url) == {"ecps_meta", "ecps_activation", "ecps_subject", "ecps_outbox", "ecps_audit",
                                "ecps_idempotency", "ecps_login", "ecps_alembic_version", *HTTP_TABLES}
        assert _sql(url, "SELECT version_num FROM ecps_alembic_version") == [[(migrate.HEAD,)]]
        (rows,) = _sql(url, "SELECT key, value FROM ecps_meta")
        assert rows == [("schema_version", SCHEMA_VERSION)]
        store.ensure_schema()  # idempotent
    with SqlStore(url) as again:
        assert again.list_activations() == []


def test_first_use_by_many_stores_at_once_creates_one_schema(url: str) -> None:
    """Six stores opening a fresh database together all succeed and record one version."""
    stores = [SqlStore(url) for _ in range(6)]
    barrier, errors = threading.Barrier(6), list[BaseException]()

    def first_use(s: SqlStore) -> None:
        barrier.wait()
        try:
            s.ensure_schema()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=first_use, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for s in stores:
        s.close()
    assert errors == []
    assert _sql(url, "SELECT count(*) FROM ecps_meta") == [[(1,)]]


def test_a_schema_of_a_newer_release_is_refused_untouched(url: str, store: SqlStore) -> None:
    """A database upgraded by a newer release (an unknown revision) gives a clear error and stays."""
    store.commit(Change((Write(sample_activation(), None),)))
    _sql(url, "UPDATE ecps_alembic_version SET version_num = '9999'")
    with SqlStore(url) as other, pytest.raises(StorageError, match="newer release") as caught:
        other.get("act-1")
    assert "'9999'" in str(caught.value)
    assert repr(migrate.HEAD) in str(caught.value)
    assert _sql(url, "SELECT version_num FROM ecps_alembic_version",
                "SELECT count(*) FROM ecps_activation") == [[("9999",)], [(1,)]]


def _first_use_in_child(url: str, barrier: Any, out: Any) -> None:
    store = SqlStore(url)
    barrier.wait()
    try:
        store.ensure_schema()
        out.put("ok")
    except BaseException as exc:
        out.put(f"{type(exc).__name__}: {exc}")


def test_first_use_by_many_processes_at_once_creates_one_schema(tmp_path: Path) -> None:
    """Five times, eight processes open a fresh SQLite file together: all succeed (no "database is
    locked" while the file switches to WAL), with one version and one migration record."""
    fork = multiprocessing.get_context("fork")
    for round_ in range(5):
        url = f"sqlite:///{tmp_path / f'first-{round_}.db'}"
        barrier, out = fork.Barrier(8), fork.Queue()
        children = [fork.Process(target=_first_use_in_child, args=(url, barrier, out)) for _ in range(8)]
        for child in children:
            child.start()
        outcomes = [out.get(timeout=120) for _ in children]
        for child in children:
            child.join(30)
        assert outcomes == ["ok"] * 8
        assert _sql(url, "SELECT count(*) FROM ecps_meta", "SELECT count(*) FROM ecps_alembic_version") == [
            [(1,)], [(1,)]]


@pytest.mark.parametrize("version", ["0", "3", "garbage"])
def test_an_unknown_schema_version_without_revision_is_refused_untouched(url: str, version: str) -> None:
    """A database with a version of its own but no migration record is refused, not rewritten."""
    _sql(url, "CREATE TABLE ecps_meta (key VARCHAR(64) PRIMARY KEY, value VARCHAR(256))",
         f"INSERT INTO ecps_meta VALUES ('schema_version', '{version}')")
    with SqlStore(url) as store, pytest.raises(StorageError, match="schema version") as caught:
        store.get("act-1")
    assert repr(version) in str(caught.value)
    assert _tables(url) == {"ecps_meta"}


def test_tables_without_a_version_are_refused(url: str) -> None:
    """Tables of ours with no recorded version (not made by this release) are left alone."""
    _sql(url, "CREATE TABLE ecps_activation (id VARCHAR(10) PRIMARY KEY)")
    with SqlStore(url) as store, pytest.raises(StorageError, match="without a schema version"):
        store.get("x")
    assert _sql(url, "SELECT count(*) FROM ecps_activation") == [[(0,)]]


@pytest.mark.parametrize(("damage", "message"), [
    ("ALTER TABLE ecps_activation DROP COLUMN device_id", r"lacks columns \['device_id'\]"),
    ("DROP TABLE ecps_audit", r"ecps_audit is missing")])
def test_a_missing_column_or_table_is_reported(url: str, store: SqlStore, damage: str,
                                               message: str) -> None:
    """A damaged schema (a dropped column, a dropped table) is named in the error."""
    store.ensure_schema()
    _sql(url, damage)
    with SqlStore(url) as other, pytest.raises(StorageError, match=message):
        other.get("x")


def test_other_tables_in_the_database_are_fine(url: str) -> None:
    """A database shared with another application's tables is used as is."""
    _sql(url, "CREATE TABLE other_app (x INTEGER)")
    with SqlStore(url) as store:
        store.commit(Change((Write(sample_activation(), None),)))
        assert store.get("act-1") == sample_activation()


def test_every_activation_field_has_a_column() -> None:
    """The activation table stores every field of `Activation`, plus its derived `due_at`."""
    columns = {c.name for c in ACTIVATIONS.columns}
    assert {f.name for f in fields(Activation)} | {"due_at"} == columns


# -- indexes ----------------------------------------------------------------------------------


def _every_lookup(store: SqlStore) -> None:
    a = sample_activation()
    store.commit(Change((Write(a, None),), (sample_message(),)))
    store.get("act-1")
    store.find("subject-a", DEFINITION.in_flight)
    store.find("subject-a", {State.ACTIVE})
    store.requests_since("subject-a", T0)
    store.due_for_expiry(T0, 10)
    store.outbox_of("act-1")
    store.audit_trail("act-1")
    store.list_activations(10)
    store.claim_outbox(T0, 10, timedelta(seconds=60))
    store.steps("act-1", 0, 100)
    store.turn("subject-a")
    store.refusal_head("subject-a")
    store.get_login("login-1")
    store.logins_of("act-1", set(LoginState))
    store.logins_since("subject-a", T0)
    store.logins_due(T0, 10)
    store.login_ids(None, 10)
    store.list_logins(10)
    store.list_logins(10, before=(T0, "login-1"))
    changed = sample_activation(version=1, state=State.SCANNED)
    store.commit(Change((Write(changed, 0),), turns=(Turn("subject-a", 0),)))
    store.commit(Change(turns=(Turn("subject-a", 1),)))


def test_every_lookup_of_the_store_uses_an_index_on_sqlite(tmp_path: Path) -> None:
    """No statement the store runs scans a whole table (EXPLAIN QUERY PLAN of each)."""
    path = tmp_path / "ecps.db"
    seen: list[str] = []
    with SqlStore(f"sqlite:///{path}") as store:

        @event.listens_for(store.engine, "connect")
        def _trace(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.set_trace_callback(seen.append)

        store.ensure_schema()
        store.close()  # the migrations' statements are not the store's
        seen.clear()
        _every_lookup(store)
    queries = {s for s in seen if s.split()[0].upper() in ("SELECT", "UPDATE")
               and "ecps_" in s and "sqlite_master" not in s and "ecps_meta" not in s
               and "ecps_alembic_version" not in s}
    assert len(queries) >= 10
    plans = sqlite3.connect(path)
    for query in queries:
        plan = [row[3] for row in plans.execute(f"EXPLAIN QUERY PLAN {query}")]
        full_scans = [p for p in plan if p.startswith("SCAN ecps_") and " USING " not in p]
        assert full_scans == [], f"{query}\n{plan}"
    plans.close()


@pytest.mark.postgres
def test_every_lookup_of_the_store_uses_an_index_on_postgresql(pg_url: str) -> None:
    """With sequential scans disabled, no plan of the store's statements needs one."""
    import psycopg

    seen: list[tuple[str, Any]] = []
    with SqlStore(pg_url) as store:

        @event.listens_for(store.engine, "connect")
        def _capture(dbapi_connection: Any, _record: Any) -> None:
            class Capturing(psycopg.Cursor[Any]):
                def execute(self, query: Any, params: Any = None, **kw: Any) -> Any:
                    seen.append((str(query), params))
                    return super().execute(query, params, **kw)

            dbapi_connection.cursor_factory = Capturing

        store.ensure_schema()
        store.close()  # reconnect through the capturing cursor
        seen.clear()  # the migrations' statements are not the store's
        _every_lookup(store)
        queries = [(q, p) for q, p in seen if q.split()[0].upper() in ("SELECT", "UPDATE")
                   and "ecps_" in q and "ecps_meta" not in q and "pg_catalog" not in q]
        assert len(queries) >= 10
        engine = create_engine(pg_url)
        with engine.connect() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None
            raw.execute("SET enable_seqscan = off")
            for query, params in queries:
                plan = "\n".join(r[0] for r in raw.execute(f"EXPLAIN {query}", params).fetchall())
                assert "Seq Scan" not in plan, f"{query}\n{plan}"
            raw.rollback()
        engine.dispose()


# -- damaged rows -----------------------------------------------------------------------------


@pytest.mark.parametrize(("column", "value"), [("state", "'bogus'"), ("state", "'REQUESTED'")])
def test_a_damaged_activation_row_is_a_clear_error_mid_flow(url: str, store: SqlStore,
                                                            column: str, value: str) -> None:
    """A corrupted activation row makes the next event fail cleanly and changes nothing."""
    svc, driver = _service(store, FakeClock())
    aid = driver.reach("scanned")
    code = driver.code()
    _sql(url, f"UPDATE ecps_activation SET {column} = {value} WHERE id = '{aid}'")
    before = _sql(url, "SELECT version, sms_attempts FROM ecps_activation",
                  "SELECT count(*) FROM ecps_audit", "SELECT count(*) FROM ecps_outbox")
    with pytest.raises(StorageError, match=rf"activation {aid}.*unreadable") as caught:
        svc.verify_sms(aid, code)
    assert caught.value.__cause__ is not None
    with pytest.raises(StorageError):
        svc.status(aid)
    after = _sql(url, "SELECT version, sms_attempts FROM ecps_activation",
                 "SELECT count(*) FROM ecps_audit", "SELECT count(*) FROM ecps_outbox")
    assert after == before


def test_a_damaged_step_is_a_clear_error(url: str, store: SqlStore) -> None:
    """An audit row of a step whose state is unknown makes `status()` fail naming its activation."""
    svc, driver = _service(store, FakeClock())
    aid = driver.reach("scanned")
    _sql(url, f"UPDATE ecps_audit SET dest = 'nowhere' WHERE activation_id = '{aid}' AND step = 2")
    with pytest.raises(StorageError, match=rf"{aid}.*unreadable"):
        svc.status(aid)
    assert [s.event for s in svc.history(aid, after=2).steps] == ["scan"]


def test_a_damaged_older_flow_stops_a_new_request_before_anything_is_written(tmp_path: Path) -> None:
    """A request that meets a corrupted older flow of the same identifier writes nothing (SQLite
    keeps text in an integer column; PostgreSQL's types refuse that damage)."""
    url = f"sqlite:///{tmp_path / 'ecps.db'}"
    store = SqlStore(url)
    svc, driver = _service(store, FakeClock())
    aid = driver.reach("emailed")
    _sql(url, f"UPDATE ecps_activation SET step_count = 'many' WHERE id = '{aid}'")
    with pytest.raises(StorageError, match="unreadable"):
        svc.request(NID)
    assert _sql(url, "SELECT count(*) FROM ecps_activation") == [[(1,)]]


@pytest.mark.parametrize("damage", [
    "'yesterday-ish'", "created_at || ' garbage'", "created_at || 'X'", "created_at || ' '",
    "substr(created_at, 1, 25) || 'X'", "'2026-01-01 00z'", "'2026-01-01000000'", "'2026-W01-112'",
    "'2026-02-30 00:00:00.000000'"])
def test_a_damaged_time_on_sqlite_is_a_clear_error(tmp_path: Path, damage: str) -> None:
    """Stored time text that is not a time as the store writes it, or one that a lenient
    parser would half-read (junk after it, a week date), is reported with the row's id."""
    url = f"sqlite:///{tmp_path / 'ecps.db'}"
    with SqlStore(url) as store:
        store.commit(Change((Write(sample_activation(), None),)))
        _sql(url, f"UPDATE ecps_activation SET created_at = {damage}")
        with pytest.raises(StorageError, match=r"act-1.*created_at"):
            store.get("act-1")


def test_a_damaged_outbox_row_is_a_clear_error(url: str, store: SqlStore) -> None:
    """An outbox row of an unknown kind fails the dispatch cleanly and sends nothing."""
    svc, driver = _service(store, FakeClock())
    svc.request(NID)
    _sql(url, "UPDATE ecps_outbox SET kind = 'pigeon'")
    with pytest.raises(StorageError, match="unreadable"):
        svc.dispatch()
    assert driver.mailer.sent == []


# -- times, connections and URLs --------------------------------------------------------------


def test_times_of_any_offset_are_stored_as_utc(store: SqlStore) -> None:
    """A time written with a +02:00 offset reads back as the same instant, in UTC."""
    summer = timezone(timedelta(hours=2))
    created = datetime(2026, 6, 1, 11, 0, 0, 250000, tzinfo=summer)
    store.commit(Change((Write(sample_activation(created=created), None),)))
    got = store.get("act-1")
    assert got is not None
    assert got.created_at == created
    assert got.created_at.tzinfo == UTC
    assert store.requests_since("subject-a", datetime(2026, 6, 1, 9, 0, tzinfo=UTC)) == [created]


def test_a_naive_time_is_refused_and_nothing_is_written(store: SqlStore) -> None:
    """A time without a timezone cannot be stored: `StorageError`, and the change is not applied."""
    naive = sample_activation(created=datetime(2026, 1, 5, 9, 0))
    with pytest.raises(StorageError, match="timezone-aware"):
        store.commit(Change((Write(naive, None),)))
    assert store.get("act-1") is None


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    """The SQLite file is in WAL mode, so readers never block the writer."""
    path = tmp_path / "ecps.db"
    with SqlStore(f"sqlite:///{path}") as store:
        store.ensure_schema()
        assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_an_in_memory_sqlite_store_is_shared_by_threads() -> None:
    """`sqlite://` keeps one database for the store, safe to use from several threads."""
    with SqlStore("sqlite://") as store:
        threads = [threading.Thread(target=lambda i=i: store.commit(Change((Write(
            sample_activation(f"a{i}"), None),)))) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(store.list_activations()) == 8


@pytest.mark.postgres
def test_the_search_path_of_the_url_is_honoured(pg_url: str) -> None:
    """Tables go to the schema named by the URL's `search_path` option."""
    schema = pg_url.rsplit("%3D", 1)[1]
    with SqlStore(pg_url) as store:
        store.ensure_schema()
    (rows,) = _sql(pg_url, "SELECT table_schema, table_name FROM information_schema.tables "
                           "WHERE table_name LIKE 'ecps_%' AND table_schema = current_schema()")
    assert sorted(rows) == [(schema, t) for t in sorted(
                            ("ecps_activation", "ecps_alembic_version", "ecps_audit", "ecps_idempotency",
                             "ecps_login", "ecps_meta", "ecps_outbox", "ecps_subject", *HTTP_TABLES))]


@pytest.mark.parametrize("url", [
    "postgresql+psycopg://ecps:s3cret-pw@127.0.0.1:1/nowhere?connect_timeout=2",
    "sqlite:////nonexistent-dir/for/sure/ecps.db"])
def test_an_unreachable_database_is_a_storage_error_without_the_password(url: str) -> None:
    """A database that cannot be opened raises `StorageError`, and never shows a password."""
    with SqlStore(url) as store, pytest.raises(StorageError) as caught:
        store.get("x")
    assert "s3cret" not in str(caught.value)
    assert "s3cret" not in repr(store)


@pytest.mark.parametrize("url", ["mysql://u@h/db", "not a url", "postgresql+psycopg2://h/db",
                                 "sqlite+aiosqlite:///x.db"])
def test_an_unsupported_url_is_refused_when_constructed(url: str) -> None:
    """Only SQLite (pysqlite) and PostgreSQL (psycopg 3) URLs are accepted."""
    with pytest.raises(ValueError, match=r"URL|sqlite:///path or postgresql"):
        SqlStore(url)


@pytest.mark.postgres
def test_a_plain_postgresql_url_runs_on_psycopg_3(pg_url: str) -> None:
    """`postgresql://` and `postgres://` URLs are served by psycopg 3, the driver installed."""
    for scheme in ("postgresql://", "postgres://"):
        with SqlStore(pg_url.replace("postgresql+psycopg://", scheme, 1)) as store:
            assert store.engine.url.drivername == "postgresql+psycopg"
            assert store.get("nope") is None


def test_the_sqlite_durability_setting_is_checked(tmp_path: Path) -> None:
    """`synchronous` takes SQLite's levels and is applied to every connection."""
    with pytest.raises(ValueError, match="synchronous"):
        SqlStore(f"sqlite:///{tmp_path / 'a.db'}", synchronous="SOMETIMES")
    with SqlStore(f"sqlite:///{tmp_path / 'a.db'}", synchronous="full") as store:
        store.ensure_schema()
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
