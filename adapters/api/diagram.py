"""The SVG diagram of one activation's or one login's path, rendered by Graphviz's `dot`."""

from __future__ import annotations

from typing import Any, cast

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


def login_svg(service: ActivationService, login_id: str) -> bytes:
    """The login's diagram with `login_id`'s path highlighted, as SVG bytes (`LoginNotFound`
    when there is none)."""
    from workflow.diagrams import dot_available, render, to_dot
    from workflow.domain import Step
    from workflow.errors import LoginNotFound
    from workflow.login.definition import LoginState

    desk = service.logins
    g = desk.store.get_login(login_id)
    if g is None:
        raise LoginNotFound(login_id)
    if not dot_available():
        raise DiagramUnavailable("Graphviz's `dot` is not installed on the server")
    steps = [Step(e.action, cast(Any, e.source or None), cast(Any, e.dest), e.at)
             for e in service.store.audit_trail(g.id) if e.step]
    state = LoginState.EXPIRED if desk.engine.is_due(g, service.now()) else g.state
    return render(to_dot(desk.definition, steps, state, service.settings), "svg")
