"""The SCXML renderer: W3C SCXML of the graph, guarded transitions, counters and limits as data."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

from workflow.diagrams.graph import Arc, Graph, drawn
from workflow.engine import Definition, Outcome

SCXML_NS = "http://www.w3.org/2005/07/scxml"
ECPS_NS = "urn:ecps-workflow:definition"
ET.register_namespace("", SCXML_NS)
ET.register_namespace("ecps", ECPS_NS)


def to_scxml(definition: Definition[Any, Any] | None = None, settings: Any = None) -> str:
    """The definition as W3C SCXML: one `<state>`/`<final>` per state, guarded transitions.

    Events carry `_event.data.ok` (the guard's verdict); counters and limits are data;
    an `ecps:guard` attribute keeps each guard's wording.
    """
    d = drawn(definition, settings)
    limits = d.limits
    q = _qualified
    root = ET.Element(q("scxml"), {"version": "1.0", "initial": str(d.initial), "name": d.name,
                                    "datamodel": "ecmascript"})
    data = ET.SubElement(root, q("datamodel"))
    for name, _ in d.counters:
        ET.SubElement(data, q("data"), {"id": name, "expr": "0"})
    for bound, name in {bound: name for name, bound in d.counters}.items():
        ET.SubElement(data, q("data"), {"id": bound, "expr": str(limits[name])})
    for validity, seconds in d.validities:
        ET.SubElement(data, q("data"), {"id": validity, "expr": str(seconds)})
    outcomes: dict[tuple[Any, str], int] = {}
    for e in d.edges:
        outcomes[(e.source, e.event)] = outcomes.get((e.source, e.event), 0) + 1
    for s in d.states:
        node = ET.SubElement(root, q("final" if s in d.terminal else "state"), {"id": str(s)})
        for e in (*(e for e in d.edges if e.source == s), *(e for e in d.implied if e.source == s)):
            attrs = {"event": str(e.event), "target": str(e.dest)}
            origin = next(x.source for x in d.edges if x.event == e.event and x.dest == e.dest)
            cond = _scxml_cond(e, outcomes[(origin, e.event)] > 1, d)
            if cond:
                attrs["cond"] = cond
            if e.implied:
                attrs[f"{{{ECPS_NS}}}implied"] = e.implied
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


def _scxml_cond(e: Arc, branched: bool, d: Graph) -> str:
    bound = next((b for name, b in d.counters if name == e.counter), "")
    if e.outcome == Outcome.WRONG:
        return f"!_event.data.ok && {e.counter} + 1 < {bound}"
    if e.outcome == Outcome.EXHAUSTED:
        return f"!_event.data.ok && {e.counter} + 1 >= {bound}"
    if e.counter:
        return f"{e.counter} < {bound}"
    return "_event.data.ok" if branched else ""
