"""What the checker tells a designer: each failure's exact reason, the report's text and JSON, the loader."""

from __future__ import annotations

import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from tests.unit.checker_zoo import SHORTCUT, specimens
from workflow.checker import Property, check, load_definition, main
from workflow.definition import DEFINITION, WORKFLOW, Deadline, Definition, Edge

_SKIPPED = ("active is reached without passing requested → emailed → scanned → sms_verified → "
            "pin_set in this order")
WHY = {
    "shortcut": _SKIPPED,
    "skipped-step": _SKIPPED,
    "missing-expiry": "scanned has no expire edge to a terminal state",
    "unbounded-sms": "sms_attempts passes Settings.max_sms_attempts in scanned",
    "lock-loops-back": "pin_mismatches passes Settings.max_pin_mismatches in sms_verified",
    "unknown-bound": "counter sms_attempts has no bound: Settings has no 'max_sms_tries' and its default -1 "
                     "is not an integer ≥ 0; sms_attempts passes Settings.max_sms_tries in locked",
    "terminal-exit": "terminal state with an outgoing edge: expired --scan--> scanned",
    "unreachable": "never reached: revoked",
    "trap": "no terminal state can be reached from revoked",
    "two-targets": "emailed --scan (ok)--> scanned or sms_verified",
    "auto-transitions": "auto_transitions is on; triggers outside the definition: to_active, to_cancelled, "
                        "to_emailed, to_expired, to_failed, to_locked, to_pin_set, to_requested, to_revoked, "
                        "to_scanned, to_sms_verified",
    "patched-machine": "has an extra edge emailed --scan (*)--> active; fire(emailed, scan, wrong) gives "
                       "active, the definition a refusal; fire(emailed, scan, exhausted) gives active, the "
                       "definition a refusal",
    "drifted-fire": "fire(sms_verified, set_pin, ok) gives active, the definition pin_set; "
                    "fire(sms_verified, set_pin, wrong) gives active, the definition a refusal; "
                    "fire(sms_verified, set_pin, exhausted) gives active, the definition a refusal",
    "stale-machine": "has an extra edge active --authenticate (wrong)--> active; fire(active, authenticate, "
                     "wrong) gives active, the definition a refusal",
    "never-started": "pin_step never runs in sms_verified; pin_step never runs in pin_set",
    "unknown-validity": "pin_step: Settings has no duration 'pin_validity' and the deadline no default",
    "outlasted": "token (flow_validity = 1 d) never passes before flow (flow_validity)",
    "longer-than-flow": "token (qr_token_validity = 2 h) never passes before flow (flow_validity)",
    "no-expire-edge": "session passes in active, which has no expire edge",
}
_DATA = {f.name: getattr(DEFINITION, f.name) for f in fields(DEFINITION) if f.init}


@pytest.mark.parametrize("specimen", specimens(), ids=lambda s: s.name)
def test_each_failure_gives_its_exact_reason(specimen: Any) -> None:
    """The reason a broken definition fails names the states, edges, counters or settings at fault."""
    report = check(specimen.definition, specimen.workflow, specimen.settings)
    assert report.result(specimen.violates).detail == WHY[specimen.name]


def test_the_report_renders_every_line() -> None:
    """Header, table, the failure's claim, reason and counter-example, and the tally, line by line."""
    lines = check(SHORTCUT).render().splitlines()
    assert lines[0].startswith("Model check of 'ecps-activation': 107 states and 304 transitions in ")
    assert lines[0].endswith(" s")
    assert lines[1:4] == ["", "  property       result  claim",
                          "  -------------  ------  " + "-" * 55]
    assert lines[4] == "  well-formed    PASS    the data is consistent (states, counters, settings)"
    assert lines[8] == ("  main-path      FAIL    every path to active passes requested, emailed, scanned, "
                        "sms_verified, pin_set in this order")
    assert lines[14:] == [
        "", "main-path: FAIL — every path to active passes requested, emailed, scanned, sms_verified, "
            "pin_set in this order",
        f"  why: {WHY['shortcut']}",
        "  counter-example, from a new requested: request → email_sent → confirm_pin",
        "", "1 of 10 properties fail"]


def test_the_report_as_json_holds_every_verdict() -> None:
    """`as_dict` gives the counts, the start state and each property's verdict, reason and path."""
    data = check(SHORTCUT).as_dict()
    assert {k: data[k] for k in ("definition", "ok", "start", "states_explored", "transitions_explored")} == {
        "definition": "ecps-activation", "ok": False, "start": "requested", "states_explored": 107,
        "transitions_explored": 304}
    assert isinstance(data["seconds"], float)
    verdicts = data["properties"]
    assert isinstance(verdicts, list)
    assert [v["name"] for v in verdicts] == [str(p) for p in Property]
    assert verdicts[4] == {"name": "main-path", "ok": False, "claim": check(SHORTCUT).result(
        Property.MAIN_PATH).claim, "detail": WHY["shortcut"],
        "counterexample": ["request", "email_sent", "confirm_pin"]}
    assert verdicts[0] == {"name": "well-formed", "ok": True,
                           "claim": "the data is consistent (states, counters, settings)", "detail": "",
                           "counterexample": None}


def test_a_state_reachable_only_with_a_deadline_passed_is_described_so() -> None:
    """A trap that only opens once a deadline passed names that deadline."""
    stuck = Definition.unchecked(**{**_DATA, "edges": tuple(
        e if (e.source, e.event) != ("emailed", "expire") else Edge("expire", "emailed", "emailed")
        for e in DEFINITION.edges)})
    result = check(stuck).result(Property.NO_TRAP)
    assert result.detail == ("no terminal state can be reached from emailed once token passed, "
                             "emailed once flow passed")
    assert result.counterexample == ("request", "email_sent", "clock passes token")


def test_an_in_flight_state_with_no_deadline_running_is_named() -> None:
    """Entering an in-flight state by an event that starts none of its deadlines is an expiry failure."""
    no_flow = Definition.unchecked(**{**_DATA, "deadlines": tuple(
        dl for dl in DEFINITION.deadlines if dl.name != "flow")})
    result = check(no_flow).result(Property.EXPIRY)
    assert result.detail == "no deadline covers scanned; scanned can be reached with no deadline running"
    assert result.counterexample is not None


def test_a_deadline_over_unknown_states_or_events_is_malformed() -> None:
    """Deadlines covering states or started by events the definition lacks are named."""
    odd = Definition.unchecked(**{**_DATA, "deadlines": (
        *DEFINITION.deadlines, Deadline("nap", frozenset({"asleep"}), "flow_validity", ("snore",)))})
    detail = check(odd).result(Property.WELL_FORMED).detail
    assert "deadline nap covers unknown states" in detail
    assert "deadline nap must start on known events" in detail


def test_the_loader_finds_definitions_and_their_machines(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """`module:NAME`, a built machine's definition, and the default attribute are all understood."""
    assert load_definition("workflow.definition") is DEFINITION
    assert load_definition("workflow.definition:WORKFLOW") is WORKFLOW.definition
    (tmp_path / "flows_here.py").write_text(
        "from tests.unit.checker_zoo import SHORTCUT\nBROKEN = SHORTCUT\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    try:
        assert load_definition("flows_here:BROKEN") is SHORTCUT
    finally:
        sys.modules.pop("flows_here", None)  # not monkeypatch.delitem: it would put the module back


def test_the_loader_loads_a_definition_that_fails_validation(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A module whose definition raises when built is loaded again unvalidated, for the checker."""
    (tmp_path / "broken_here.py").write_text(
        "from workflow.engine import Definition, Edge\n"
        "BROKEN = Definition(name='b', states=('a', 'z'), initial='a', main_path=('a', 'z'),\n"
        "                    terminal=frozenset({'z'}), in_flight=frozenset({'a'}),\n"
        "                    edges=(Edge('go', 'a', 'z'), Edge('back', 'z', 'a')))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        found = load_definition("broken_here:BROKEN")
    finally:
        sys.modules.pop("broken_here", None)
    assert check(found).failed >= {Property.ABSORBING}


@pytest.mark.parametrize(("spec", "error", "message"), [
    ("no spaces:X", ValueError, "expected 'package.module:NAME', got 'no spaces:X'"),
    (":X", ValueError, "expected 'package.module:NAME'"),
    ("workflow.definition:NOPE", ValueError, "module 'workflow.definition' has no attribute 'NOPE'"),
    ("workflow.definition:State", TypeError,
     "workflow.definition:State is a EnumType, not a workflow Definition"),
])
def test_the_loader_says_what_is_wrong_with_a_spec(spec: str, error: type[Exception], message: str) -> None:
    """A malformed spec, a missing attribute or something that is not a definition is refused clearly."""
    with pytest.raises(error) as raised:
        load_definition(spec)
    assert message in str(raised.value)


def test_main_prints_the_report_and_exits_by_its_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m workflow.checker` exits 0 on the shipped definition, 1 on a broken one."""
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Model check of 'ecps-activation'")
    assert out.rstrip().endswith("all 10 properties hold")
    assert main(["tests.unit.checker_zoo:SHORTCUT"]) == 1
    assert "1 of 10 properties fail" in capsys.readouterr().out


def test_every_property_has_one_judge_registered_under_its_name() -> None:
    """The judges are found by property name, not by their order in a list."""
    from workflow.checker.proofs import PROOFS

    assert set(PROOFS) == set(Property)
    assert PROOFS[Property.MAIN_PATH].__name__ == "_main_path"
