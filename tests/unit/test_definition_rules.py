"""Each structural rule of a definition is named exactly, with its offenders; lookups of a built one."""

from __future__ import annotations

import dataclasses

import pytest

from workflow import DEFINITION, DefinitionError
from workflow.definition import (
    Definition,
    Edge,
    Event,
    Outcome,
    Problem,
    State,
    Workflow,
    definition_problems,
    reachable,
)

S, E, OC = State, Event, Outcome


def _broken() -> Definition:
    """A small definition that breaks every structural rule once."""
    return Definition.unchecked(
        name="broken", states=(S.REQUESTED, S.EMAILED, S.EMAILED, S.ACTIVE, S.LOCKED, S.FAILED, S.EXPIRED),
        initial=S.REQUESTED, main_path=(S.REQUESTED, S.EMAILED, S.ACTIVE),
        terminal=frozenset({S.LOCKED, S.ACTIVE, S.EXPIRED}),
        in_flight=frozenset({S.REQUESTED, S.EMAILED, S.ACTIVE}),
        edges=(Edge(E.EMAIL_SENT, S.REQUESTED, S.EMAILED), Edge(E.EMAIL_SENT, S.REQUESTED, S.EMAILED),
               Edge(E.SCAN, S.EMAILED, S.ACTIVE), Edge(E.SCAN, S.EMAILED, S.LOCKED),
               Edge(E.VERIFY_SMS, S.EMAILED, S.EMAILED, OC.WRONG),
               Edge(E.REVOKE, S.ACTIVE, S.REVOKED, counter="nope"),
               Edge(E.CANCEL, S.LOCKED, S.LOCKED), Edge(E.EXPIRE, S.FAILED, S.EXPIRED)))


def test_every_structural_problem_is_named_with_its_offenders() -> None:
    """The rules come out in order, worded as `ecps check` shows them, each with its offenders."""
    assert [(p.rule, p.offenders) for p in definition_problems(_broken())] == [
        ("duplicate states", ("emailed",)),
        ("unknown states", ("revoked",)),
        ("terminal and in-flight at once", ("active",)),
        ("two targets for one (state, event, outcome)", ("emailed.scan.ok",)),
        ("edges naming an unknown counter", ("active.revoke",)),
        ("wrong or exhausted answers without a counter", ("emailed.verify_sms",)),
        ("terminal states with an outgoing edge", ("active", "locked")),
        ("unreachable states", ("expired", "failed")),
    ]
    fields = {f.name: getattr(_broken(), f.name) for f in dataclasses.fields(Definition) if f.init}
    stuck = Definition.unchecked(**{**fields, "edges": _broken().edges[:-1]})
    found = [(p.rule, p.offenders) for p in definition_problems(stuck)]
    assert ("states with no way out", ("failed",)) in found


def test_a_repeated_identical_edge_is_not_two_targets() -> None:
    """The same edge listed twice is harmless; only a second target for one answer is a problem."""
    rules = [p.rule for p in definition_problems(_broken())]
    assert rules.count("two targets for one (state, event, outcome)") == 1
    assert definition_problems(dataclasses.replace(DEFINITION, edges=(*DEFINITION.edges, DEFINITION.edges[0]))
                               ) == []


def test_one_answer_with_two_different_counters_is_refused() -> None:
    """Two edges for one (state, event, outcome) and one target but different counters are not merged."""
    twin = dataclasses.replace(DEFINITION.edges[0], counter="sms_attempts")
    with pytest.raises(DefinitionError, match=r"with different counters: requested\.email_sent\.ok"):
        dataclasses.replace(DEFINITION, edges=(*DEFINITION.edges, twin))


def test_reachable_follows_edges_only_from_states_already_reached() -> None:
    """An edge out of an unreachable state does not make its target reachable."""
    assert reachable(_broken()) == {S.REQUESTED, S.EMAILED, S.ACTIVE, S.LOCKED, S.REVOKED}
    assert reachable(DEFINITION) == set(State)


def test_the_error_lists_every_problem_with_its_offenders() -> None:
    """Building a broken definition raises one DefinitionError naming all problems, `; `-separated."""
    fields = {f.name: getattr(_broken(), f.name) for f in dataclasses.fields(Definition) if f.init}
    with pytest.raises(DefinitionError) as caught:
        Definition(**fields)
    text = str(caught.value)
    assert "definition 'broken' is invalid: duplicate states: emailed; unknown states: revoked; " in text
    assert "outgoing edge: active, locked; unreachable states: expired, failed" in text
    assert str(Problem("a rule", ("x", "y"))) == "a rule: x, y"


def test_unchecked_fills_the_optional_parts_with_empty_tuples() -> None:
    """A definition built without validation still has counters, deadlines and implied events to read."""
    d = _broken()
    assert (d.counters, d.deadlines, d.implied) == ((), (), ())
    assert d.edge(S.EMAILED, E.VERIFY_SMS, OC.WRONG) is not None


def test_a_built_definition_answers_lookups() -> None:
    """A definition built anew finds its edges and counters; its workflow keeps it."""
    fields = {f.name: getattr(DEFINITION, f.name) for f in dataclasses.fields(Definition) if f.init}
    d = Definition(**fields)
    edge = d.edge(S.SCANNED, E.VERIFY_SMS, OC.EXHAUSTED)
    assert edge is not None
    assert edge.dest == S.LOCKED
    assert d.counter("sms_attempts").bound == "max_sms_attempts"
    assert d.counter("pin_mismatches").default == 3
    assert d.allows(S.REQUESTED, E.SCAN)  # through the implied email_sent
    assert d.allows(S.SCANNED, E.VERIFY_SMS)
    assert not d.allows(S.EMAILED, E.SET_PIN)
    assert Workflow(d).definition is d
