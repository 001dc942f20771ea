"""Diagrams: committed artefacts stay current, each format is faithful, highlighting works."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from tests.conftest import Driver, fast_settings
from workflow import ActivationService
from workflow.definition import DEFINITION, Event, Outcome, State
from workflow.diagrams import (
    ECPS_NS,
    FORMATS,
    INSTALL_HINT,
    SCXML_NS,
    GraphvizNotFound,
    dot_available,
    label_lines,
    main,
    render,
    to_dot,
    to_mermaid,
    to_scxml,
    write_diagrams,
)
from workflow.domain import Step
from workflow.login import LOGIN_DEFINITION

DIAGRAMS = Path(__file__).resolve().parents[2] / "diagrams"
REGENERATE = "python -m workflow.diagrams --out diagrams"
NS = {"sc": SCXML_NS}
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def needs_dot() -> None:
    """Skip without Graphviz, except in CI where the SVG must render."""
    if not dot_available():
        if os.environ.get("CI") == "true":
            pytest.fail("Graphviz `dot` is required in CI to render the diagrams")
        pytest.skip("Graphviz `dot` is not installed")


def layout(source: str) -> dict[str, tuple[float, float]]:
    """Node positions (x grows rightwards, y upwards) from `dot -Tjson`."""
    out = subprocess.run(["dot", "-Tjson"], input=source.encode(), capture_output=True,
                         check=True).stdout
    objects = json.loads(out)["objects"]
    return {o["name"]: tuple(map(float, o["pos"].split(","))) for o in objects if "pos" in o}


def steps(*moves: tuple[str, State | None, State]) -> list[Step]:
    """A history from (event, source, dest) triples, a minute apart."""
    return [Step(event, source, dest, T0 + timedelta(minutes=n))
            for n, (event, source, dest) in enumerate(moves)]


PIN_RETRY = steps(
    ("request", None, State.REQUESTED), ("email_sent", State.REQUESTED, State.EMAILED),
    ("scan", State.EMAILED, State.SCANNED), ("verify_sms", State.SCANNED, State.SMS_VERIFIED),
    ("set_pin", State.SMS_VERIFIED, State.PIN_SET),
    ("confirm_pin", State.PIN_SET, State.SMS_VERIFIED),
)

GENERATORS: dict[str, tuple[str, Callable[[], str]]] = {
    "dot": ("activation.dot", to_dot),
    "mermaid": ("activation.mmd", to_mermaid),
    "scxml": ("activation.scxml", to_scxml),
    "login dot": ("login.dot", lambda: to_dot(LOGIN_DEFINITION)),
    "login mermaid": ("login.mmd", lambda: to_mermaid(LOGIN_DEFINITION)),
    "login scxml": ("login.scxml", lambda: to_scxml(LOGIN_DEFINITION)),
}


@pytest.mark.parametrize("fmt", sorted(GENERATORS))
def test_committed_text_diagrams_are_current(fmt: str) -> None:
    """The committed text diagrams equal what the shipped definition generates now."""
    name, generate = GENERATORS[fmt]
    committed = (DIAGRAMS / name).read_text(encoding="utf-8")
    assert committed == generate(), (
        f"diagrams/{name} is stale: regenerate it with `{REGENERATE}` and commit the result")


@pytest.mark.parametrize("stem", ["activation", "login"])
def test_committed_images_exist(stem: str) -> None:
    """The rendered SVG and PNG of each shipped definition are committed beside the text."""
    assert (DIAGRAMS / f"{stem}.svg").read_text(encoding="utf-8").lstrip().startswith("<?xml")
    assert (DIAGRAMS / f"{stem}.png").read_bytes().startswith(b"\x89PNG")


def test_dot_renders_the_committed_file_to_svg() -> None:
    """`dot -Tsvg diagrams/activation.dot` succeeds and draws every state."""
    needs_dot()
    done = subprocess.run(["dot", "-Tsvg", str(DIAGRAMS / "activation.dot")],
                          capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode()
    svg = done.stdout.decode()
    assert "<svg" in svg
    for state in State:
        assert f">{state}</text>" in svg


def test_main_path_runs_left_to_right_and_failures_sit_apart() -> None:
    """The main states lie on one row from left to right; the failure states share a lower row."""
    needs_dot()
    pos = layout(to_dot())
    xs = [pos[str(s)][0] for s in DEFINITION.main_path]
    ys = {pos[str(s)][1] for s in DEFINITION.main_path}
    assert xs == sorted(xs)
    assert len(ys) == 1
    failures = [State.EXPIRED, State.LOCKED, State.CANCELLED, State.FAILED]
    assert len({pos[str(s)][1] for s in failures}) == 1
    assert pos[str(State.LOCKED)][1] < ys.pop()


def test_dot_marks_terminal_states_and_groups_failures() -> None:
    """Terminal states get a double border; the four flow failures share one cluster."""
    source = to_dot()
    for state in DEFINITION.terminal:
        line = next(x for x in source.splitlines() if x.strip().startswith(f"{state} ["))
        assert "peripheries=2" in line
    for state in DEFINITION.states:
        if state not in DEFINITION.terminal:
            line = next(x for x in source.splitlines() if x.strip().startswith(f"{state} ["))
            assert "peripheries" not in line
    end = source.split("subgraph cluster_end {")[1].split("}")[0]
    assert all(f"\t\t{s} [" in end for s in ("expired", "locked", "cancelled", "failed"))
    assert "rankdir=LR" in source


def test_edge_labels_carry_guards_and_counters() -> None:
    """Labels name the event, its guard and the counter it moves against its bound."""
    wrong = DEFINITION.edge(State.SCANNED, Event.VERIFY_SMS, Outcome.WRONG)
    assert wrong is not None
    assert label_lines(wrong, {"sms_attempts": 5}) == [
        "verify_sms ✗", "[SMS code wrong]", "sms_attempts +1 < 5"]
    source = to_dot()
    assert "sms_attempts +1 &lt; 5" in source
    assert "login_failures := 0" in source
    assert "[QR token valid, unused, this activation's]" in source
    assert "sms_attempts +1 &lt; 7" in to_dot(settings=fast_settings(max_sms_attempts=7))


def test_scxml_lists_every_state_and_edge() -> None:
    """The SCXML parses, declares one state or final per state, and one transition per edge."""
    root = ET.fromstring(to_scxml())
    assert root.tag == f"{{{SCXML_NS}}}scxml"
    assert root.get("initial") == str(DEFINITION.initial)
    states = {e.get("id") for e in root.findall("sc:state", NS)}
    finals = {e.get("id") for e in root.findall("sc:final", NS)}
    assert states | finals == {str(s) for s in State}
    assert len(states | finals) == 11
    assert finals == {str(s) for s in DEFINITION.terminal}
    found = {(parent.get("id"), t.get("event"), t.get("target"))
             for parent in root for t in parent.findall("sc:transition", NS)}
    implied = {(str(i.state), str(e.event), str(e.dest)) for i, e in DEFINITION.implied_edges()}
    assert implied == {("requested", "scan", "scanned")}
    assert found == {(str(e.source), str(e.event), str(e.dest)) for e in DEFINITION.edges} | implied
    assert len(root.findall(".//sc:transition", NS)) == len(DEFINITION.edges) + len(implied)


def test_an_implied_event_is_drawn_in_every_format() -> None:
    """A scan while `requested` (recording the delivery first) appears in DOT, Mermaid and SCXML."""
    proven = [Step("request", None, State.REQUESTED, T0),
              Step("email_sent", State.REQUESTED, State.EMAILED, T0),
              Step("scan", State.EMAILED, State.SCANNED, T0)]
    taken = [x for x in to_dot(history=proven).splitlines() if x.strip().startswith("requested -> scanned")]
    assert len(taken) == 1
    assert "#0969da" in taken[0]
    root = ET.fromstring(to_scxml())
    requested = root.find("sc:state[@id='requested']", NS)
    assert requested is not None
    scans = [t for t in requested.findall("sc:transition", NS) if t.get("event") == "scan"]
    assert [(t.get("target"), t.get(f"{{{ECPS_NS}}}implied")) for t in scans] == [("scanned", "email_sent")]
    assert "requested --> scanned : scan" in to_mermaid()
    assert "(records email_sent first)" in to_mermaid()
    assert "records email_sent first" in to_dot()


def test_scxml_guards_branch_on_counters() -> None:
    """Wrong answers are conditioned on the counter and its bound, and increment it."""
    root = ET.fromstring(to_scxml())
    scanned = root.find("sc:state[@id='scanned']", NS)
    assert scanned is not None
    verify = [t for t in scanned.findall("sc:transition", NS) if t.get("event") == "verify_sms"]
    assert [t.get("target") for t in verify] == ["sms_verified", "scanned", "locked"]
    assert verify[1].get("cond") == "!_event.data.ok && sms_attempts + 1 < max_sms_attempts"
    assert verify[2].get("cond") == "!_event.data.ok && sms_attempts + 1 >= max_sms_attempts"
    assign = verify[1].find("sc:assign", NS)
    assert assign is not None
    assert assign.get("location") == "sms_attempts"
    ids = [d.get("id") for d in root.findall("sc:datamodel/sc:data", NS)]
    assert len(ids) == len(set(ids))


def test_mermaid_names_every_state_and_event() -> None:
    """The Mermaid text is a stateDiagram-v2 naming every state, event and edge."""
    text = to_mermaid()
    assert "stateDiagram-v2" in text
    for state in State:
        assert str(state) in text
    for event in Event:
        assert str(event) in text
    for e in DEFINITION.edges:
        assert f"    {e.source} --> {e.dest} : {e.event}" in text
    for state in DEFINITION.terminal:
        assert f"    {state} --> [*]" in text


def test_highlight_marks_the_path_and_current_state() -> None:
    """A history colours the edges it took and fills its current state; none without history."""
    plain, marked = to_dot(), to_dot(history=PIN_RETRY)
    assert "#0969da" not in plain
    taken = [x for x in marked.splitlines() if "->" in x and "#0969da" in x]
    pairs = {tuple(x.strip().split(" [")[0].split(" -> ")) for x in taken}
    assert pairs == {("start", "requested"), ("requested", "emailed"), ("emailed", "scanned"),
                     ("scanned", "sms_verified"), ("sms_verified", "pin_set"),
                     ("pin_set", "sms_verified")}
    current = next(x for x in marked.splitlines() if x.strip().startswith("sms_verified ["))
    assert "fillcolor=\"#fff8c5\"" in current
    untouched = next(x for x in marked.splitlines() if x.strip().startswith("active ["))
    assert "#0969da" not in untouched


def test_highlight_of_a_merged_edge_draws_the_step_taken() -> None:
    """A cancel (drawn once for the whole in-flight group) shows up from the state it left."""
    history = [*PIN_RETRY[:3], Step("cancel", State.SCANNED, State.CANCELLED, T0)]
    marked = to_dot(history=history)
    assert any(x.strip().startswith("scanned -> cancelled") and "#0969da" in x
               for x in marked.splitlines())
    assert "class cancelled current" in to_mermaid(history=history)


def test_highlight_of_a_real_activation(service: ActivationService, driver: Driver) -> None:
    """The history `status()` returns highlights that activation's path up to where it stands."""
    aid = driver.reach("pin_set")
    status = service.status(aid)
    marked = to_dot(history=status.history, current=status.state)
    current = next(x for x in marked.splitlines() if x.strip().startswith("pin_set ["))
    assert "#fff8c5" in current
    mermaid = to_mermaid(history=status.history)
    assert "class requested,emailed,scanned,sms_verified visited" in mermaid
    assert "class pin_set current" in mermaid


def test_write_diagrams_writes_every_format(tmp_path: Path) -> None:
    """`write_diagrams(out, "all")` writes the five files, the text ones equal to the generators."""
    needs_dot()
    paths = write_diagrams(tmp_path, "all")
    assert sorted(p.name for p in paths) == sorted(
        ["activation.dot", "activation.svg", "activation.png", "activation.mmd",
         "activation.scxml"])
    assert (tmp_path / "activation.dot").read_text(encoding="utf-8") == to_dot()
    assert (tmp_path / "activation.png").read_bytes().startswith(b"\x89PNG")
    assert b"<svg" in (tmp_path / "activation.svg").read_bytes()


def test_write_diagrams_with_history_highlights(tmp_path: Path) -> None:
    """Written diagrams carry the highlight of the history given."""
    write_diagrams(tmp_path, ["dot", "mermaid"], history=PIN_RETRY, stem="one")
    assert (tmp_path / "one.dot").read_text(encoding="utf-8") == to_dot(history=PIN_RETRY)
    assert "class sms_verified current" in (tmp_path / "one.mmd").read_text(encoding="utf-8")


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    """An unknown format name raises ValueError listing the valid ones, writing nothing."""
    with pytest.raises(ValueError, match="choose from dot, svg, png, mermaid, scxml or all"):
        write_diagrams(tmp_path, ["dot", "jpeg"])
    assert list(tmp_path.iterdir()) == []


def test_without_dot_text_formats_are_still_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without Graphviz the text formats are written and the error says how to install it."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert not dot_available()
    with pytest.raises(GraphvizNotFound) as caught:
        write_diagrams(tmp_path / "out", "all")
    assert sorted(p.name for p in caught.value.written) == [
        "activation.dot", "activation.mmd", "activation.scxml"]
    assert all(p.exists() for p in caught.value.written)
    assert not (tmp_path / "out" / "activation.svg").exists()
    message = str(caught.value)
    assert "apt-get install graphviz" in message
    assert "brew install graphviz" in message
    assert INSTALL_HINT in message
    with pytest.raises(GraphvizNotFound):
        render(to_dot(), "svg")


def test_render_rejects_other_formats() -> None:
    """`render` only produces SVG or PNG."""
    with pytest.raises(ValueError, match="svg or png"):
        render(to_dot(), "pdf")


def test_module_entry_point_regenerates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m workflow.diagrams --format mermaid --out DIR` writes just that format, for both."""
    assert main(["--format", "mermaid", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["activation.mmd", "login.mmd"]
    assert "activation.mmd" in capsys.readouterr().out
    assert set(FORMATS) == {"dot", "svg", "png", "mermaid", "scxml"}


def test_every_renderer_reads_one_neutral_graph() -> None:
    """The graph extracted once holds the arcs, the implied arc and the deadlines the renderers draw."""
    from workflow.diagrams import Graph

    g = Graph.of(DEFINITION)
    assert len(g.edges) == len(DEFINITION.edges)
    assert [(str(a.source), a.event, str(a.dest), a.implied) for a in g.implied] == [
        ("requested", "scan", "scanned", "email_sent")]
    assert g.deadlines[0] == ("token", "60 min from request / resend_email", "over requested, emailed")
    assert dict(g.validities)["flow_validity"] == 24 * 3600
