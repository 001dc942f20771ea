"""The definition is frozen data, validated when built, compiled into one shared machine."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from workflow import DEFINITION, WORKFLOW, DefinitionError, State, TransitionNotAllowed
from workflow.definition import Definition, Edge, Event, Outcome, Workflow


def rebuild(**changes: object) -> Definition:
    """The shipped definition's fields with `changes`, built (and so validated)."""
    fields = {f.name: getattr(DEFINITION, f.name) for f in dataclasses.fields(DEFINITION) if f.init}
    fields.update(changes)
    return Definition(**fields)  # type: ignore[arg-type]


def test_the_shipped_definition_has_the_eleven_states() -> None:
    """States of §3: six on the main path, four terminal failures, and revoked."""
    assert [str(s) for s in DEFINITION.states] == [
        "requested", "emailed", "scanned", "sms_verified", "pin_set", "active",
        "expired", "locked", "cancelled", "failed", "revoked"]
    assert State.ACTIVE == "active"


def test_definition_is_frozen() -> None:
    """The definition cannot be changed after it is built."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFINITION.name = "other"  # type: ignore[misc]


def test_unreachable_state_is_named() -> None:
    """A state no edge reaches is a DefinitionError naming it."""
    edges = tuple(e for e in DEFINITION.edges if e.dest != State.FAILED)
    with pytest.raises(DefinitionError, match="unreachable") as error:
        rebuild(edges=edges)
    assert "failed" in error.value.offenders
    assert isinstance(error.value, TypeError)


def test_state_with_no_way_out_is_named() -> None:
    """A non-terminal state without an outgoing edge is a DefinitionError naming it."""
    edges = tuple(e for e in DEFINITION.edges if e.source != State.PIN_SET)
    with pytest.raises(DefinitionError, match="no way out") as error:
        rebuild(edges=edges)
    assert "pin_set" in error.value.offenders


def test_two_targets_for_one_outcome_are_named() -> None:
    """Two edges for one (state, event, outcome) with different targets are refused."""
    extra = Edge(Event.SCAN, State.EMAILED, State.ACTIVE)
    with pytest.raises(DefinitionError, match="two targets") as error:
        rebuild(edges=(*DEFINITION.edges, extra))
    assert "emailed.scan.ok" in error.value.offenders


def test_terminal_state_with_an_outgoing_edge_is_refused() -> None:
    """Terminal states absorb: an edge out of one is refused."""
    extra = Edge(Event.REVOKE, State.LOCKED, State.REVOKED)
    with pytest.raises(DefinitionError, match="terminal"):
        rebuild(edges=(*DEFINITION.edges, extra))


def test_wrong_answers_need_a_counter() -> None:
    """A `wrong` edge without a counter would allow unbounded retries: refused."""
    extra = Edge(Event.SET_PIN, State.SMS_VERIFIED, State.SMS_VERIFIED, Outcome.WRONG)
    with pytest.raises(DefinitionError, match="without a counter"):
        rebuild(edges=(*DEFINITION.edges, extra))


def test_the_machine_fires_without_attaching_anything() -> None:
    """`fire` returns the next state; refused events raise TransitionNotAllowed, not MachineError."""
    assert WORKFLOW.fire(State.EMAILED, Event.SCAN) == State.SCANNED
    assert WORKFLOW.fire(State.SCANNED, Event.VERIFY_SMS, Outcome.EXHAUSTED) == State.LOCKED
    with pytest.raises(TransitionNotAllowed) as refused:
        WORKFLOW.fire(State.EMAILED, Event.SET_PIN)
    assert (refused.value.state, refused.value.event) == ("emailed", "set_pin")
    with pytest.raises(TransitionNotAllowed):
        WORKFLOW.fire(State.ACTIVE, Event.CANCEL)


def test_the_built_machine_equals_the_definition() -> None:
    """The machine's edges are exactly the definition's, and no auto transition exists."""
    expected = {(str(e.source), str(e.event), str(e.outcome), str(e.dest)) for e in DEFINITION.edges}
    assert WORKFLOW.machine_edges() == expected
    assert not any(name.startswith("to_") for name in WORKFLOW.machine.events)
    loose = Workflow(DEFINITION, auto_transitions=True)
    assert any(name.startswith("to_") for name in loose.machine.events)


def test_only_the_engine_machine_module_imports_transitions() -> None:
    """`transitions` stays behind the engine's machine module, and workflow never imports adapters."""
    root = Path(__file__).resolve().parents[2] / "workflow"
    importers = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if any(line.lstrip().startswith(("import transitions", "from transitions"))
                        for line in p.read_text().splitlines())]
    assert importers == ["engine/machine.py"]
    offenders = [p.name for p in root.rglob("*.py")
                 if any(line.lstrip().startswith(("import adapters", "from adapters"))
                        for line in p.read_text().splitlines())]
    assert offenders == []
