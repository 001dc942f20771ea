"""The store port's history beyond the contract (`StoreContract` reads steps page by page and checks
turns): a refused change appends no step, any step round-trips, on each store the project ships."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.memory import MemoryStore
from adapters.sql import SqlStore
from tests.adapters.zoo.stores import ReorderedHistoryStore
from workflow.definition import State
from workflow.domain import AuditEvent, Change, Step, Write
from workflow.errors import ConcurrencyConflict
from workflow.ports import Store
from workflow.testing.store_contract import (
    StoreContract,
    commit_steps,
    sample_activation,
    sample_audit,
    sample_steps,
)

_SERIAL = itertools.count(1)  # ids stay unique across the examples that share one store
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _event(aid: str, seq: int, step: int, event: str, source: State | None, dest: State,
           at: datetime) -> AuditEvent:
    return replace(sample_audit(aid, seq, at=at, action=event), source=str(source or ""),
                   dest=str(dest), step=step)


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Each store the project ships, fresh."""
    if request.param == "memory":
        yield MemoryStore()
        return
    url = f"sqlite:///{tmp_path / 'ecps.db'}" if request.param == "sqlite" else request.getfixturevalue(
        "pg_url")
    with SqlStore(url) as sql:
        yield sql


def test_a_refused_change_appends_no_step(store: Store) -> None:
    """A change that conflicts leaves the history as it was."""
    commit_steps(store, "act-1", sample_steps(2))
    stale = sample_activation("act-1", version=5)
    late = _event("act-1", 9, 3, "scan", State.EMAILED, State.SCANNED, T0)
    with pytest.raises(ConcurrencyConflict):
        store.commit(Change((Write(stale, 4),), audit=(late,)))
    assert store.steps("act-1") == sample_steps(2)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_step_round_trips(store: Store, data: st.DataObject) -> None:
    """Any event name, any state and any UTC time to the microsecond read back equal and aware."""
    drawn = data.draw(st.lists(st.tuples(
        st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=30),
        st.none() | st.sampled_from(list(State)), st.sampled_from(list(State)),
        st.datetimes(datetime(2000, 1, 1), datetime(2200, 1, 1), timezones=st.just(UTC))),
        min_size=1, max_size=6))
    aid = f"act-{next(_SERIAL)}"
    steps = [Step(*d) for d in drawn]
    commit_steps(store, aid, steps)
    got = store.steps(aid)
    assert got == steps
    assert all(s.at.utcoffset() == timedelta(0) for s in got)


def test_a_store_reading_steps_newest_first_fails_the_history_tests() -> None:
    """The zoo's store that reverses the history is caught by the contract's history test."""
    with pytest.raises(AssertionError):
        StoreContract().test_steps_read_back_oldest_first_without_refusals(ReorderedHistoryStore())

