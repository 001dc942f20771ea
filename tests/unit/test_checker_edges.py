"""The checker's less travelled paths: a space that cannot be explored, deadlines that outlast others."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import timedelta
from typing import Any

from workflow.checker import Property, check
from workflow.definition import DEFINITION, Definition

_DATA = {f.name: getattr(DEFINITION, f.name) for f in fields(DEFINITION) if f.init}


@dataclass(frozen=True)
class _Lengths:
    """Bounds as the defaults, and the three deadline lengths given."""

    qr_token_validity: timedelta
    pin_step_validity: timedelta = timedelta(minutes=10)
    flow_validity: timedelta = timedelta(hours=24)
    max_resends: int = 3
    max_sms_attempts: int = 5
    max_pin_mismatches: int = 3
    max_login_failures: int = 10


def test_a_space_that_cannot_be_explored_is_said_so_for_every_property_that_needs_it() -> None:
    """A counter bound that is no number breaks the exploration: each property says why."""
    broken: Any = Definition.unchecked(**{**_DATA, "deadlines": (*DEFINITION.deadlines[:2], None)})
    report = check(broken)
    needing = [r for r in report.results if r.name not in (Property.WELL_FORMED, Property.MACHINE)]
    assert needing
    assert all(not r.ok and r.detail.startswith("the state space could not be explored: ")
               for r in needing)
    assert report.states_explored == 0


def test_a_restarted_deadline_as_long_as_the_flow_never_passes_first() -> None:
    """A token deadline restarted by resends and as long as the flow's is outlasted; shorter is not."""
    same = check(DEFINITION, settings=_Lengths(qr_token_validity=timedelta(hours=24)))
    assert same.result(Property.DEADLINES).detail == (
        "token (qr_token_validity = 1 d) never passes before flow (flow_validity)")
    shorter = check(DEFINITION, settings=_Lengths(qr_token_validity=timedelta(hours=23)))
    assert shorter.result(Property.DEADLINES).ok


def test_a_deadline_declared_after_an_equal_one_never_passes_first() -> None:
    """Two deadlines of one length from creation only: the one declared later never fires first."""
    token, pin_step, flow = DEFINITION.deadlines
    equal = replace(token, starts=("request",))
    first = Definition(**{**_DATA, "deadlines": (flow, equal, pin_step)})
    settings = _Lengths(qr_token_validity=timedelta(hours=24))
    assert check(first, settings=settings).result(Property.DEADLINES).detail == (
        "token (qr_token_validity = 1 d) never passes before flow (flow_validity)")
    before = Definition(**{**_DATA, "deadlines": (equal, pin_step, flow)})
    assert check(before, settings=settings).result(Property.DEADLINES).ok


def test_a_deadline_over_states_the_flow_does_not_cover_is_not_outlasted() -> None:
    """Only a deadline covering all of another's states can outlast it."""
    token, pin_step, flow = DEFINITION.deadlines
    narrow = replace(flow, states=frozenset({"requested"}))
    d = Definition.unchecked(**{**_DATA, "deadlines": (token, pin_step, narrow)})
    detail = check(d, settings=_Lengths(qr_token_validity=timedelta(hours=48))).result(
        Property.DEADLINES).detail
    assert "never passes before" not in detail
