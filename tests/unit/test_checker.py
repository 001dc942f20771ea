"""The model checker proves the shipped definition and rejects every specimen of the zoo."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest

from tests.conftest import fast_settings
from tests.unit.checker_zoo import SHORTCUT, Specimen, edge_of, specimens, variant, without
from workflow import WORKFLOW
from workflow.checker import CLAIMS, Property, Report, check, load_definition, main
from workflow.definition import DEFINITION, Definition, Edge, Event, Outcome, State
from workflow.errors import DefinitionError

ZOO = specimens()


@pytest.fixture(scope="module")
def shipped() -> Report:
    """The report on the shipped definition."""
    return check(DEFINITION)


def test_shipped_definition_passes_every_property(shipped: Report) -> None:
    """The shipped definition satisfies every property of docs/specification.md §7."""
    assert shipped.ok, shipped.render()
    assert {r.name for r in shipped.results} == set(Property)
    assert shipped.failed == frozenset()


def test_exploration_covers_counters_and_deadlines(shipped: Report) -> None:
    """The checker explores counter values and deadline phases, not just the 11 states."""
    assert shipped.states_explored > 5 * len(DEFINITION.states)
    assert shipped.transitions_explored > len(DEFINITION.edges)


def test_shipped_workflow_object_matches_its_definition() -> None:
    """The machine the service uses (`WORKFLOW`) equals the shipped definition."""
    assert check(DEFINITION, WORKFLOW).result(Property.MACHINE).ok


def test_zoo_is_large_enough() -> None:
    """The zoo holds at least ten specimens covering every property but well-formedness."""
    assert len(ZOO) >= 10
    assert {s.violates for s in ZOO} >= set(Property) - {Property.WELL_FORMED}
    assert len({s.name for s in ZOO}) == len(ZOO)


@pytest.mark.parametrize("specimen", ZOO, ids=[s.name for s in ZOO])
def test_zoo_specimen_is_rejected_naming_its_property(specimen: Specimen) -> None:
    """Each broken definition fails, and the property it breaks is among the failures."""
    report = check(specimen.definition, specimen.workflow, specimen.settings)
    result = report.result(specimen.violates)
    assert not report.ok
    assert not result.ok, f"{specimen.defect}: {report.render()}"
    assert result.detail
    if specimen.counterexample is not None:
        assert result.counterexample == specimen.counterexample


@pytest.mark.parametrize("specimen", ZOO, ids=[s.name for s in ZOO])
def test_report_renders_the_failure(specimen: Specimen) -> None:
    """The rendered table marks the failing property and prints its counter-example."""
    report = check(specimen.definition, specimen.workflow, specimen.settings)
    text = report.render()
    assert f"{specimen.violates}: FAIL" in text
    example = report.result(specimen.violates).counterexample
    if example is not None:
        assert "counter-example, from a new requested: " + " → ".join(example) in text
    assert text.endswith(f"{len(report.failed)} of {len(Property)} properties fail")


def test_shortcut_passes_structural_validation_but_not_the_checker() -> None:
    """`Definition` accepts the shortcut (it is structurally sound); only the checker catches it."""
    data = {f.name: getattr(SHORTCUT, f.name) for f in fields(SHORTCUT) if f.init}
    Definition(**data)
    assert check(SHORTCUT).failed == {Property.MAIN_PATH}


@pytest.mark.parametrize("name", ["terminal-exit", "unreachable", "trap", "two-targets"])
def test_checker_judges_definitions_that_cannot_be_built(name: str) -> None:
    """A definition `Definition` refuses to build still gets a verdict with the right property."""
    specimen = next(s for s in ZOO if s.name == name)
    data = {f.name: getattr(specimen.definition, f.name)
            for f in fields(specimen.definition) if f.init}
    with pytest.raises(DefinitionError):
        Definition(**data)
    assert specimen.violates in check(specimen.definition).failed


@pytest.mark.parametrize("state", sorted(DEFINITION.in_flight))
def test_any_missing_expiry_edge_is_found(state: State) -> None:
    """Removing the expire edge of any in-flight state fails the expiry property."""
    report = check(without(edge_of(state, Event.EXPIRE)))
    assert Property.EXPIRY in report.failed
    assert str(state) in report.result(Property.EXPIRY).detail


@pytest.mark.parametrize(
    ("state", "event", "counter"),
    [(State.SCANNED, Event.VERIFY_SMS, "max_sms_attempts"),
     (State.PIN_SET, Event.CONFIRM_PIN, "max_pin_mismatches"),
     (State.ACTIVE, Event.AUTHENTICATE, "max_login_failures")],
)
def test_any_removed_lock_branch_makes_a_counter_unbounded(
    state: State, event: Event, counter: str
) -> None:
    """Without its lock edge a counter passes its bound; the example has bound + 1 wrong answers."""
    settings = fast_settings(**{counter: 2})
    report = check(without(edge_of(state, event, Outcome.EXHAUSTED)), settings=settings)
    example = report.result(Property.BOUNDED).counterexample
    assert Property.BOUNDED in report.failed
    assert example is not None
    assert example.count(f"{event} (wrong)") == 3


def test_bounds_come_from_the_settings() -> None:
    """Smaller limits in the settings shrink the explored space and still pass."""
    small = check(DEFINITION, settings=fast_settings(max_sms_attempts=1, max_resends=0,
                                                     max_pin_mismatches=1, max_login_failures=1))
    assert small.ok, small.render()
    assert small.states_explored < check(DEFINITION).states_explored


@pytest.mark.parametrize("name", ["shortcut", "unbounded-sms", "missing-expiry", "trap"])
def test_reduction_does_not_change_verdicts(name: str) -> None:
    """Forgetting dead counters gives the same verdicts and examples as the full product."""
    specimen = next(s for s in ZOO if s.name == name)
    reduced, full = check(specimen.definition), check(specimen.definition, reduce=False)
    assert reduced.failed == full.failed
    assert full.states_explored > reduced.states_explored
    for prop in reduced.failed:
        assert reduced.result(prop).counterexample == full.result(prop).counterexample


def test_full_product_of_shipped_definition_passes() -> None:
    """Without reduction the shipped definition still passes every property."""
    assert check(DEFINITION, reduce=False).ok


def test_garbage_definition_gets_verdicts_not_a_crash() -> None:
    """Unknown states and counters in a definition are reported, not raised."""
    broken = without(add=(Edge(Event.SCAN, State.EMAILED, "limbo", counter="ghost"),))  # type: ignore[arg-type]
    report = check(broken)
    assert Property.WELL_FORMED in report.failed
    assert "limbo" in report.result(Property.WELL_FORMED).detail


def test_unexplorable_definition_still_gets_a_report() -> None:
    """Data the explorer cannot read fails well-formedness and the space-based properties."""
    report = check(variant(deadlines=(object(),)))
    assert report.states_explored == 0
    assert Property.WELL_FORMED in report.failed
    assert "could not be explored" in report.result(Property.REACHABLE).detail
    assert report.result(Property.MACHINE).ok


def test_report_as_dict_is_json_ready() -> None:
    """`as_dict()` gives every verdict and counter-example as plain JSON data."""
    data = check(SHORTCUT).as_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["ok"] is False
    verdicts = {p["name"]: p for p in data["properties"]}  # type: ignore[attr-defined]
    assert set(verdicts) == {str(p) for p in Property}
    assert verdicts["main-path"]["counterexample"] == ["request", "email_sent", "confirm_pin"]
    assert verdicts["reachable"]["ok"] is True


def test_every_property_has_a_claim() -> None:
    """Each property states what it proves, and the table names them all."""
    report = check(DEFINITION)
    text = report.render()
    for result in report.results:
        assert result.claim in text
        assert result.claim == CLAIMS[result.name] or result.name == Property.MAIN_PATH
    assert report.result(Property.MAIN_PATH).claim == (
        "every path to active passes requested, emailed, scanned, sms_verified, pin_set in this order")
    assert text.endswith(f"all {len(Property)} properties hold")


def test_load_definition_finds_a_definition() -> None:
    """`package.module:NAME` loads a definition; the name defaults to DEFINITION."""
    assert load_definition("workflow.definition:DEFINITION") is DEFINITION
    assert load_definition("workflow.definition") is DEFINITION
    assert load_definition("workflow.definition:WORKFLOW") is DEFINITION
    assert load_definition("tests.unit.checker_zoo:SHORTCUT") is SHORTCUT


@pytest.mark.parametrize(
    ("spec", "error"),
    [("", ValueError), ("not a module", ValueError), ("workflow.definition:NOPE", ValueError),
     ("workflow.definition:State", TypeError), ("workflow.no_such_module:X", ImportError)],
)
def test_load_definition_rejects_bad_specs(spec: str, error: type[Exception]) -> None:
    """A spec that names no definition raises a clear error."""
    with pytest.raises(error):
        load_definition(spec)


def test_main_exits_zero_or_one(capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m workflow.checker` prints the table and exits 0 when sound, 1 otherwise."""
    assert main(["workflow.definition:DEFINITION"]) == 0
    assert "all 10 properties hold" in capsys.readouterr().out
    assert main(["tests.unit.checker_zoo:SHORTCUT"]) == 1
    out = capsys.readouterr().out
    assert "main-path: FAIL" in out
    assert "request → email_sent → confirm_pin" in out
