"""The checker's verdicts to the letter where they are rarely seen: judges that raise, odd machines,
deadlines that outlast others, the order of the problems, the report's own fields."""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, fields, replace
from datetime import timedelta
from typing import Any

import pytest

from tests.unit.test_checker_edges import _Lengths
from workflow.checker import Property, Report, check, explore, main
from workflow.definition import DEFINITION, Deadline, Definition, Edge, Event, Outcome, State, Workflow

_DATA = {f.name: getattr(DEFINITION, f.name) for f in fields(DEFINITION) if f.init}
_TOKEN, _PIN_STEP, _FLOW = DEFINITION.deadlines


def test_a_judge_that_raises_gives_a_failed_verdict_naming_the_error() -> None:
    """Deadline data the judges cannot read: well-formedness fails saying what raised, the rest why."""
    broken: Any = Definition.unchecked(**{**_DATA, "deadlines": (_TOKEN, _PIN_STEP, None)})
    report = check(broken)
    well_formed = report.result(Property.WELL_FORMED)
    assert well_formed.ok is False
    assert well_formed.detail == (
        "could not be evaluated: AttributeError: 'NoneType' object has no attribute 'attribute'")
    reachable = report.result(Property.REACHABLE)
    assert reachable.ok is False
    assert reachable.detail == ("the state space could not be explored: "
                                "AttributeError: 'NoneType' object has no attribute 'states'")


def test_a_definition_without_an_initial_state_is_reported_from_no_start() -> None:
    """The report names the start state; a definition that has none gets an empty one, not a crash."""
    no_start = Definition.unchecked(**{k: v for k, v in _DATA.items() if k != "initial"})
    report = check(no_start)
    assert report.start == ""
    assert Property.REACHABLE in report.failed


class _Collect(logging.Handler):
    """Keeps every record it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_the_checker_makes_no_settings_of_its_own_that_warn() -> None:
    """The default bounds come from settings with the checker's own key: no missing-key warning."""
    logger, handler = logging.getLogger("ecps.settings"), _Collect()
    logger.addHandler(handler)
    try:
        assert check(DEFINITION).ok
        assert explore(DEFINITION).start is not None
    finally:
        logger.removeHandler(handler)
    assert [r.getMessage() for r in handler.records] == []


def test_the_report_times_its_own_run() -> None:
    """`seconds` is the time `check` took: positive and within the time measured around it."""
    began = time.perf_counter()
    report = check(DEFINITION)
    around = time.perf_counter() - began
    assert 0 < report.seconds <= around


def test_the_json_report_rounds_seconds_to_the_microsecond() -> None:
    """`as_dict` gives the duration to six decimals."""
    report = Report("d", (), 1, 2, 0.12345678)
    assert report.as_dict()["seconds"] == 0.123457


def test_main_reads_the_command_line_when_given_no_arguments(monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """`main()` checks the definition named after the program's name on the command line."""
    monkeypatch.setattr(sys, "argv", ["ecps-check", "tests.unit.checker_zoo:SHORTCUT"])
    assert main() == 1
    assert "main-path: FAIL" in capsys.readouterr().out


class _Raising(Workflow):
    """A built workflow whose `fire` crashes on one edge instead of answering."""

    def fire(self, state: str, event: str, outcome: str = Outcome.OK) -> Any:
        if (state, event, outcome) == (State.SMS_VERIFIED, Event.SET_PIN, Outcome.OK):
            raise RuntimeError("boom")
        return super().fire(state, event, outcome)


def test_a_machine_whose_fire_crashes_is_named_with_the_error_type() -> None:
    """`fire` raising something other than a refusal is a difference, with the error's type."""
    result = check(DEFINITION, _Raising(DEFINITION)).result(Property.MACHINE)
    assert result.detail == "fire(sms_verified, set_pin, ok) gives RuntimeError, the definition pin_set"
    assert result.counterexample == ("request", "email_sent", "scan", "verify_sms", "set_pin")


def test_a_machine_with_a_state_the_definition_lacks_is_judged_without_a_path() -> None:
    """An extra state and an edge from it are named; no path can lead there, so none is given."""
    built = Workflow(DEFINITION)
    built.machine.add_state("ghost")
    built.machine.add_transition("scan", "ghost", "active")
    result = check(DEFINITION, built).result(Property.MACHINE)
    assert result.detail == ("its states differ from the definition's; "
                             "has an extra edge ghost --scan (*)--> active")
    assert result.counterexample is None


def test_an_outgoing_wrong_answer_from_a_terminal_state_ends_the_counter_example() -> None:
    """The absorbing counter-example ends with the offending edge, its outcome included."""
    leaky = Definition.unchecked(**{**_DATA, "edges": (
        *DEFINITION.edges,
        Edge("authenticate", "locked", "active", Outcome.WRONG, counter="login_failures"))})
    result = check(leaky).result(Property.ABSORBING)
    assert result.detail == "terminal state with an outgoing edge: locked --authenticate--> active"
    assert result.counterexample == ("request", "email_sent", "scan", *["verify_sms (wrong)"] * 4,
                                     "verify_sms (exhausted)", "authenticate (wrong)")


def test_an_unreachable_in_flight_state_without_expiry_has_no_counter_example() -> None:
    """No path reaches the state, so the expiry failure gives none rather than a broken one."""
    limbo = Definition.unchecked(**{**_DATA, "states": (*DEFINITION.states, "limbo"),
                                    "in_flight": DEFINITION.in_flight | {"limbo"}})
    result = check(limbo).result(Property.EXPIRY)
    assert result.detail == "limbo has no expire edge to a terminal state"
    assert result.counterexample is None


def test_deadline_problems_follow_the_definitions_order_of_states() -> None:
    """A deadline that never starts is named state by state in declaration order, unknown ones last."""
    nap = Deadline("nap", frozenset({*DEFINITION.in_flight, "limbo"}), "flow_validity", ("snore",),
                   slot="nap")
    d = Definition.unchecked(**{**_DATA, "deadlines": (*DEFINITION.deadlines, nap),
                                "edges": (*DEFINITION.edges, Edge("detour", "emailed", "limbo"))})
    result = check(d).result(Property.DEADLINES)
    assert result.ok is False
    assert result.detail == "; ".join(
        f"nap never runs in {s}" for s in ("requested", "emailed", "scanned", "sms_verified", "pin_set",
                                           "limbo"))


@pytest.mark.parametrize(("token", "flow", "shown"), [
    (timedelta(minutes=100), timedelta(minutes=90), "100 min"),
    (timedelta(hours=25), timedelta(hours=24), "25 h"),
    (timedelta(days=2), timedelta(hours=24), "2 d"),
    (timedelta(seconds=6001), timedelta(minutes=90), "6001 s"),
])
def test_an_outlasted_deadline_shows_its_length_in_the_largest_whole_unit(
        token: timedelta, flow: timedelta, shown: str) -> None:
    """Days, hours, minutes, else seconds."""
    settings = _Lengths(qr_token_validity=token, flow_validity=flow)
    assert check(DEFINITION, settings=settings).result(Property.DEADLINES).detail == (
        f"token (qr_token_validity = {shown}) never passes before flow (flow_validity)")


def test_a_deadline_restarted_by_other_events_outlasts_nothing() -> None:
    """Only a deadline started at creation alone is sure to pass first."""
    restarted = replace(_FLOW, starts=("request", "scan"))
    d = Definition.unchecked(**{**_DATA, "deadlines": (_TOKEN, _PIN_STEP, restarted)})
    settings = _Lengths(qr_token_validity=timedelta(hours=24))
    assert check(d, settings=settings).result(Property.DEADLINES).ok


def test_a_deadline_over_the_same_states_declared_later_is_outlasted() -> None:
    """Equal states count as covered: the later of two equal deadlines from creation never fires."""
    twin = replace(_TOKEN, starts=("request",), states=_FLOW.states, slot="twin")
    d = Definition.unchecked(**{**_DATA, "deadlines": (_FLOW, twin, _PIN_STEP)})
    settings = _Lengths(qr_token_validity=timedelta(hours=24))
    assert check(d, settings=settings).result(Property.DEADLINES).detail == (
        "token (qr_token_validity = 1 d) never passes before flow (flow_validity)")


def test_every_creation_deadline_is_tried_as_the_outer_one() -> None:
    """A creation deadline that does not cover the token's states does not hide the flow behind it."""
    nap = Deadline("nap", frozenset({"requested"}), "flow_validity", ("request",), slot="nap")
    d = Definition.unchecked(**{**_DATA, "deadlines": (nap, _TOKEN, _PIN_STEP, _FLOW)})
    settings = _Lengths(qr_token_validity=timedelta(hours=24))
    assert check(d, settings=settings).result(Property.DEADLINES).detail == (
        "token (qr_token_validity = 1 d) never passes before flow (flow_validity)")


@dataclass(frozen=True)
class _NoFlowLength:
    """Bounds and lengths as the defaults, without `flow_validity`."""

    qr_token_validity: timedelta = timedelta(hours=1)
    pin_step_validity: timedelta = timedelta(minutes=10)
    max_resends: int = 3
    max_sms_attempts: int = 5
    max_pin_mismatches: int = 3
    max_login_failures: int = 10


def test_a_missing_length_is_named_not_raised_when_comparing_deadlines() -> None:
    """The flow's missing length is the only problem; comparing the token with it does not crash."""
    result = check(DEFINITION, settings=_NoFlowLength()).result(Property.DEADLINES)
    assert result.detail == "flow: Settings has no duration 'flow_validity' and the deadline no default"
