"""Fixtures of the integration tests: a fresh database of each kind, stores over it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from adapters.sql import SqlStore


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database: an SQLite file, or a PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ecps.db'}"
    pg: str = request.getfixturevalue("pg_url")
    return pg


@pytest.fixture
def stores(url: str) -> Iterator[Callable[[], SqlStore]]:
    """Makes stores over `url` (as each server process has its own), closed afterwards."""
    made: list[SqlStore] = []

    def make() -> SqlStore:
        store = SqlStore(url)
        store.ensure_schema()
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()
