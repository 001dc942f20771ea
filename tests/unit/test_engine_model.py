"""The definition model's less used corners: unchecked defaults, unreadable deadlines, several implied
events, slots shared by neighbouring deadlines."""

from __future__ import annotations

from dataclasses import fields, replace
from types import SimpleNamespace
from typing import Any

import pytest

from workflow.definition import DEFINITION, Definition, Implied
from workflow.engine import definition_problems
from workflow.errors import DefinitionError

_DATA = {f.name: getattr(DEFINITION, f.name) for f in fields(DEFINITION) if f.init}


def test_an_unchecked_definition_gets_the_usual_creating_and_expiring_events() -> None:
    """Left out, `created_by` is `request` and `expire_event` is `expire`, as for a checked one."""
    d = Definition.unchecked(**{k: v for k, v in _DATA.items() if k not in ("created_by", "expire_event")})
    assert (d.created_by, d.expire_event) == ("request", "expire")


def test_unreadable_deadlines_leave_no_deadline_due() -> None:
    """A definition whose deadlines cannot be read (for the checker to explain) says none is due."""
    broken: Any = Definition.unchecked(**{**_DATA, "deadlines": (None,)})
    instance = SimpleNamespace(state="requested", step_deadline=None, flow_deadline=None)
    assert broken.due_at(instance) is None


def test_every_implied_event_lists_its_edges() -> None:
    """With two implied events, `implied_edges` gives the edges of both, in declaration order."""
    code_first = Implied("emailed", "verify_sms", "scan")
    d = Definition.unchecked(**{**_DATA, "implied": (*DEFINITION.implied, code_first)})
    assert [(str(i.event), str(e.source), str(e.outcome)) for i, e in d.implied_edges()] == [
        ("scan", "emailed", "ok"),
        ("verify_sms", "scanned", "ok"), ("verify_sms", "scanned", "wrong"),
        ("verify_sms", "scanned", "exhausted")]


def test_neighbouring_deadlines_sharing_a_slot_over_common_states_are_named() -> None:
    """The flow moved into the step slot clashes with both deadlines there, the neighbour included."""
    token, pin_step, flow = DEFINITION.deadlines
    clash = replace(flow, slot=token.attribute)
    data = {**_DATA, "deadlines": (pin_step, token, clash)}
    assert [str(p) for p in definition_problems(Definition.unchecked(**data))] == [
        "deadlines sharing a slot over common states: pin_step/flow, token/flow"]
    with pytest.raises(DefinitionError, match="token/flow"):
        Definition(**data)
