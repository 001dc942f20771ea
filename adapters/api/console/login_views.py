"""What the console shows of one login, read from the service's login desk, its store and its
definition: the portal's name and binding message, never an identifier, a PIN or a payload."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from adapters.api.console.rows import lookable
from adapters.api.console.views import (
    Entry,
    Gauge,
    Message,
    deadline_gauges,
    drawn,
    outbox,
    path_of,
    record_stamp,
    timeline,
)
from adapters.api.diagram import login_svg
from workflow import ActivationService
from workflow.errors import LoginNotFound
from workflow.login.definition import LoginEvent, LoginState
from workflow.login.record import Login
from workflow.verification import disagreements


@dataclass(frozen=True, slots=True)
class LoginView:
    """One login's page (`a`, as the diagram's template names what it draws)."""

    id: str
    state: str
    client_id: str
    client_name: str
    binding_message: str
    activation_id: str
    created_at: datetime
    closed_reason: str
    path: tuple[str, ...]
    timeline: tuple[Entry, ...]
    deadlines: tuple[Gauge, ...]
    outbox: tuple[Message, ...]
    problems: tuple[str, ...]
    svg: str
    due: bool
    cancellable: bool  # the definition has a `cancel` edge from where it stands


def login_stamp(service: ActivationService, login_id: str) -> str:
    """Changes whenever the login's page would (a step, a push delivery, the validity passing,
    every ten seconds while it runs: its validity is counted in minutes)."""
    return record_stamp(service, service.logins.engine, _load(service, login_id), every=10)


def login_view(service: ActivationService, login_id: str) -> LoginView:
    """Everything the page shows of `login_id`; `LoginNotFound` when there is none."""
    g = _load(service, login_id)
    desk = service.logins
    now = service.now()
    due = desk.engine.is_due(g, now)
    trail = service.store.audit_trail(g.id)
    return LoginView(
        g.id, str(LoginState.EXPIRED if due else g.state), g.client_id, g.client_name,
        g.binding_message, g.activation_id, g.created_at, g.closed_reason, path_of(trail),
        timeline(trail), tuple(deadline_gauges(desk.definition, g, now)), outbox(service, g.id),
        tuple(disagreements(service.store, service.keys, desk.engine, g)),
        drawn(lambda: login_svg(service, g.id)), due,
        not due and desk.definition.allows(g.state, LoginEvent.CANCEL))


def _load(service: ActivationService, login_id: str) -> Login:
    store = service.logins.store
    g = store.get_login(login_id) if lookable(login_id) else None
    if g is None:
        raise LoginNotFound(login_id)
    return g
