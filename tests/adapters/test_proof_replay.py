"""The memory of proof identifiers: a key is accepted once until it expires, in memory, SQLite
and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.api.replay import MemoryReplay, ReplayStore, SqlReplay


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def replay(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ReplayStore]:
    """Each implementation, empty (closed after the test)."""
    if request.param == "memory":
        yield MemoryReplay()
        return
    url = f"sqlite:///{tmp_path / 'jti.sqlite3'}" if request.param == "sqlite" \
        else str(request.getfixturevalue("pg_url"))
    found = SqlReplay(url)
    yield found
    found.close()


def test_a_key_is_accepted_once_until_it_expires(replay: ReplayStore) -> None:
    """First use: yes; again before it expires: no; after: yes again; other keys unaffected."""
    assert replay.first_use("a", now=1000.0, until=1061.0)
    assert not replay.first_use("a", now=1030.0, until=1091.0)
    assert replay.first_use("b", now=1030.0, until=1091.0)
    assert not replay.first_use("a", now=1060.0, until=1121.0)
    assert replay.first_use("a", now=1062.0, until=1123.0)
    assert not replay.first_use("a", now=1063.0, until=1124.0)


def test_expired_keys_are_purged(replay: ReplayStore) -> None:
    """Many keys over time do not pile up: the expired ones are forgotten on the way."""
    for i in range(600):
        assert replay.first_use(f"k{i}", now=float(i), until=float(i) + 2)
    if isinstance(replay, MemoryReplay):
        assert len(replay._seen) < 300
