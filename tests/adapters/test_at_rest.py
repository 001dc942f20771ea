"""No raw secret at rest: whole flows over each shipped store, then a search of everything it keeps."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.memory import MemoryStore
from adapters.sql import SqlStore
from tests.adapters.zoo.stores import ClearTextStore
from workflow.ports import Store
from workflow.testing.at_rest import run_flows, secrets_at_rest


def _sqlite_file_bytes(path: Path) -> bytes:
    """The database file and its write-ahead log, byte for byte."""
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))


def test_memory_store_keeps_no_raw_secret() -> None:
    """Tokens, codes, PINs and full contacts are nowhere in what `MemoryStore` returns."""
    assert secrets_at_rest(MemoryStore) == []


def test_sqlite_file_holds_no_raw_secret(tmp_path: Path) -> None:
    """The SQLite file and its WAL, read as raw bytes after whole flows, hold no raw secret."""
    db = tmp_path / "rest.db"
    stores: list[SqlStore] = []

    def make() -> Store:
        stores.append(SqlStore(f"sqlite:///{db}"))
        return stores[-1]

    dumped: list[bytes] = []
    try:
        found = secrets_at_rest(make, dump=lambda _: dumped.append(_sqlite_file_bytes(db)) or dumped[-1])
    finally:
        for store in stores:
            store.close()
    assert found == []
    assert b"ja****@domain.fr" in dumped[0]  # the search did read the stored rows


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[SqlStore]:
    """A SqlStore in the test's own PostgreSQL schema."""
    store = SqlStore(pg_url)
    yield store
    store.close()


def _pg_dump(store: SqlStore) -> str:
    """Every row of every table of the store's schema, as text."""
    with store.engine.connect() as conn:
        tables = [r[0] for r in conn.exec_driver_sql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")]
        rows = [repr(tuple(r)) for t in tables for r in conn.exec_driver_sql(f'SELECT * FROM "{t}"')]
    assert tables
    return "\n".join(rows)


@pytest.mark.postgres
def test_postgres_tables_hold_no_raw_secret(pg_store: SqlStore) -> None:
    """A dump of every PostgreSQL table after whole flows holds no raw secret."""
    dumped: list[str] = []
    found = secrets_at_rest(lambda: pg_store, dump=lambda _: dumped.append(_pg_dump(pg_store)) or dumped[-1])
    assert found == []
    assert "ja****@domain.fr" in dumped[0]  # the search did read the stored rows


def test_the_check_sees_what_a_leaky_store_keeps() -> None:
    """The same check names each kind of secret a store keeping clear text exposes."""
    found = secrets_at_rest(ClearTextStore)
    assert "full identifier readable at rest" not in found
    assert {"full e-mail readable at rest", "full phone readable at rest", "QR payload readable at rest",
            "SMS code readable at rest"} <= set(found)


def test_the_flows_reach_active_and_replace_the_first_credential() -> None:
    """The flows behind the check take two people to `active` and revoke Jane's first e-CPS."""
    store = MemoryStore()
    secrets, ids = run_flows(store)
    states = [store.get(aid).state for aid in ids]  # type: ignore[union-attr]
    assert states == ["revoked", "active", "active"]
    assert {"4821", "5930", "899700366240"} <= secrets.keys()
    assert (secrets["4821"], secrets["899700366240"]) == ("PIN", "full identifier")


def test_a_secret_is_named_for_what_it_is_not_for_its_length() -> None:
    """With 10-digit PINs (a phone's length), a PIN found at rest is named a PIN."""
    from dataclasses import replace

    from workflow.testing.at_rest import at_rest_settings
    from workflow.testing.pins import strong_pins

    settings = replace(at_rest_settings(), pin_length=10)
    pins = " ".join(strong_pins(10)[:2])
    assert secrets_at_rest(MemoryStore, dump=lambda _: pins, settings=settings) == [
        "PIN readable at rest"]


@pytest.mark.parametrize("given", [{"pin_length": 6}, {"max_resends": 0}, {"sms_code_digits": 8}])
def test_the_check_runs_with_other_settings(given: dict[str, int]) -> None:
    """Its flows use PINs and codes of the settings' lengths, and resend only when allowed."""
    from dataclasses import replace

    from workflow.testing.at_rest import at_rest_settings

    assert secrets_at_rest(MemoryStore, settings=replace(at_rest_settings(), **given)) == []
