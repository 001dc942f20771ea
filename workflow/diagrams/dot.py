"""The DOT renderer: a `graphviz.Digraph` of the graph, the main path on one row, endings below."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

import graphviz

from workflow.diagrams.graph import Arc, Graph, Highlight, drawn
from workflow.domain import Step
from workflow.engine import Definition, Outcome

_FONT = "Helvetica"
_MAIN, _FAIL, _DONE, _TAKEN, _NOW = "#1a7f37", "#cf222e", "#57606a", "#0969da", "#fff8c5"
_FILL = {"main": "#dafbe1", "goal": "#aceebb", "fail": "#ffebe9", "end": "#eaeef2"}


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


def _legend(g: Graph) -> str:
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
    for name, length, states in g.deadlines:
        rows += [row(name, length), row("", states)]
    return ('<<font point-size="10"><table border="1" color="#d0d7de" cellborder="0" '
            f'cellspacing="0" cellpadding="2" bgcolor="#f6f8fa">{"".join(rows)}</table></font>>')


def to_graph(definition: Definition[Any, Any] | None = None, history: Sequence[Step] | None = None,
             current: Any = None, settings: Any = None) -> graphviz.Digraph:
    """The definition as a `graphviz.Digraph`, highlighting `history` and `current` if given."""
    d, mark = drawn(definition, settings), Highlight.of(history, current)
    g = graphviz.Digraph(d.name, graph_attr={
        "rankdir": "LR", "compound": "true", "newrank": "true", "fontname": _FONT,
        "nodesep": "0.9", "ranksep": "0.6", "labelloc": "t", "labeljust": "l", "fontsize": "16",
        "label": f"{d.name} — main path: {' → '.join(map(str, d.main_path))}", "pad": "0.3",
    }, node_attr={"fontname": _FONT, "fontsize": "12", "shape": "box", "style": "rounded,filled",
                  "margin": "0.15,0.07"},
        edge_attr={"fontname": _FONT, "fontsize": "9", "color": _DONE, "fontcolor": "#24292f",
                   "arrowsize": "0.7"})
    flow = [s for s in d.states if s in d.in_flight]
    ends = [s for s in d.states if s in d.terminal and d.reached_from(s, flow)]
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
    g.node("legend", _legend(d), shape="plain")
    g.edge("legend", str(d.initial), style="invis")
    _edges(g, d, flow, columns, mark)
    return g


def to_dot(definition: Definition[Any, Any] | None = None, history: Sequence[Step] | None = None,
           current: Any = None, settings: Any = None) -> str:
    """The DOT source of the diagram."""
    source: str = to_graph(definition, history, current, settings).source
    return source


def _node(g: graphviz.Digraph, d: Graph, s: Any, mark: Highlight | None) -> None:
    attrs = {"color": _DONE, "fillcolor": "white", "penwidth": "1.2"}
    if s in d.main_path:
        attrs.update(color=_MAIN, fillcolor=_FILL["main"], penwidth="1.6", group="main")
    if d.main_path and s == d.main_path[-1]:
        attrs.update(fillcolor=_FILL["goal"], penwidth="2.2")
    if s in d.terminal:
        failure = s not in d.main_path and not d.after_goal(s)
        attrs.update(peripheries="2", color=_FAIL if failure else _DONE,
                     fillcolor=_FILL["fail"] if failure else _FILL["end"])
    if mark is not None:
        if s in mark.visited:
            attrs.update(color=_TAKEN, penwidth="2.4")
        if s == mark.current:
            attrs.update(fillcolor=_NOW, color=_TAKEN, penwidth="3.5")
    g.node(str(s), str(s), **attrs)


def _edges(g: graphviz.Digraph, d: Graph, flow: list[Any], columns: dict[Any, Any],
           mark: Highlight | None) -> None:
    taken = _TAKEN if mark is not None and mark.took(None, str(d.created_by), d.initial) else None
    g.edge("start", str(d.initial), label=str(d.created_by), color=taken or "black",
           fontcolor=taken or "black", penwidth="3" if taken else "1.4")
    groups: dict[tuple[object, ...], list[Arc]] = {}
    for e in d.edges:
        groups.setdefault((e.event, e.outcome, e.dest, e.guard, e.counter, e.resets), []).append(e)
    main_steps = set(zip(d.main_path, d.main_path[1:], strict=False))
    loops: dict[Any, list[Arc]] = {}
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
                   label=_html(list(first.lines), note="from any in-flight state"),
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
            label = _html(list(e.lines), note=note) if e is named else ""
            if mark is not None and mark.took(e.source, str(e.event), e.dest):
                attrs.update(color=_TAKEN, fontcolor=_TAKEN, penwidth="3")
            g.edge(str(e.source), str(e.dest), label=label, **attrs)
    for e in d.implied:
        between = next(x.dest for x in d.edges if x.source == e.source and x.event == e.implied)
        hit = mark is not None and mark.took_at_once(
            (e.source, e.implied, between), (between, str(e.event), e.dest))
        attrs = {"color": _TAKEN, "fontcolor": _TAKEN, "penwidth": "3"} if hit else \
            {"color": _MAIN, "fontcolor": _MAIN}
        g.edge(str(e.source), str(e.dest), label=_html(list(e.lines)[:1],
                                                       note=f"records {e.implied} first"),
               style="dashed", constraint="false", **attrs)
    for state, edges in loops.items():
        hit = mark is not None and any(mark.took(e.source, str(e.event), e.dest) for e in edges)
        attrs = {"color": _TAKEN, "fontcolor": _TAKEN, "penwidth": "3"} if hit else {}
        label = _html(*(list(e.lines) for e in edges))
        g.edge(str(state), str(state), label=label, **attrs)


def _edge_attrs(d: Graph, e: Arc, main_steps: set[tuple[Any, Any]]) -> dict[str, str]:
    if (e.source, e.dest) in main_steps and e.outcome == Outcome.OK:
        return {"color": _MAIN, "penwidth": "2.2", "weight": "10", "fontcolor": _MAIN}
    if e.dest in d.terminal and not d.after_goal(e.dest):
        return {"color": _FAIL, "fontcolor": _FAIL, "style": "dashed", "weight": "0"}
    if e.source == e.dest:
        return {}
    return {"constraint": "false"} if d.is_back(e) else {}


def _columns(d: Graph, ends: list[Any], row: list[Any]) -> dict[Any, Any]:
    """Which main-row state each ended state sits under: the middle of its sources."""
    columns: dict[Any, Any] = {}
    taken: set[Any] = set()
    for s in ends:
        sources = [x for x in row if any(e.source == x and e.dest == s for e in d.edges)]
        pick = sources[(len(sources) - 1) // 2] if sources else row[len(row) // 2]
        while pick in taken and row.index(pick) + 1 < len(row):
            pick = row[row.index(pick) + 1]
        taken.add(pick)
        columns[s] = pick
    return columns
