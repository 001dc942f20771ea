"""Definition coverage: what a run hit, what it missed, and the report."""

from __future__ import annotations

import threading
from datetime import timedelta

from workflow.definition import DEFINITION, Event, Outcome, State
from workflow.testing.coverage import BOUNDARY_OFFSETS, Coverage, Missing


def _everything(c: Coverage) -> None:
    for s in DEFINITION.states:
        c.hit_state(s)
    for e in DEFINITION.edges:
        c.hit_edge(e.source, e.event, e.outcome)
    for d in DEFINITION.deadlines:
        for off in BOUNDARY_OFFSETS:
            c.hit_boundary(d.name, off)


def test_a_fresh_tally_misses_the_whole_definition() -> None:
    """Nothing recorded: every state, edge and boundary is missing."""
    gaps = Coverage().missing()
    assert len(gaps.states) == len(DEFINITION.states)
    assert len(gaps.edges) == len(DEFINITION.edges)
    assert len(gaps.boundaries) == 3 * len(DEFINITION.deadlines)
    assert gaps


def test_hitting_everything_leaves_nothing_missing() -> None:
    """Every state, edge and boundary recorded: `missing()` is empty and false."""
    c = Coverage()
    _everything(c)
    assert not c.missing()
    assert str(c.missing()) == "nothing missing"
    assert "MISSING" not in c.report()


def test_guard_outcomes_are_separate_edges() -> None:
    """A wrong answer does not cover the exhausted one from the same state and event."""
    c = Coverage()
    _everything(c)
    c.edges.pop((State.SCANNED, Event.VERIFY_SMS, Outcome.EXHAUSTED))
    assert c.missing() == Missing(edges=((State.SCANNED, Event.VERIFY_SMS, Outcome.EXHAUSTED),))
    assert "MISSING edge scanned --verify_sms/exhausted-->" in c.report()


def test_each_deadline_boundary_is_required() -> None:
    """T-1 s, T and T+1 s of each deadline are three separate requirements; timedeltas count too."""
    c = Coverage()
    _everything(c)
    c.boundaries.pop(("pin_step", 0))
    assert c.missing().boundaries == (("pin_step", 0),)
    c.hit_boundary("pin_step", timedelta(0))
    assert not c.missing()
    c.hit_boundary("token", timedelta(seconds=-1))
    assert c.boundaries[("token", -1)] == 2


def test_strings_are_accepted_and_unknown_edges_reported() -> None:
    """Plain strings are normalised; an edge the definition lacks is reported as unexpected."""
    c = Coverage()
    c.hit_edge("active", "scan", "ok")
    c.hit_edge("scanned", "verify_sms")
    assert c.edges[(State.SCANNED, Event.VERIFY_SMS, Outcome.OK)] == 1
    assert c.unexpected() == [(State.ACTIVE, Event.SCAN, Outcome.OK)]
    assert "UNEXPECTED edge active --scan/ok-->" in c.report()


def test_merge_and_reset() -> None:
    """`merge` adds another tally's counts; `reset` forgets everything."""
    a, b = Coverage(), Coverage()
    a.hit_state(State.ACTIVE)
    b.hit_state(State.ACTIVE)
    b.hit_boundary("flow", 1)
    a.merge(b)
    assert a.states[State.ACTIVE] == 2
    assert a.boundaries[("flow", 1)] == 1
    assert not a.empty()
    a.reset()
    assert a.empty()


def test_the_report_counts_hits_per_kind() -> None:
    """The report says how many states, edges and boundaries of the definition were hit."""
    c = Coverage()
    c.hit_state(State.REQUESTED)
    c.hit_edge(State.REQUESTED, Event.EMAIL_SENT)
    report = c.report()
    assert f"states      1/{len(DEFINITION.states)}" in report
    assert f"edges       1/{len(DEFINITION.edges)}" in report
    assert f"boundaries  0/{3 * len(DEFINITION.deadlines)}" in report


def test_recording_is_thread_safe() -> None:
    """Eight threads recording at once lose no hit."""
    c = Coverage()

    def hit() -> None:
        for _ in range(1000):
            c.hit_state(State.SCANNED)

    threads = [threading.Thread(target=hit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert c.states[State.SCANNED] == 8000
