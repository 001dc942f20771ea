"""The login by push notification (the shape of OpenID Connect CIBA, poll mode) as frozen data.

A portal asks (`start`), the phone is notified (`push_sent`), the professional approves with
the PIN, the portal collects the signed assertion once (`collect`); `LOGIN_DEFINITION` is run
by the same engine as the activation.
"""

from __future__ import annotations

from enum import StrEnum

from workflow.engine import Deadline, Definition, Edge, Implied, Workflow


class LoginState(StrEnum):
    """Where a login stands."""

    REQUESTED = "requested"
    NOTIFIED = "notified"
    APPROVED = "approved"
    COMPLETED = "completed"
    DENIED = "denied"
    EXPIRED = "expired"
    FAILED = "failed"
    CANCELLED = "cancelled"


class LoginEvent(StrEnum):
    """What can happen to a login (`start` creates it and is not an edge)."""

    START = "start"
    PUSH_SENT = "push_sent"
    APPROVE = "approve"
    DENY = "deny"
    WITHDRAW = "withdraw"
    COLLECT = "collect"
    CANCEL = "cancel"
    EXPIRE = "expire"
    DELIVERY_FAILED = "delivery_failed"


L, LE = LoginState, LoginEvent
_WAITING = (L.REQUESTED, L.NOTIFIED)
_IN_FLIGHT = (*_WAITING, L.APPROVED)


def _edges() -> tuple[Edge[LoginState, LoginEvent], ...]:
    main = (
        Edge(LE.PUSH_SENT, L.REQUESTED, L.NOTIFIED, guard="push gateway accepted the notification"),
        Edge(LE.APPROVE, L.NOTIFIED, L.APPROVED, guard="PIN of the active credential right"),
        Edge(LE.COLLECT, L.APPROVED, L.COMPLETED, guard="portal polls, not too fast"),
    )
    endings = (
        *(Edge(LE.DENY, s, L.DENIED, guard="professional refuses, or the PIN locks the credential")
          for s in _IN_FLIGHT),
        *(Edge(LE.WITHDRAW, s, L.DENIED, guard="credential no longer active")
          for s in _IN_FLIGHT),
        *(Edge(LE.CANCEL, s, L.CANCELLED, guard="portal gives up") for s in _WAITING),
        *(Edge(LE.EXPIRE, s, L.EXPIRED, guard="validity passed") for s in _IN_FLIGHT),
        Edge(LE.DELIVERY_FAILED, L.REQUESTED, L.FAILED, guard="outbox gave up on the push"),
    )
    return main + endings


LOGIN_DEFINITION: Definition[LoginState, LoginEvent] = Definition(
    name="ecps-login",
    states=tuple(LoginState),
    initial=L.REQUESTED,
    main_path=(L.REQUESTED, L.NOTIFIED, L.APPROVED, L.COMPLETED),
    terminal=frozenset({L.COMPLETED, L.DENIED, L.EXPIRED, L.FAILED, L.CANCELLED}),
    in_flight=frozenset(_IN_FLIGHT),
    edges=_edges(),
    deadlines=(Deadline("validity", frozenset(_IN_FLIGHT), "login_validity", (LE.START,),
                        slot="expires_at"),),
    implied=(
        Implied(L.REQUESTED, LE.APPROVE, LE.PUSH_SENT, "proven by the phone's answer"),
        Implied(L.REQUESTED, LE.DENY, LE.PUSH_SENT, "proven by the phone's answer"),
    ),
    created_by=LE.START,
    expire_event=LE.EXPIRE,
)

LOGIN_WORKFLOW: Workflow[LoginState, LoginEvent] = Workflow(LOGIN_DEFINITION)
