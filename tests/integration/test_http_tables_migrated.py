"""The HTTP API's own tables are made by the store's migrations, as the API declares them.

A fresh database gets them on first use (not when a server starts); one at schema 6 whose
server had already made them keeps them, and their rows, through the upgrade.
"""

from __future__ import annotations

from typing import Any

import pytest
from alembic import command
from sqlalchemy import Table, create_engine, inspect, text

from adapters.api.address_rate import _ADDRESSES, _SLOTS
from adapters.api.console.signouts import _TABLE as SIGNOUTS
from adapters.api.guesses import _TABLE as GUESSES
from adapters.api.replay import _TABLE as PROOFS
from adapters.api.replay import SqlReplay
from adapters.sql import SqlStore, migrate

HTTP_TABLES = (PROOFS, GUESSES, SIGNOUTS, _ADDRESSES, _SLOTS)


def _shape(inspector: Any, name: str) -> tuple[list[tuple[str, bool]], list[str], list[tuple[str, ...]]]:
    """(columns with nullable, primary key, indexes' columns) as the database holds them."""
    columns = [(c["name"], bool(c["nullable"])) for c in inspector.get_columns(name)]
    key = list(inspector.get_pk_constraint(name)["constrained_columns"])
    indexes = sorted(tuple(i["column_names"]) for i in inspector.get_indexes(name))
    return columns, key, indexes


def _declared(table: Table) -> tuple[list[tuple[str, bool]], list[str], list[tuple[str, ...]]]:
    columns = [(c.name, bool(c.nullable)) for c in table.columns]
    indexes = sorted(tuple(c.name for c in i.columns) for i in table.indexes)
    return columns, [c.name for c in table.primary_key.columns], indexes


def test_first_use_makes_the_http_tables_as_the_api_declares_them(url: str) -> None:
    with SqlStore(url) as store:
        store.ensure_schema()
        engine = create_engine(url)
        try:
            inspector = inspect(engine)
            for table in HTTP_TABLES:
                assert _shape(inspector, table.name) == _declared(table), table.name
        finally:
            engine.dispose()


def test_a_schema_6_database_whose_server_made_them_keeps_them_and_their_rows(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:  # the database as release 6 and its server left it
            command.upgrade(migrate._config(conn), "0006")
            for table in HTTP_TABLES:
                table.create(conn)
            conn.execute(PROOFS.insert().values(key="k" * 64, expires=1e12))
        with SqlStore(url) as store:
            assert store.ensure_schema() == ("0006", migrate.HEAD)
            assert not SqlReplay(store).first_use("k" * 64, 1.0, 2.0)  # its row is still there
        with engine.connect() as conn:
            assert conn.execute(text("SELECT value FROM ecps_meta")).scalar_one() == "7"
    finally:
        engine.dispose()


@pytest.mark.parametrize("missing", [t.name for t in HTTP_TABLES])
def test_a_schema_6_database_without_them_gets_them(url: str, missing: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            command.upgrade(migrate._config(conn), "0006")
            for table in HTTP_TABLES:
                if table.name != missing:
                    table.create(conn)
        with SqlStore(url) as store:
            store.ensure_schema()
        assert missing in inspect(engine).get_table_names()
    finally:
        engine.dispose()
