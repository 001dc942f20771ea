"""The planted-bug table: each bug a real store could have, and the check of the kit that must catch it.

Each detector returns the failure it reports, or None when the store passed. `python -m
tests.adapters.zoo.planted` times each bug to its shrunk failure; the suite runs them without shrinking.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.stateful import run_state_machine_as_test

from adapters.memory import MemoryStore
from tests.adapters.zoo import stores
from workflow.ports import Store
from workflow.testing.at_rest import secrets_at_rest
from workflow.testing.linearizability import Scenario, assert_linearizable, scenarios
from workflow.testing.machine import ActivationMachine
from workflow.testing.store_contract import StoreContract

StoreClass = Callable[[], Store]
Detector = Callable[[StoreClass, bool], str | None]
MACHINE = settings(phases=[p for p in Phase if p != Phase.explain], max_examples=200,
                   stateful_step_count=30, deadline=None, database=None, derandomize=True,
                   report_multiple_bugs=False, suppress_health_check=list(HealthCheck), print_blob=False)
RACES = settings(MACHINE, max_examples=40)
UNSHRUNK = [Phase.explicit, Phase.generate]
STALE = (AttributeError, NameError, TypeError)
"""Errors of the planted store's own code (a field it reads that no longer exists): not a catch."""


def _settings(base: settings, shrink: bool) -> settings:
    return base if shrink else settings(base, phases=UNSHRUNK)


def machine(make: StoreClass, shrink: bool = True) -> str | None:
    """The stateful `ActivationMachine` over the store (shrinking any failure when `shrink`)."""
    try:
        run_state_machine_as_test(ActivationMachine.configure(make_store=make),
                                  settings=_settings(MACHINE, shrink))
    except STALE:
        raise
    except Exception as exc:  # an assertion, or the group Hypothesis raises when examples disagree
        return f"{type(exc).__name__}: {exc}"
    return None


def races(make: StoreClass, shrink: bool = True) -> str | None:
    """Linearizability mode over the store: drawn scenarios of racing calls (shrinking when `shrink`)."""

    @_settings(RACES, shrink)
    @given(scenario=scenarios())
    def race(scenario: Scenario) -> None:
        assert_linearizable(make, scenario, reference=MemoryStore)

    try:
        race()
    except STALE:
        raise
    except Exception as exc:  # an assertion, or the group Hypothesis raises when examples disagree
        return f"{type(exc).__name__}: {exc}"
    return None


def at_rest(make: StoreClass, shrink: bool = True) -> str | None:
    """Whole flows, then a search of everything the store keeps (its `dump()` included)."""
    found = secrets_at_rest(make)
    return "; ".join(found) or None


def contract(*names: str) -> Detector:
    """The named tests of `StoreContract` (plain ones, not property-based) run over the store."""

    def run(make: StoreClass, shrink: bool = True) -> str | None:
        failed = []
        for name in names:
            kit = StoreContract()
            store = make()
            try:
                getattr(kit, name)(store)
            except AssertionError as exc:
                failed.append(f"{name}: {exc}")
            finally:
                kit.close_store(store)
        return "; ".join(failed) or None

    run.__name__ = f"contract({', '.join(names)})"
    return run


@dataclass(frozen=True, slots=True)
class Planted:
    """One planted bug: the broken store and the check that must catch it."""

    bug: str
    store: StoreClass
    detector: Detector


TABLE = (
    Planted("lost update", stores.LostUpdateStore, races),
    Planted("CAS ignoring the version", stores.VersionBlindStore, races),
    Planted("counters outside the transaction", stores.CountersOutsideStore,
            contract("test_compare_and_set_on_the_version", "test_a_change_applies_whole_or_not_at_all")),
    Planted("dropped SMS rows", stores.SmsDroppingStore, machine),
    Planted("double claim", stores.DoubleClaimStore,
            contract("test_concurrent_claims_never_share_a_message")),
    Planted("lease ignored", stores.LeaselessStore, contract("test_a_claim_holds_for_its_lease")),
    Planted("deadline index stale", stores.StaleDeadlineStore, machine),
    Planted("dropped audit events", stores.AuditDroppingStore, machine),
    Planted("dropped refusals", stores.RefusalDroppingStore, machine),
    Planted("reversed history", stores.ReorderedHistoryStore, machine),
    Planted("reordered history", stores.ReorderedStepsStore, machine),
    Planted("truncated history", stores.TruncatedHistoryStore, machine),
    Planted("a decrypted copy at rest", stores.ClearTextStore, machine),
    Planted("kept payload", stores.PayloadKeepingStore, contract("test_outbox_messages_are_upserted_by_id")),
    Planted("extra expiry rows", stores.ExtraExpiryStore, machine),
    Planted("missing expiry rows (flow deadline)", stores.FlowBlindExpiryStore, machine),
    Planted("missing expiry rows (exclusive bound)", stores.ExclusiveExpiryStore, machine),
    Planted("limit ignored", stores.LimitlessExpiryStore, machine),
)


def main() -> None:
    """Time each planted bug to its shrunk failure, and print the table."""
    import time

    for planted in TABLE:
        began = time.perf_counter()
        found = planted.detector(planted.store, True)
        took = time.perf_counter() - began
        print(f"| {planted.bug} | {getattr(planted.detector, '__name__', '?')} | "
              f"{'caught' if found else 'NOT CAUGHT'} | {took:.1f} s |", flush=True)


if __name__ == "__main__":
    main()
