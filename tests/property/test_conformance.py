"""The conformance replay: the real service lands where the checker's model says, on every move."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.memory import MemoryStore
from workflow import service as service_module
from workflow.definition import DEFINITION
from workflow.engine import Interpreter
from workflow.engine.interpreter import _Plan
from workflow.testing import ActivationDriver, replay_model


def _driver() -> ActivationDriver:
    return ActivationDriver(MemoryStore)


def test_the_shipped_definition_conforms_on_every_model_transition() -> None:
    """Every transition of the explored model, each refusal and each deadline boundary agree."""
    tally = replay_model(DEFINITION, _driver)
    assert tally.mismatches == [], tally.explain()
    assert tally.replayed == tally.transitions > 250
    assert tally.refusals > 1000
    assert tally.boundaries > 50
    assert tally.summary().startswith(f"ecps-activation: {tally.transitions} of {tally.transitions} ")


class _LateLock(Interpreter[Any, Any]):
    """A mutant: every counter locks one wrong answer later than its bound."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._plans = {k: _Plan(p.edge, p.counter, p.bound + 1, p.resets, p.slots, p.terminal)
                       for k, p in self._plans.items()}


class _NoRestart(Interpreter[Any, Any]):
    """A mutant: a self-loop (a resend) does not restart the deadline it should."""

    def _plan(self, e: Any) -> _Plan:
        plan = super()._plan(e)
        if e.source != e.dest:
            return plan
        slots = tuple((slot, None, True) if validity is not None else (slot, validity, keep)
                      for slot, validity, keep in plan.slots)
        return _Plan(plan.edge, plan.counter, plan.bound, plan.resets, slots, plan.terminal)


@pytest.mark.parametrize(("mutant", "symptom"), [(_LateLock, "locked"), (_NoRestart, "step_deadline")])
def test_a_mutated_interpreter_is_caught(monkeypatch: pytest.MonkeyPatch, mutant: type, symptom: str) -> None:
    """A bound off by one, or a deadline a resend does not restart, makes the replay fail."""
    monkeypatch.setattr(service_module, "Interpreter", mutant)
    tally = replay_model(DEFINITION, _driver)
    assert tally.mismatches
    assert any(symptom in f"{m.expected} {m.observed}" for m in tally.mismatches), tally.explain(3)
    text = tally.explain(1)
    assert "mismatches" in text.splitlines()[0]
    assert "after request → " in text
    assert "model:" in text
    assert "service:" in text



def test_the_replay_conforms_with_pins_and_codes_of_other_lengths() -> None:
    """The driver's PINs follow the settings: six-digit PINs and eight-digit codes conform too."""
    from dataclasses import replace

    from workflow.testing.activation_driver import conformance_settings

    made = replace(conformance_settings(), pin_length=6, sms_code_digits=8)
    tally = replay_model(DEFINITION, lambda: ActivationDriver(MemoryStore, settings=made))
    assert tally.mismatches == [], tally.explain()
    assert tally.replayed == tally.transitions > 250
