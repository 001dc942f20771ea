"""The activation's code is bound to its definition by name, and building the service checks the fit."""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

import pytest

from tests.conftest import memory_service
from workflow.definition import DEFINITION, Definition, Edge, State, Workflow
from workflow.engine import Binding, Bindings, Outcome
from workflow.errors import ActivationExpired, DefinitionError
from workflow.testing import FakeClock


def _with_edges(*edges: Edge[Any, Any]) -> Definition[Any, Any]:
    data = {f.name: getattr(DEFINITION, f.name) for f in fields(DEFINITION) if f.init}
    return Definition(**{**data, "edges": edges})


def test_an_edge_with_no_guard_implementation_is_named() -> None:
    """A service built on a definition with an event its code does not know refuses, naming it."""
    extra = _with_edges(*DEFINITION.edges, Edge("snooze", "active", "active"))
    svc = memory_service(FakeClock())
    with pytest.raises(DefinitionError, match="edges with no guard implementation: snooze") as raised:
        svc.workflow = Workflow(extra)
    assert "snooze" in raised.value.offenders


def test_an_implementation_for_no_edge_is_named() -> None:
    """Code bound to an event the definition lacks is refused, naming the event."""
    svc = memory_service(FakeClock())
    with pytest.raises(DefinitionError, match="implementations for no edge: snooze") as raised:
        Bindings(DEFINITION, [*svc._code(), Binding("snooze")])
    assert raised.value.offenders == ("snooze",)


def test_wrong_answers_need_a_guard_and_counted_actions_a_refusal() -> None:
    """An event with wrong edges but no guard, or a counted action with no bound refusal, is refused."""
    with pytest.raises(DefinitionError, match="wrong answers with no guard to give them: verify_sms"):
        Bindings(DEFINITION, [Binding(e) for e in {str(x.event) for x in DEFINITION.edges}])
    codes = [Binding(e, guard=lambda w, v: None) for e in {str(x.event) for x in DEFINITION.edges}]
    with pytest.raises(DefinitionError, match="counted actions with no refusal at their bound"):
        Bindings(DEFINITION, codes)


def test_two_bindings_for_one_event_are_refused() -> None:
    """Binding one event twice is a definition error naming it."""
    with pytest.raises(DefinitionError, match="two bindings for event 'scan'"):
        Bindings(DEFINITION, [Binding("scan"), Binding("scan")])


def test_the_shipped_code_fits_the_shipped_definition() -> None:
    """Every event of the activation has exactly one binding; wrong edges have guards."""
    svc = memory_service(FakeClock())
    events = {str(e.event) for e in DEFINITION.edges}
    assert {e for e in events if svc.bindings[e].event == e} == events
    wrong = {str(e.event) for e in DEFINITION.edges if e.outcome != Outcome.OK}
    assert all(svc.bindings[e].guard is not None for e in wrong)


def test_a_variant_that_moves_a_deadline_is_refused() -> None:
    """Stores find due flows by the shipped deadlines (`Activation.due_at`): a variant that
    changes one would never be swept, so the service refuses it, naming the deadline."""
    token = next(d for d in DEFINITION.deadlines if d.name == "token")
    wider = replace(token, states=token.states | {State.SCANNED})
    variant = replace(DEFINITION, deadlines=tuple(wider if d is token else d for d in DEFINITION.deadlines))
    svc = memory_service(FakeClock())
    with pytest.raises(DefinitionError, match="must keep its deadlines") as raised:
        svc.workflow = Workflow(variant)
    assert raised.value.offenders == ("token",)


def test_a_variant_whose_expiry_leads_elsewhere_is_run_as_it_says() -> None:
    """status() and the refusal after a lazy expiry name the state the variant's `expire` leads
    to, not the shipped one."""
    failing = tuple(replace(e, dest=State.FAILED)
                    if e.event == "expire" and e.source == State.REQUESTED else e
                    for e in DEFINITION.edges)
    clock = FakeClock()
    svc = memory_service(clock)
    svc.workflow = Workflow(_with_edges(*failing))
    aid = svc.request("899700366240").activation_id
    clock.advance(svc.settings.flow_validity)
    assert svc.status(aid).state == State.FAILED
    with pytest.raises(ActivationExpired) as refused:
        svc.cancel(aid)
    assert refused.value.state == "failed"
    assert svc.status(aid).state == State.FAILED
