"""The explored space itself: implied events as steps with their own outcomes, bounds and shortcuts."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import timedelta

from tests.unit.checker_zoo import specimens
from tests.unit.test_checker_edges import _Lengths
from workflow.checker import IDLE, RUNNING, Property, check, explore
from workflow.definition import DEFINITION, Counter, Definition, Edge, Implied, Outcome

_DATA = {f.name: getattr(DEFINITION, f.name) for f in fields(DEFINITION) if f.init}
_SCAN_FIRST = Implied("emailed", "verify_sms", "scan")
"""A test-only rule: an SMS code typed while `emailed` proves the scan first."""


def _with(*implied: Implied[str, str], edges: tuple[Edge[str, str], ...] = DEFINITION.edges) -> Definition:
    return Definition.unchecked(**{**_DATA, "implied": (*DEFINITION.implied, *implied), "edges": edges})


def test_the_order_of_the_edges_does_not_change_the_space() -> None:
    """Reversed edges (so a state's first edge is not the implied event's) explore the same space."""
    shipped = explore(DEFINITION)
    reversed_ = explore(Definition.unchecked(**{**_DATA, "edges": tuple(reversed(DEFINITION.edges))}))
    assert set(reversed_.parent) == set(shipped.parent)
    assert reversed_.transitions == shipped.transitions


def test_an_implied_event_leading_to_a_state_without_edges_is_explored() -> None:
    """An implied `cancel` ends in a terminal state with no edges: the space is still explored."""
    report = check(Definition.unchecked(**{**_DATA, "implied": (Implied("requested", "scan", "cancel"),)}))
    assert report.states_explored == check(DEFINITION).states_explored
    assert report.result(Property.REACHABLE).ok
    assert report.result(Property.WELL_FORMED).detail == (
        "implied cancel then scan is not a path from requested")


def test_an_implied_step_keeps_the_outcome_of_the_event_it_precedes() -> None:
    """A code typed while `emailed` is right or wrong, the scan being recorded first either way."""
    space = explore(_with(_SCAN_FIRST))
    emailed = space.first("emailed")
    assert emailed is not None
    steps = sorted(str(step) for step, _ in space.moves[emailed] if step.implied == ("scan",))
    assert steps == ["verify_sms", "verify_sms (wrong)"]


def test_an_implied_step_passing_a_bound_is_an_overflow() -> None:
    """With no lock edge and a bound of 0, the first wrong code passes it, even through an implied scan."""
    unlocked = tuple(e for e in DEFINITION.edges
                     if not (e.source == "scanned" and e.outcome == Outcome.EXHAUSTED))
    report = check(_with(_SCAN_FIRST, edges=unlocked),
                   settings=_Lengths(qr_token_validity=timedelta(hours=1), max_sms_attempts=0))
    result = report.result(Property.BOUNDED)
    assert result.detail == "sms_attempts passes Settings.max_sms_attempts in scanned"
    assert result.counterexample == ("request", "email_sent", "scan", "verify_sms (wrong)")


def test_an_implied_step_reaching_the_goal_out_of_order_is_a_shortcut() -> None:
    """A confirmation while `emailed` (the scan implied) that reaches `active` skips the main path."""
    skipping = _with(Implied("emailed", "confirm_pin", "scan"),
                     edges=(*DEFINITION.edges, Edge("confirm_pin", "scanned", "active")))
    result = check(skipping).result(Property.MAIN_PATH)
    assert not result.ok
    assert result.counterexample == ("request", "email_sent", "scan", "confirm_pin")


def test_a_definition_without_a_main_path_is_explored_and_claims_none() -> None:
    """No main path: the same space, and the main-path property holds trivially."""
    report = check(Definition.unchecked(**{**_DATA, "main_path": ()}))
    assert report.states_explored == check(DEFINITION).states_explored
    assert report.ok, report.render()


def test_skipping_the_first_main_step_is_a_shortcut() -> None:
    """A direct scan while `requested` (no implied delivery) skips `emailed`: main-path fails."""
    jump = Definition.unchecked(**{**_DATA, "implied": (),
                                   "edges": (*DEFINITION.edges, Edge("scan", "requested", "scanned"))})
    result = check(jump).result(Property.MAIN_PATH)
    assert not result.ok
    assert result.counterexample == ("request", "scan", "verify_sms", "set_pin", "confirm_pin")


def test_a_deadline_not_started_by_the_creating_event_is_idle_at_the_start() -> None:
    """A token deadline started by resends only is idle in the start configuration; the flow runs."""
    token, pin_step, flow = DEFINITION.deadlines
    late = replace(token, starts=("resend_email",))
    start = explore(Definition.unchecked(**{**_DATA, "deadlines": (late, pin_step, flow)})).start
    assert start is not None
    assert start.phases == (IDLE, IDLE, RUNNING)
    assert start.progress == 0


def test_counters_no_edge_can_read_any_more_are_zero() -> None:
    """Past the last edge that reads them (in a terminal state, every counter) the counts are 0."""
    space = explore(DEFINITION)
    ended = [c for c in space.parent if c.state in DEFINITION.terminal]
    assert ended
    assert {c.counts for c in ended} == {(0,) * len(DEFINITION.counters)}


def test_explore_reduces_by_default_and_paths_start_with_the_creating_event() -> None:
    """`explore(d)` is the reduced space `check` judges; its paths begin with `d.created_by`."""
    full = explore(DEFINITION, reduce=False)
    assert len(explore(DEFINITION).parent) == check(DEFINITION).states_explored < len(full.parent)
    space = explore(Definition.unchecked(**{**_DATA, "created_by": "invite"}))
    emailed = space.first("emailed")
    assert emailed is not None
    assert space.path(emailed) == ("invite", "email_sent")


def test_the_space_keeps_exploring_past_a_counter_overflow_and_says_which_counters_live() -> None:
    """An overflowing configuration is a dead end, not the end: every state is still reached."""
    unbounded = next(s for s in specimens() if s.name == "unbounded-sms")
    space = explore(unbounded.definition, unbounded.settings)
    assert space.overflow
    assert all(space.moves[c] == [] for c in space.overflow)
    assert set(space.moves) == set(space.parent)  # every configuration found was expanded
    assert {c.state for c in space.parent} == set(DEFINITION.states)
    assert space.live["locked"] == (False,) * len(DEFINITION.counters)
    assert space.live["active"] == tuple(c.name == "login_failures" for c in DEFINITION.counters)


def test_a_counter_without_its_setting_is_bounded_by_its_default_even_zero() -> None:
    """No `max_sms_tries` in the settings and a default of 0: the bound is 0, passed at once."""
    counters = tuple(Counter(c.name, "max_sms_tries", 0) if c.name == "sms_attempts" else c
                     for c in DEFINITION.counters)
    result = check(Definition.unchecked(**{**_DATA, "counters": counters})).result(Property.BOUNDED)
    assert result.detail == "sms_attempts passes Settings.max_sms_tries in locked"
