"""A deliberately broken workflow definition for `ecps check`: a shortcut from e-mailed to active."""

from __future__ import annotations

from dataclasses import fields

from workflow.definition import DEFINITION, Definition, Edge, Event, State

_DATA = {f.name: getattr(DEFINITION, f.name) for f in fields(DEFINITION) if f.init}
SHORTCUT = Definition.unchecked(**{**_DATA, "edges": (
    *DEFINITION.edges, Edge(Event.CONFIRM_PIN, State.EMAILED, State.ACTIVE))})
