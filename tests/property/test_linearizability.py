"""Concurrent calls on one activation end as some serial order of them would, on every store."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from adapters.memory import MemoryStore
from adapters.sql import SqlStore
from workflow.ports import Store
from workflow.testing.linearizability import (
    Record,
    Scenario,
    assert_linearizable,
    check_linearizable,
    linearize,
    replay,
    scenarios,
)

# Each example runs its threads once and replays serial orders on memory stores: keep them few.
FEW = settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture
def sqlite_stores(tmp_path: Path) -> Iterator[Callable[[], Store]]:
    """A factory of SqlStores, each on a new SQLite file, closed after the test."""
    opened: list[SqlStore] = []

    def make() -> Store:
        opened.append(SqlStore(f"sqlite:///{tmp_path}/lin-{len(opened)}.db"))
        return opened[-1]

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def pg_stores(pg_admin_url: str) -> Iterator[Callable[[], Store]]:
    """A factory of SqlStores, each in a new PostgreSQL schema, all dropped after the test."""
    import psycopg

    opened: list[tuple[str, SqlStore]] = []
    base = pg_admin_url.replace("postgresql://", "postgresql+psycopg://", 1)

    def make() -> Store:
        schema = "lin_" + secrets.token_hex(6)
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        opened.append((schema, SqlStore(f"{base}?options=-csearch_path%3D{schema}", pool_size=4)))
        return opened[-1][1]

    yield make
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        for schema, store in opened:
            store.close()
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@FEW
@given(scenario=scenarios())
def test_memory_store_is_linearizable(scenario: Scenario) -> None:
    """Racing calls on MemoryStore always match a serial order of the same calls."""
    assert_linearizable(MemoryStore, scenario, reference=MemoryStore)


@FEW
@given(scenario=scenarios())
def test_sqlite_store_is_linearizable(sqlite_stores: Callable[[], Store], scenario: Scenario) -> None:
    """Racing calls on SqlStore over SQLite always match a serial order of the same calls."""
    assert_linearizable(sqlite_stores, scenario, reference=MemoryStore)


@pytest.mark.postgres
@FEW
@given(scenario=scenarios())
def test_postgres_store_is_linearizable(pg_stores: Callable[[], Store], scenario: Scenario) -> None:
    """Racing calls on SqlStore over PostgreSQL always match a serial order of the same calls."""
    assert_linearizable(pg_stores, scenario, reference=MemoryStore)


@pytest.fixture
def memory_stores() -> Callable[[], Store]:
    """A factory of MemoryStores."""
    return MemoryStore


@pytest.mark.parametrize("stores", ["memory_stores", "sqlite_stores",
                                    pytest.param("pg_stores", marks=pytest.mark.postgres)])
def test_sixteen_racing_right_codes_succeed_once(stores: str, request: pytest.FixtureRequest) -> None:
    """Sixteen threads with the right code: exactly one verifies, and a serial order explains all."""
    make = request.getfixturevalue(stores)
    scenario = Scenario("scanned", tuple(("verify_sms:right",) for _ in range(16)))
    verdict = check_linearizable(make, scenario, reference=MemoryStore)
    assert verdict.ok, verdict.explain()
    assert sum(r.result.startswith("ok") for r in verdict.records) == 1


def _record(index: int, thread: int, op: str, start: int, end: int, result: str) -> Record:
    return Record(index, thread, op, start, end, result)


def test_a_lost_wrong_attempt_has_no_serial_order() -> None:
    """Two wrong codes that both report 4 attempts left cannot be explained by any serial order."""
    results, observed = replay("scanned", ["verify_sms:wrong"], MemoryStore)
    records = [_record(0, 0, "verify_sms:wrong", 0, 10, results[0]),
               _record(1, 1, "verify_sms:wrong", 0, 10, results[0])]
    verdict = linearize(records, observed, "scanned", reference=MemoryStore)
    assert results[0] == "VerificationFailed left=4"
    assert not verdict.ok


def test_overlapping_calls_may_be_ordered_either_way() -> None:
    """Overlapping calls are linearizable in the order the results demand, not the order they started."""
    results, observed = replay("scanned", ["cancel", "verify_sms:right"], MemoryStore)
    records = [_record(0, 0, "verify_sms:right", 0, 10, results[1]),
               _record(1, 1, "cancel", 5, 15, results[0])]
    verdict = linearize(records, observed, "scanned", reference=MemoryStore)
    assert verdict.ok, verdict.explain()
    assert verdict.order == (1, 0)


def test_real_time_order_is_respected() -> None:
    """A call that ended before another began cannot be placed after it."""
    results, observed = replay("scanned", ["cancel", "verify_sms:right"], MemoryStore)
    records = [_record(0, 0, "verify_sms:right", 0, 10, results[1]),
               _record(1, 1, "cancel", 20, 30, results[0])]
    verdict = linearize(records, observed, "scanned", reference=MemoryStore)
    assert not verdict.ok


def test_a_conflict_that_changed_state_is_caught() -> None:
    """A call reported as ConcurrencyConflict must not have changed anything."""
    _, observed = replay("scanned", ["cancel"], MemoryStore)
    records = [_record(0, 0, "cancel", 0, 10, "ConcurrencyConflict")]
    assert not linearize(records, observed, "scanned", reference=MemoryStore).ok
    _, untouched = replay("scanned", [], MemoryStore)
    assert linearize(records, untouched, "scanned", reference=MemoryStore).ok


def test_a_scenario_runs_with_pins_of_the_settings_length() -> None:
    """The checker's PINs follow the settings (six digits here)."""
    from dataclasses import replace

    from workflow.testing.linearizability import default_settings

    made = replace(default_settings(), pin_length=6)
    scenario = Scenario("pin_set", (("confirm_pin:right",), ("confirm_pin:wrong",)))
    verdict = check_linearizable(MemoryStore, scenario, reference=MemoryStore, settings=made)
    assert verdict.ok, verdict.explain()
