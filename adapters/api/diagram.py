"""The SVG diagram of one activation's path, rendered by Graphviz's `dot`."""

from __future__ import annotations

from workflow import ActivationService
from workflow.errors import AdapterError


class DiagramUnavailable(AdapterError):
    """Graphviz's `dot` is not installed, so no SVG can be rendered."""


def activation_svg(service: ActivationService, activation_id: str) -> bytes:
    """The workflow diagram with `activation_id`'s path highlighted, as SVG bytes."""
    from workflow.diagrams import dot_available, render, to_dot

    st = service.status(activation_id)
    if not dot_available():
        raise DiagramUnavailable("Graphviz's `dot` is not installed on the server")
    dot = to_dot(service.workflow.definition, st.history, st.state, service.settings)
    return render(dot, "svg")
