"""Diagrams of a workflow definition: Graphviz DOT, Mermaid `stateDiagram-v2` and SCXML.

Pure functions of the definition (and, optionally, one activation's history); SVG and PNG come
from Graphviz's `dot`, which `render` and `write_diagrams` call when it is installed.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from html import escape
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import graphviz

from workflow.definition import DEFINITION, Definition, Edge, Event, Outcome, State
from workflow.domain import Step
from workflow.settings import Settings

FORMATS = ("dot", "svg", "png", "mermaid", "scxml")
"""Every format `write_diagrams` knows (`"all"` means all of them)."""
TEXT_FORMATS = ("dot", "mermaid", "scxml")
SUFFIX = {"dot": ".dot", "svg": ".svg", "png": ".png", "mermaid": ".mmd", "scxml": ".scxml"}
SCXML_NS = "http://www.w3.org/2005/07/scxml"
ECPS_NS = "urn:ecps-workflow:definition"
INSTALL_HINT = ("install Graphviz to render SVG/PNG: `apt-get install graphviz` (Debian/Ubuntu) "
                "or `brew install graphviz` (macOS)")

ET.register_namespace("", SCXML_NS)
ET.register_namespace("ecps", ECPS_NS)
_FONT = "Helvetica"
_MAIN, _FAIL, _DONE, _TAKEN, _NOW = "#1a7f37", "#cf222e", "#57606a", "#0969da", "#fff8c5"
_FILL = {"main": "#dafbe1", "goal": "#aceebb", "fail": "#ffebe9", "end": "#eaeef2"}


class GraphvizNotFound(RuntimeError):
    """Graphviz's `dot` is not installed; `written` lists the text files written anyway."""

    def __init__(self, written: Sequence[Path] = ()) -> None:
        super().__init__(f"Graphviz's `dot` was not found: {INSTALL_HINT}")
        self.written = list(written)


@dataclass(frozen=True, slots=True)
class Highlight:
    """One activation's path through the diagram: the steps it took and where it stands."""

    steps: tuple[Step, ...]
    current: State | None

    @classmethod
    def of(cls, history: Sequence[Step] | None, current: State | None = None) -> Highlight | None:
        """The highlight for `history` (None without one); `current` defaults to the last step."""
        if history is None and current is None:
            return None
        steps = tuple(history or ())
        return cls(steps, current if current is not None else (steps[-1].dest if steps else None))

    def took(self, source: State | None, event: str, dest: State) -> bool:
        """Whether a step went from `source` to `dest` by `event`."""
        return any((s.source, s.event, s.dest) == (source, event, dest) for s in self.steps)

    def took_at_once(self, first: tuple[object, str, object], then: tuple[object, str, object]) -> bool:
        """Whether `first` and `then` (source, event, dest) were recorded together, as an implied event is."""
        pairs = zip(self.steps, self.steps[1:], strict=False)
        return any((a.source, a.event, a.dest) == first and (b.source, b.event, b.dest) == then
                   and a.at == b.at for a, b in pairs)

    @property
    def visited(self) -> frozenset[State]:
        """The states the activation has been in."""
        return frozenset(s.dest for s in self.steps)


def dot_available() -> bool:
    """Whether Graphviz's `dot` is on the PATH (needed for SVG and PNG only)."""
    return shutil.which("dot") is not None


# -- labels ---------------------------------------------------------------------------------


def bounds(definition: Definition[Any, Any] = DEFINITION, settings: Any = None) -> dict[str, int]:
    """Each counter's bound: from `settings` when given, else the definition's default."""
    return {c.name: getattr(settings, c.bound, c.default) if settings else c.default
            for c in definition.counters}


def label_lines(edge: Edge[Any, Any], limits: dict[str, int]) -> list[str]:
    """The event (✗ for a wrong answer), its guard in brackets, the counter it moves."""
    event = {Outcome.OK: str(edge.event), Outcome.WRONG: f"{edge.event} ✗",
             Outcome.EXHAUSTED: f"{edge.event} ✗ last try"}[edge.outcome]
    parts = [event]
    if edge.guard:
        parts.append(f"[{edge.guard}]")
    if edge.counter:
        limit = limits.get(edge.counter, "?")
        relation = {Outcome.OK: "≤", Outcome.WRONG: "<", Outcome.EXHAUSTED: "="}[edge.outcome]
        parts.append(f"{edge.counter} +1 {relation} {limit}")
    if edge.resets:
        parts.append(f"{edge.resets} := 0")
    return parts


def edge_label(edge: Edge[Any, Any], limits: dict[str, int], *, sep: str = "\n") -> str:
    """The edge's label as text: event, guard and counter joined by `sep`."""
    return sep.join(label_lines(edge, limits))


def _html(*blocks: list[str], note: str = "") -> str:
    """An HTML-like Graphviz label: each block's first line bold, on a see-through white box."""
    rows = []
    for i, lines in enumerate(blocks):
        if i:
            rows.append('<tr><td><font point-size="5">&#160;</font></td></tr>')
        for j, line in enumerate(lines):
            text = escape(line, quote=False)
            rows.append(f"<tr><td>{'<b>' + text + '</b>' if j == 0 else text}</td></tr>")
    if note:
        rows.append(f"<tr><td><i>{escape(note, quote=False)}</i></td></tr>")
    return ('<<table border="0" cellborder="0" cellspacing="0" cellpadding="0" '
            f'bgcolor="#ffffffd9">{"".join(rows)}</table>>')


def _deadlines(definition: Definition[Any, Any], settings: Settings | None) -> list[tuple[str, str, str]]:
    """Each deadline as (name, "60 min from request / resend_email", "over requested, emailed")."""
    rows = []
    for d in definition.deadlines:
        length = getattr(settings, d.validity, None) if settings else _default(d.validity)
        states = ", ".join(str(s) for s in definition.states if s in d.states)
        if set(d.states) == set(definition.in_flight):
            states = "every in-flight state"
        starts = " / ".join(str(e) for e in d.starts)
        rows.append((d.name, f"{_duration(length)} from {starts}", f"over {states}"))
    return rows


def _legend(definition: Definition[Any, Any], settings: Settings | None) -> str:
    """A two-column HTML table: how to read the drawing, then the deadlines."""
    def row(left: str, right: str, bold: bool = False) -> str:
        left, right = escape(left, quote=False), escape(right, quote=False)
        if bold:
            return f'<tr><td align="left" colspan="2"><b>{left}</b></td></tr>'
        return f'<tr><td align="left">{left}</td><td align="left">{right}</td></tr>'

    rows = [row("How to read", "", bold=True),
            row("double border", "terminal state"), row("✗", "wrong answer (counted)"),
            row("[ … ]", "guard"), row("+1 ≤ n", "counter and its bound"),
            row("dashed red", "ends the flow"),
            row("Deadlines (now ≥ deadline: over)", "", bold=True)]
    for name, length, states in _deadlines(definition, settings):
        rows += [row(name, length), row("", states)]
    return ('<<font point-size="10"><table border="1" color="#d0d7de" cellborder="0" '
            f'cellspacing="0" cellpadding="2" bgcolor="#f6f8fa">{"".join(rows)}</table></font>>')


# -- DOT ------------------------------------------------------------------------------------


def to_graph(definition: Definition[Any, Any] = DEFINITION, history: Sequence[Step] | None = None,
             current: State | None = None, settings: Any = None) -> graphviz.Digraph:
    """The definition as a `graphviz.Digraph`, highlighting `history` and `current` if given."""
    d, mark = definition, Highlight.of(history, current)
    limits = bounds(d, settings)
    g = graphviz.Digraph(d.name, graph_attr={
        "rankdir": "LR", "compound": "true", "newrank": "true", "fontname": _FONT,
        "nodesep": "0.9", "ranksep": "0.6", "labelloc": "t", "labeljust": "l", "fontsize": "16",
        "label": f"{d.name} — main path: {' → '.join(map(str, d.main_path))}", "pad": "0.3",
    }, node_attr={"fontname": _FONT, "fontsize": "12", "shape": "box", "style": "rounded,filled",
                  "margin": "0.15,0.07"},
        edge_attr={"fontname": _FONT, "fontsize": "9", "color": _DONE, "fontcolor": "#24292f",
                   "arrowsize": "0.7"})
    flow = [s for s in d.states if s in d.in_flight]
    ends = [s for s in d.states if s in d.terminal and _reached_from(d, s, flow)]
    others = [s for s in d.states if s not in flow and s not in ends]
    g.node("start", "", shape="circle", style="filled", fillcolor="black", width="0.18",
           fixedsize="true")
    with g.subgraph(name="cluster_flow") as c:
        c.attr(label="in flight: every state here can be cancelled and expires at its deadlines",
               style="rounded,dashed", margin="22", color=_DONE, fontsize="11", fontcolor=_DONE)
        for s in flow:
            _node(c, d, s, mark)
    for s in others:
        _node(g, d, s, mark)
    with g.subgraph(name="cluster_end") as c:
        c.attr(label="flow ended (terminal)", labelloc="b", style="rounded,filled",
               color="#ffcecb", fillcolor="#fff5f5", fontsize="11", fontcolor=_FAIL)
        for s in ends:
            _node(c, d, s, mark)
    columns = _columns(d, ends, [*flow, *others])
    for s, column in columns.items():
        with g.subgraph() as r:
            r.attr(rank="same")
            r.node(str(column))
            r.node(str(s))
    g.node("legend", _legend(d, settings), shape="plain")
    g.edge("legend", str(d.initial), style="invis")
    _edges(g, d, limits, flow, columns, mark)
    return g


def to_dot(definition: Definition[Any, Any] = DEFINITION, history: Sequence[Step] | None = None,
           current: State | None = None, settings: Any = None) -> str:
    """The DOT source of the diagram."""
    source: str = to_graph(definition, history, current, settings).source
    return source


def _node(g: graphviz.Digraph, d: Definition[Any, Any], s: State, mark: Highlight | None) -> None:
    attrs = {"color": _DONE, "fillcolor": "white", "penwidth": "1.2"}
    if s in d.main_path:
        attrs.update(color=_MAIN, fillcolor=_FILL["main"], penwidth="1.6", group="main")
    if d.main_path and s == d.main_path[-1]:
        attrs.update(fillcolor=_FILL["goal"], penwidth="2.2")
    if s in d.terminal:
        failure = s not in d.main_path and not _after_goal(d, s)
        attrs.update(peripheries="2", color=_FAIL if failure else _DONE,
                     fillcolor=_FILL["fail"] if failure else _FILL["end"])
    if mark is not None:
        if s in mark.visited:
            attrs.update(color=_TAKEN, penwidth="2.4")
        if s == mark.current:
            attrs.update(fillcolor=_NOW, color=_TAKEN, penwidth="3.5")
    g.node(str(s), str(s), **attrs)


def _edges(g: graphviz.Digraph, d: Definition[Any, Any], limits: dict[str, int], flow: list[State],
           columns: dict[State, State], mark: Highlight | None) -> None:
    taken = _TAKEN if mark is not None and mark.took(None, str(d.created_by), d.initial) else None
    g.edge("start", str(d.initial), label="request", color=taken or "black",
           fontcolor=taken or "black", penwidth="3" if taken else "1.4")
    groups: dict[tuple[object, ...], list[Edge[Any, Any]]] = {}
    for e in d.edges:
        groups.setdefault((e.event, e.outcome, e.dest, e.guard, e.counter, e.resets), []).append(e)
    main_steps = set(zip(d.main_path, d.main_path[1:], strict=False))
    loops: dict[State, list[Edge[Any, Any]]] = {}
    for group in groups.values():
        first = group[0]
        if all(e.source == e.dest for e in group):
            for e in group:
                loops.setdefault(e.source, []).append(e)
            continue
        sources = {e.source for e in group}
        column = columns.get(first.dest)
        if len(group) > 1 and flow and sources == set(flow):
            anchor = flow[len(flow) // 2]
            g.edge(str(anchor), str(first.dest), ltail="cluster_flow",
                   label=_html(label_lines(first, limits), note="from any in-flight state"),
                   color=_FAIL, fontcolor=_FAIL, style="dashed")
            for e in group:
                if mark is not None and mark.took(e.source, str(e.event), e.dest):
                    g.edge(str(e.source), str(e.dest), color=_TAKEN, penwidth="3",
                           constraint="false", label=str(e.event), fontcolor=_TAKEN)
            continue
        named = next((e for e in group if e.source == column), group[len(group) // 2])
        for e in group:
            attrs = _edge_attrs(d, e, main_steps)
            note = f"from {', '.join(str(x.source) for x in group)}" if len(group) > 1 else ""
            label = _html(label_lines(e, limits), note=note) if e is named else ""
            if mark is not None and mark.took(e.source, str(e.event), e.dest):
                attrs.update(color=_TAKEN, fontcolor=_TAKEN, penwidth="3")
            g.edge(str(e.source), str(e.dest), label=label, **attrs)
    for i, e in d.implied_edges():
        hit = mark is not None and mark.took_at_once(
            (i.state, str(i.first), e.source), (e.source, str(e.event), e.dest))
        attrs = {"color": _TAKEN, "fontcolor": _TAKEN, "penwidth": "3"} if hit else \
            {"color": _MAIN, "fontcolor": _MAIN}
        g.edge(str(i.state), str(e.dest), label=_html(label_lines(e, limits)[:1],
                                                       note=f"records {i.first} first"),
               style="dashed", constraint="false", **attrs)
    for state, edges in loops.items():
        hit = mark is not None and any(mark.took(e.source, str(e.event), e.dest) for e in edges)
        attrs = {"color": _TAKEN, "fontcolor": _TAKEN, "penwidth": "3"} if hit else {}
        label = _html(*(label_lines(e, limits) for e in edges))
        g.edge(str(state), str(state), label=label, **attrs)


def _edge_attrs(d: Definition[Any, Any], e: Edge[Any, Any],
                main_steps: set[tuple[State, State]]) -> dict[str, str]:
    if (e.source, e.dest) in main_steps and e.outcome == Outcome.OK:
        return {"color": _MAIN, "penwidth": "2.2", "weight": "10", "fontcolor": _MAIN}
    if e.dest in d.terminal and not _after_goal(d, e.dest):
        return {"color": _FAIL, "fontcolor": _FAIL, "style": "dashed", "weight": "0"}
    if e.source == e.dest:
        return {}
    return {"constraint": "false"} if _is_back(d, e) else {}


def _columns(d: Definition[Any, Any], ends: list[State], row: list[State]) -> dict[State, State]:
    """Which main-row state each ended state sits under: the middle of its sources."""
    columns: dict[State, State] = {}
    taken: set[State] = set()
    for s in ends:
        sources = [x for x in row if any(e.source == x and e.dest == s for e in d.edges)]
        pick = sources[(len(sources) - 1) // 2] if sources else row[len(row) // 2]
        while pick in taken and row.index(pick) + 1 < len(row):
            pick = row[row.index(pick) + 1]
        taken.add(pick)
        columns[s] = pick
    return columns


def _is_back(d: Definition[Any, Any], e: Edge[Any, Any]) -> bool:
    path = list(d.main_path)
    return e.source in path and e.dest in path and path.index(e.dest) < path.index(e.source)


def _after_goal(d: Definition[Any, Any], s: State) -> bool:
    """Whether `s` is only entered from the last main state (e.g. revoked after active)."""
    sources = {e.source for e in d.edges if e.dest == s}
    return bool(d.main_path) and sources == {d.main_path[-1]}


def _reached_from(d: Definition[Any, Any], s: State, flow: list[State]) -> bool:
    return any(e.dest == s and e.source in flow for e in d.edges) or not _after_goal(d, s)


# -- Mermaid --------------------------------------------------------------------------------


def to_mermaid(definition: Definition[Any, Any] = DEFINITION, history: Sequence[Step] | None = None,
               current: State | None = None, settings: Any = None) -> str:
    """The definition as a Mermaid `stateDiagram-v2` (states named as in the definition)."""
    d, mark = definition, Highlight.of(history, current)
    limits = bounds(d, settings)
    lines = ["---", f"title: {d.name}", "---", "stateDiagram-v2", "    direction LR",
             f"    [*] --> {d.initial} : request"]
    lines += [f"    {e.source} --> {e.dest} : {_mermaid_text(edge_label(e, limits, sep=' '))}"
              for e in d.edges]
    lines += [f"    {i.state} --> {e.dest} : "
              f"{_mermaid_text(edge_label(e, limits, sep=' '))} (records {i.first} first)"
              for i, e in d.implied_edges()]
    lines += [f"    {s} --> [*]" for s in d.states if s in d.terminal]
    lines += [f"    note right of {d.initial}",
              *(f"        {name} deadline = {_mermaid_text(f'{length}, {states}')}"
                for name, length, states in _deadlines(d, settings)),
              "    end note"]
    classes = {
        "main": [s for s in d.main_path if s not in d.terminal],
        "failure": [s for s in d.states if s in d.terminal and not _after_goal(d, s)],
        "ended": [s for s in d.states if s in d.terminal and _after_goal(d, s)],
    }
    styles = {"main": f"fill:{_FILL['main']},stroke:{_MAIN}",
              "failure": f"fill:{_FILL['fail']},stroke:{_FAIL},stroke-width:2px",
              "ended": f"fill:{_FILL['end']},stroke:{_DONE},stroke-width:2px",
              "visited": f"stroke:{_TAKEN},stroke-width:3px",
              "current": f"fill:{_NOW},stroke:{_TAKEN},stroke-width:4px"}
    if mark is not None:
        classes["visited"] = [s for s in d.states if s in mark.visited and s != mark.current]
        classes["current"] = [mark.current] if mark.current is not None else []
    for name, members in classes.items():
        if members:
            lines.append(f"    classDef {name} {styles[name]}")
            lines.append(f"    class {','.join(map(str, members))} {name}")
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    """Label text safe inside Mermaid (no statement separators, comments or colons)."""
    for bad, good in ((";", ","), ("#", "no."), (":=", "="), (":", " -"), ("%%", "%")):
        text = text.replace(bad, good)
    return text


# -- SCXML ----------------------------------------------------------------------------------


def to_scxml(definition: Definition[Any, Any] = DEFINITION, settings: Any = None) -> str:
    """The definition as W3C SCXML: one `<state>`/`<final>` per state, guarded transitions.

    Events carry `_event.data.ok` (the guard's verdict); counters and limits are data;
    an `ecps:guard` attribute keeps each guard's wording.
    """
    d, limits = definition, bounds(definition, settings)
    q = _qualified
    root = ET.Element(q("scxml"), {"version": "1.0", "initial": str(d.initial), "name": d.name,
                                    "datamodel": "ecmascript"})
    data = ET.SubElement(root, q("datamodel"))
    for c in d.counters:
        ET.SubElement(data, q("data"), {"id": c.name, "expr": "0"})
    for c in {c.bound: c for c in d.counters}.values():
        ET.SubElement(data, q("data"), {"id": c.bound, "expr": str(limits[c.name])})
    for dl in d.deadlines:
        length = getattr(settings, dl.validity, None) if settings else _default(dl.validity)
        seconds = int(length.total_seconds()) if isinstance(length, timedelta) else 0
        ET.SubElement(data, q("data"), {"id": dl.validity, "expr": str(seconds)})
    outcomes: dict[tuple[State, Event], int] = {}
    for e in d.edges:
        outcomes[(e.source, e.event)] = outcomes.get((e.source, e.event), 0) + 1
    implied = d.implied_edges()
    for s in d.states:
        node = ET.SubElement(root, q("final" if s in d.terminal else "state"), {"id": str(s)})
        ways = [(e, "") for e in d.edges if e.source == s]
        ways += [(e, str(i.first)) for i, e in implied if i.state == s]
        for e, first in ways:
            attrs = {"event": str(e.event), "target": str(e.dest)}
            cond = _scxml_cond(e, outcomes[(e.source, e.event)] > 1, d)
            if cond:
                attrs["cond"] = cond
            if first:
                attrs[f"{{{ECPS_NS}}}implied"] = first
            if e.guard:
                attrs[f"{{{ECPS_NS}}}guard"] = e.guard
            if e.outcome != Outcome.OK:
                attrs[f"{{{ECPS_NS}}}outcome"] = str(e.outcome)
            t = ET.SubElement(node, q("transition"), attrs)
            if e.counter:
                ET.SubElement(t, q("assign"), {"location": e.counter, "expr": f"{e.counter} + 1"})
            if e.resets:
                ET.SubElement(t, q("assign"), {"location": e.resets, "expr": "0"})
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _qualified(tag: str) -> str:
    return f"{{{SCXML_NS}}}{tag}"


def _scxml_cond(e: Edge[Any, Any], branched: bool, d: Definition[Any, Any]) -> str:
    bound = next((c.bound for c in d.counters if c.name == e.counter), "")
    if e.outcome == Outcome.WRONG:
        return f"!_event.data.ok && {e.counter} + 1 < {bound}"
    if e.outcome == Outcome.EXHAUSTED:
        return f"!_event.data.ok && {e.counter} + 1 >= {bound}"
    if e.counter:
        return f"{e.counter} < {bound}"
    return "_event.data.ok" if branched else ""


# -- rendering and files --------------------------------------------------------------------


def render(dot_source: str, fmt: str = "svg") -> bytes:
    """Render DOT source to `fmt` (`svg`, `png`) with Graphviz's `dot`."""
    if fmt not in ("svg", "png"):
        raise ValueError(f"dot renders svg or png here, not {fmt!r}")
    try:
        image: bytes = graphviz.pipe("dot", fmt, dot_source.encode())
    except graphviz.ExecutableNotFound:
        raise GraphvizNotFound from None
    except graphviz.CalledProcessError as exc:
        detail = (exc.stderr or b"").decode(errors="replace").strip()
        raise RuntimeError(f"dot failed to render {fmt}: {detail}") from exc
    return image


def expand_formats(formats: Iterable[str] | str) -> list[str]:
    """The formats named (`"all"` meaning every one), validated, in a stable order."""
    names = [formats] if isinstance(formats, str) else list(formats)
    wanted = set(FORMATS) if "all" in names else set(names)
    unknown = sorted(wanted - set(FORMATS))
    if unknown:
        raise ValueError(f"unknown diagram format {', '.join(unknown)}; "
                         f"choose from {', '.join(FORMATS)} or all")
    return [f for f in FORMATS if f in wanted]


def write_diagrams(out_dir: Path | str, formats: Iterable[str] | str = "all",
                   definition: Definition[Any, Any] = DEFINITION, history: Sequence[Step] | None = None,
                   *, current: State | None = None, stem: str = "activation",
                   settings: Any = None) -> list[Path]:
    """Write `<stem>.{dot,svg,png,mmd,scxml}` for `formats` into `out_dir`; return the paths.

    Text formats are written first; if SVG/PNG were asked for and `dot` is missing, raises
    `GraphvizNotFound` whose `written` lists the text files written.
    """
    chosen = expand_formats(formats)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dot = to_dot(definition, history, current, settings)
    texts = {"dot": dot, "mermaid": to_mermaid(definition, history, current, settings),
             "scxml": to_scxml(definition, settings)}
    written = []
    for fmt in (f for f in chosen if f in TEXT_FORMATS):
        path = out / f"{stem}{SUFFIX[fmt]}"
        path.write_text(texts[fmt], encoding="utf-8")
        written.append(path)
    images = [f for f in chosen if f not in TEXT_FORMATS]
    if images and not dot_available():
        raise GraphvizNotFound(written)
    for fmt in images:
        path = out / f"{stem}{SUFFIX[fmt]}"
        path.write_bytes(render(dot, fmt))
        written.append(path)
    return written


def _default(setting: str) -> object:
    f = Settings.__dataclass_fields__.get(setting)
    return f.default if f is not None else None


def _duration(length: object) -> str:
    if not isinstance(length, timedelta):
        return "?"
    seconds = int(length.total_seconds())
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds % size == 0 and seconds >= 2 * size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m workflow.diagrams [--format F ...] [--out DIR]`: regenerate the diagrams."""
    parser = argparse.ArgumentParser(prog="python -m workflow.diagrams", description=main.__doc__)
    parser.add_argument("--format", action="append", choices=[*FORMATS, "all"], dest="formats")
    parser.add_argument("--out", default="diagrams")
    args = parser.parse_args(argv)
    try:
        paths = write_diagrams(args.out, args.formats or ["all"])
    except GraphvizNotFound as missing:
        paths = missing.written
        print(missing, file=sys.stderr)
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
