"""`StoreContract` over every store the project ships: memory, SQLite file, PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.memory import MemoryStore
from adapters.sql import SqlStore
from workflow.ports import Store
from workflow.testing.login_store_contract import LoginStoreContract
from workflow.testing.store_contract import StoreContract


class TestMemoryStore(StoreContract):
    """The in-memory store keeps the contract."""

    def make_store(self) -> Store:
        return MemoryStore()


class TestSqliteStore(StoreContract):
    """The SQL store on an SQLite file keeps the contract."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[Store]:
        with SqlStore(f"sqlite:///{tmp_path / 'ecps.db'}") as store:
            yield store


@pytest.mark.postgres
class TestPostgresStore(StoreContract):
    """The SQL store on PostgreSQL (a fresh schema per test) keeps the contract."""

    @pytest.fixture
    def store(self, pg_url: str) -> Iterator[Store]:
        with SqlStore(pg_url) as store:
            yield store


class TestMemoryStoreLogins(LoginStoreContract):
    """The in-memory store keeps logins by the contract."""

    def make_store(self) -> Store:
        return MemoryStore()


class TestSqliteStoreLogins(LoginStoreContract):
    """The SQL store on an SQLite file keeps logins by the contract."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[Store]:
        with SqlStore(f"sqlite:///{tmp_path / 'ecps.db'}") as store:
            yield store


@pytest.mark.postgres
class TestPostgresStoreLogins(LoginStoreContract):
    """The SQL store on PostgreSQL keeps logins by the contract."""

    @pytest.fixture
    def store(self, pg_url: str) -> Iterator[Store]:
        with SqlStore(pg_url) as store:
            yield store
