"""The store port's history (steps are audit events appended once, read back page by page) and its
turns (the serial order of one identifier)."""

from __future__ import annotations

import itertools
import threading
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
from workflow.domain import AuditEvent, Change, Step, Turn, Write
from workflow.errors import ConcurrencyConflict
from workflow.ports import Store
from workflow.testing.store_contract import sample_activation, sample_audit, sample_message

_SERIAL = itertools.count(1)  # ids stay unique across the examples that share one store
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
PATH = [("request", None, State.REQUESTED), ("email_sent", State.REQUESTED, State.EMAILED),
        ("scan", State.EMAILED, State.SCANNED), ("verify_sms", State.SCANNED, State.SMS_VERIFIED),
        ("set_pin", State.SMS_VERIFIED, State.PIN_SET), ("confirm_pin", State.PIN_SET, State.ACTIVE)]


def _event(aid: str, seq: int, step: int, event: str, source: State | None, dest: State,
           at: datetime) -> AuditEvent:
    return replace(sample_audit(aid, seq, at=at, action=event), source=str(source or ""),
                   dest=str(dest), step=step)


def _refusal(aid: str, seq: int) -> AuditEvent:
    return replace(sample_audit(aid, seq, action="scan"), outcome="refused", source="emailed",
                   dest="emailed")


def _steps(count: int) -> list[Step]:
    return [Step(*PATH[i % len(PATH)], T0 + timedelta(seconds=i, microseconds=i)) for i in range(count)]


def _commit_steps(store: Store, aid: str, steps: list[Step], per_commit: int = 3) -> None:
    """Insert `aid` then append `steps` a few per commit, with a refusal between commits."""
    a = sample_activation(aid, step_count=0, audit_seq=0)
    store.commit(Change((Write(a, None),)))
    for start in range(0, len(steps), per_commit):
        expected = a.version
        a = replace(a, version=a.version + 1)
        events = []
        for s in steps[start:start + per_commit]:
            a.audit_seq += 1
            a.step_count += 1
            events.append(_event(aid, a.audit_seq, a.step_count, s.event, s.source, s.dest, s.at))
        a.audit_seq += 1
        events.append(_refusal(aid, a.audit_seq))
        store.commit(Change((Write(a, expected),), audit=tuple(events)))


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


def test_steps_read_back_in_order_without_refusals(store: Store) -> None:
    """Every step appended over several commits reads back, oldest first; refusals are not steps."""
    steps = _steps(8)
    _commit_steps(store, "act-1", steps)
    assert store.steps("act-1") == steps
    assert store.steps("other") == []
    stored = store.get("act-1")
    assert stored is not None
    assert stored.step_count == 8
    assert len(store.audit_trail("act-1")) == 8 + 3


def test_steps_page_by_number(store: Store) -> None:
    """`after` skips the steps numbered up to it and `limit` bounds the page."""
    steps = _steps(10)
    _commit_steps(store, "act-1", steps, per_commit=4)
    assert store.steps("act-1", 0, 3) == steps[:3]
    assert store.steps("act-1", 3, 4) == steps[3:7]
    assert store.steps("act-1", 7, 100) == steps[7:]
    assert store.steps("act-1", 10, 5) == []


def test_a_refused_change_appends_no_step(store: Store) -> None:
    """A change that conflicts leaves the history as it was."""
    _commit_steps(store, "act-1", _steps(2))
    stale = sample_activation("act-1", version=5)
    late = _event("act-1", 9, 3, "scan", State.EMAILED, State.SCANNED, T0)
    with pytest.raises(ConcurrencyConflict):
        store.commit(Change((Write(stale, 4),), audit=(late,)))
    assert store.steps("act-1") == _steps(2)


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
    _commit_steps(store, aid, steps)
    got = store.steps(aid)
    assert got == steps
    assert all(s.at.utcoffset() == timedelta(0) for s in got)


def test_a_store_reading_steps_newest_first_fails_the_history_tests() -> None:
    """The zoo's store that reverses the history is caught by these tests."""
    with pytest.raises(AssertionError):
        test_steps_read_back_in_order_without_refusals(ReorderedHistoryStore())


# -- turns: the serial order of one identifier ---------------------------------------------------


def test_a_turn_is_compared_and_set(store: Store) -> None:
    """A turn taken at the current count applies and advances it; a stale one conflicts."""
    assert store.turn("subject-a") == 0
    store.commit(Change(turns=(Turn("subject-a", 0),)))
    store.commit(Change(turns=(Turn("subject-a", 1),)))
    assert (store.turn("subject-a"), store.turn("subject-b")) == (2, 0)
    for stale in (0, 1, 3):
        with pytest.raises(ConcurrencyConflict):
            store.commit(Change(turns=(Turn("subject-a", stale),)))
    assert store.turn("subject-a") == 2


def test_a_stale_turn_applies_nothing_of_its_change(store: Store) -> None:
    """A change whose turn is stale writes no activation, message or audit event."""
    store.commit(Change(turns=(Turn("subject-a", 0),)))
    change = Change((Write(sample_activation(), None),), (sample_message(),), (sample_audit(),),
                    (Turn("subject-a", 0),))
    with pytest.raises(ConcurrencyConflict):
        store.commit(change)
    assert store.get("act-1") is None
    assert store.outbox_of("act-1") == []
    assert store.audit_trail("act-1") == []
    assert store.turn("subject-a") == 1


def test_concurrent_turns_of_one_subject_have_one_winner(store: Store) -> None:
    """Eight threads take the same turn, each with its own new activation: one wins."""
    barrier, won = threading.Barrier(8), []

    def attempt(n: int) -> None:
        barrier.wait()
        try:
            store.commit(Change((Write(sample_activation(f"act-{n}"), None),),
                                turns=(Turn("subject-a", 0),)))
            won.append(n)
        except ConcurrencyConflict:
            pass

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1
    assert [a.id for a in store.list_activations()] == [f"act-{won[0]}"]
    assert store.turn("subject-a") == 1
