"""Diagrams of a workflow definition: Graphviz DOT, Mermaid `stateDiagram-v2` and SCXML.

A definition is extracted once into a neutral `Graph` (`graph`); one small renderer per format
draws it (`dot`, `mermaid`, `scxml`); `files` renders SVG/PNG through Graphviz's `dot` and
writes every format to a folder; `python -m workflow.diagrams` regenerates `diagrams/`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from workflow.diagrams.dot import to_dot, to_graph
from workflow.diagrams.files import (
    FORMATS,
    INSTALL_HINT,
    SUFFIX,
    TEXT_FORMATS,
    GraphvizNotFound,
    dot_available,
    expand_formats,
    render,
    write_diagrams,
)
from workflow.diagrams.graph import Arc, Graph, Highlight, bounds, drawn, edge_label, label_lines
from workflow.diagrams.mermaid import to_mermaid
from workflow.diagrams.scxml import ECPS_NS, SCXML_NS, to_scxml

__all__ = [
    "ECPS_NS", "FORMATS", "INSTALL_HINT", "SCXML_NS", "SUFFIX", "TEXT_FORMATS", "Arc", "Graph",
    "GraphvizNotFound", "Highlight", "bounds", "dot_available", "drawn", "edge_label",
    "expand_formats", "label_lines", "main", "render", "to_dot", "to_graph", "to_mermaid",
    "to_scxml", "write_diagrams",
]


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m workflow.diagrams [--format F ...] [--out DIR]`: regenerate the diagrams
    (the activation's and the login's)."""
    parser = argparse.ArgumentParser(prog="python -m workflow.diagrams", description=main.__doc__)
    parser.add_argument("--format", action="append", choices=[*FORMATS, "all"], dest="formats")
    parser.add_argument("--out", default="diagrams")
    args = parser.parse_args(argv)
    from workflow.login import LOGIN_DEFINITION

    try:
        paths = write_diagrams(args.out, args.formats or ["all"])
        paths += write_diagrams(args.out, args.formats or ["all"], LOGIN_DEFINITION, stem="login")
    except GraphvizNotFound as missing:
        paths = missing.written
        print(missing, file=sys.stderr)
    for path in paths:
        print(path)
    return 0
