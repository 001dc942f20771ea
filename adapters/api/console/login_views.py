"""What the console shows of one login, read from the service's login desk, its store and its
definition: the portal's name and binding message, never an identifier, a PIN or a payload."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from adapters.api.console.rows import lookable
from adapters.api.console.views import Entry, Gauge, Message, inline_svg, left, visited
from adapters.api.diagram import DiagramUnavailable, login_svg
from workflow import ActivationService
from workflow.domain import Delivery
from workflow.errors import LoginNotFound
from workflow.login.definition import LoginEvent, LoginState
from workflow.login.record import Login
from workflow.login.verification import login_disagreements


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
    g = _load(service, login_id)
    now = service.now()
    sent = ",".join(f"{m.status}{m.attempts}" for m in service.store.outbox_of(g.id))
    tick = int(now.timestamp() // 10) if g.due_at() is not None else 0
    return f"{g.version}.{g.audit_seq}.{service.logins.engine.is_due(g, now)}.{tick}.{sent}"


def login_view(service: ActivationService, login_id: str) -> LoginView:
    """Everything the page shows of `login_id`; `LoginNotFound` when there is none."""
    g = _load(service, login_id)
    desk = service.logins
    now = service.now()
    due = desk.engine.is_due(g, now)
    trail = service.store.audit_trail(g.id)
    deadlines = []
    for dl in desk.definition.deadlines:
        at: datetime | None = getattr(g, dl.attribute, None)
        if g.state in dl.states and at is not None:
            deadlines.append(Gauge(dl.name, at.strftime("%Y-%m-%d %H:%M:%S UTC"), left(at - now)))
    try:
        svg = inline_svg(login_svg(service, g.id))
    except DiagramUnavailable as exc:
        svg = f"<p>{exc}</p>"
    state = LoginState.EXPIRED if due else g.state
    return LoginView(
        g.id, str(state), g.client_id, g.client_name, g.binding_message, g.activation_id,
        g.created_at, g.closed_reason, visited(e.dest for e in trail if e.outcome != "refused" and e.dest),
        tuple(Entry(e.seq, e.at, e.action, e.outcome, e.actor, e.source, e.dest, e.reason)
              for e in trail),
        tuple(deadlines),
        tuple(Message(str(m.kind), str(m.channel), m.generation, str(m.status), m.attempts,
                      m.last_error, m.created_at, m.due_at if m.status == Delivery.PENDING else None)
              for m in service.store.outbox_of(g.id)),
        tuple(login_disagreements(service.store, service.keys, desk.engine, g)), svg, due,
        not due and desk.definition.allows(g.state, LoginEvent.CANCEL))


def _load(service: ActivationService, login_id: str) -> Login:
    store = service.logins.store
    g = store.get_login(login_id) if lookable(login_id) else None
    if g is None:
        raise LoginNotFound(login_id)
    return g
