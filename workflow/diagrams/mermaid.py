"""The Mermaid renderer: a `stateDiagram-v2` of the graph (states named as in the definition)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from workflow.diagrams.dot import _DONE, _FAIL, _FILL, _MAIN, _NOW, _TAKEN
from workflow.diagrams.graph import Highlight, drawn
from workflow.domain import Step
from workflow.engine import Definition


def to_mermaid(definition: Definition[Any, Any] | None = None, history: Sequence[Step] | None = None,
               current: Any = None, settings: Any = None) -> str:
    """The definition as a Mermaid `stateDiagram-v2` (states named as in the definition)."""
    d, mark = drawn(definition, settings), Highlight.of(history, current)
    lines = ["---", f"title: {d.name}", "---", "stateDiagram-v2", "    direction LR",
             f"    [*] --> {d.initial} : {d.created_by}"]
    lines += [f"    {e.source} --> {e.dest} : {_mermaid_text(' '.join(e.lines))}"
              for e in d.edges]
    lines += [f"    {e.source} --> {e.dest} : {_mermaid_text(' '.join(e.lines))} (records {e.implied} first)"
              for e in d.implied]
    lines += [f"    {s} --> [*]" for s in d.states if s in d.terminal]
    lines += [f"    note right of {d.initial}",
              *(f"        {name} deadline = {_mermaid_text(f'{length}, {states}')}"
                for name, length, states in d.deadlines),
              "    end note"]
    # a terminal state on the main path is its success (e.g. a login `completed`), not a failure
    classes = {
        "main": [s for s in d.main_path if s not in d.terminal],
        "goal": [s for s in d.main_path if s in d.terminal],
        "failure": [s for s in d.states if s in d.terminal and s not in d.main_path
                    and not d.after_goal(s)],
        "ended": [s for s in d.states if s in d.terminal and s not in d.main_path and d.after_goal(s)],
    }
    styles = {"main": f"fill:{_FILL['main']},stroke:{_MAIN}",
              "goal": f"fill:{_FILL['goal']},stroke:{_MAIN},stroke-width:2px",
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
