"""The stateful suite exercises the whole definition: each state, edge, guard outcome and boundary."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

import workflow.testing.machine as machine_module
from adapters.memory import MemoryStore
from workflow.testing.coverage import COVERAGE, Coverage
from workflow.testing.machine import ActivationMachine

# Derandomized, so the same examples run every time: the verdict changes only when the code does.
COVERING = settings(max_examples=200, stateful_step_count=50, derandomize=True, database=None,
                    deadline=None, suppress_health_check=list(HealthCheck))


def test_the_property_suite_hits_every_part_of_the_definition(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run of the `ActivationMachine` leaves no state, edge, guard outcome or boundary unexercised."""
    tally = Coverage()
    monkeypatch.setattr(machine_module, "COVERAGE", tally)
    for steps in (50, 80, 110):  # derandomized runs: their examples depend on where the kit lives
        run_state_machine_as_test(ActivationMachine.configure(make_store=MemoryStore),
                                  settings=settings(COVERING, stateful_step_count=steps))
        if not tally.missing() or tally.unexpected():  # covered (or wrong) already: longer runs add nothing
            break
    COVERAGE.merge(tally)
    assert not tally.unexpected(), tally.report()
    assert not tally.missing(), tally.report()
