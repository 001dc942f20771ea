"""What the interpreter's refusal of a counted action carries: the counter, its bound, its name."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.conftest import fast_settings
from workflow.definition import DEFINITION, WORKFLOW
from workflow.engine import AtBound, Interpreter


def test_a_counted_action_at_its_bound_is_refused_naming_its_counter() -> None:
    """A resend with the resend counter at its bound raises `AtBound` with the counter and bound."""
    interpreter = Interpreter(WORKFLOW, fast_settings(max_resends=2))
    instance = SimpleNamespace(state="emailed", email_resends=2)
    with pytest.raises(AtBound) as refused:
        interpreter.admit(instance, "resend_email")  # type: ignore[arg-type]
    assert refused.value.counter == DEFINITION.counter("email_resends")
    assert refused.value.bound == 2
    assert str(refused.value) == "email_resends"
    interpreter.admit(SimpleNamespace(state="emailed", email_resends=1), "resend_email")  # type: ignore[arg-type]


def test_the_machine_keeps_answers_for_its_own_names_only() -> None:
    """Made-up states, events and outcomes are refused each time and never kept: what the
    machine keeps is bounded by its definition, whatever it is asked."""
    from workflow.errors import TransitionNotAllowed

    before = len(WORKFLOW._fired)
    for n in range(500):
        for state, event, outcome in ((f"state-{n}", "scan", "ok"), ("emailed", f"event-{n}", "ok"),
                                      ("emailed", "scan", f"outcome-{n}")):
            with pytest.raises(TransitionNotAllowed):
                WORKFLOW.fire(state, event, outcome)
    assert len(WORKFLOW._fired) == before
    assert WORKFLOW.fire("emailed", "scan") == "scanned"  # a real answer is still kept
    assert ("emailed", "scan", "ok") in WORKFLOW._fired
