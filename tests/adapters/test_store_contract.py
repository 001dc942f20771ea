"""`StoreContract` and `LoginStoreContract` over every store the project ships: memory, SQLite
file, PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.memory import MemoryStore
from adapters.sql import SqlStore
from workflow.ports import Store
from workflow.testing.login_store_contract import LoginStoreContract
from workflow.testing.store_contract import StoreContract


class OnMemory:
    """A fresh in-memory store for each test."""

    def make_store(self) -> Store:
        return MemoryStore()


class OnSqlite:
    """The SQL store on a fresh SQLite file for each test."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[Store]:
        with SqlStore(f"sqlite:///{tmp_path / 'ecps.db'}") as store:
            yield store


class OnPostgres:
    """The SQL store on PostgreSQL, a fresh schema for each test."""

    @pytest.fixture
    def store(self, pg_url: str) -> Iterator[Store]:
        with SqlStore(pg_url) as store:
            yield store


class TestMemoryStore(OnMemory, StoreContract):
    """The in-memory store keeps the contract."""


class TestSqliteStore(OnSqlite, StoreContract):
    """The SQL store on an SQLite file keeps the contract."""


@pytest.mark.postgres
class TestPostgresStore(OnPostgres, StoreContract):
    """The SQL store on PostgreSQL keeps the contract."""


class TestMemoryStoreLogins(OnMemory, LoginStoreContract):
    """The in-memory store keeps logins by the contract."""


class TestSqliteStoreLogins(OnSqlite, LoginStoreContract):
    """The SQL store on an SQLite file keeps logins by the contract."""


@pytest.mark.postgres
class TestPostgresStoreLogins(OnPostgres, LoginStoreContract):
    """The SQL store on PostgreSQL keeps logins by the contract."""
