"""The e-CPS activation workflow as frozen data, and the one `transitions` machine built from it.

`DEFINITION` is the single source of the service, the diagrams, the checker and the harness;
the engine (`workflow.engine`) runs it.
"""

from __future__ import annotations

from dataclasses import fields
from enum import StrEnum

from workflow.engine import (
    Counter,
    Deadline,
    Definition,
    Edge,
    Implied,
    Outcome,
    Problem,
    Workflow,
    definition_problems,
    reachable,
)
from workflow.settings import Settings

__all__ = [
    "DEFINITION",
    "WORKFLOW",
    "Counter",
    "Deadline",
    "Definition",
    "Edge",
    "Event",
    "Implied",
    "Outcome",
    "Problem",
    "State",
    "Workflow",
    "definition_problems",
    "reachable",
]


class State(StrEnum):
    """Where an activation stands."""

    REQUESTED = "requested"
    EMAILED = "emailed"
    SCANNED = "scanned"
    SMS_VERIFIED = "sms_verified"
    PIN_SET = "pin_set"
    ACTIVE = "active"
    EXPIRED = "expired"
    LOCKED = "locked"
    CANCELLED = "cancelled"
    FAILED = "failed"
    REVOKED = "revoked"


class Event(StrEnum):
    """What can happen to an activation (`request` creates it and is not an edge)."""

    REQUEST = "request"
    EMAIL_SENT = "email_sent"
    RESEND_EMAIL = "resend_email"
    SCAN = "scan"
    RESEND_SMS = "resend_sms"
    VERIFY_SMS = "verify_sms"
    SET_PIN = "set_pin"
    CONFIRM_PIN = "confirm_pin"
    AUTHENTICATE = "authenticate"
    CANCEL = "cancel"
    EXPIRE = "expire"
    DELIVERY_FAILED = "delivery_failed"
    REVOKE = "revoke"


S, E, OC = State, Event, Outcome
_IN_FLIGHT = (S.REQUESTED, S.EMAILED, S.SCANNED, S.SMS_VERIFIED, S.PIN_SET)


def _edges() -> tuple[Edge[State, Event], ...]:
    main = (
        Edge(E.EMAIL_SENT, S.REQUESTED, S.EMAILED, guard="mailer accepted the e-mail"),
        Edge(E.SCAN, S.EMAILED, S.SCANNED, guard="QR token valid, unused, this activation's"),
        Edge(E.VERIFY_SMS, S.SCANNED, S.SMS_VERIFIED, guard="SMS code right and fresh"),
        Edge(E.SET_PIN, S.SMS_VERIFIED, S.PIN_SET, guard="PIN well-formed and strong"),
        Edge(E.CONFIRM_PIN, S.PIN_SET, S.ACTIVE, guard="confirmation equals PIN"),
    )
    loops = (
        Edge(E.RESEND_EMAIL, S.REQUESTED, S.REQUESTED, guard="cooldown over", counter="email_resends"),
        Edge(E.RESEND_EMAIL, S.EMAILED, S.EMAILED, guard="cooldown over", counter="email_resends"),
        Edge(E.RESEND_SMS, S.SCANNED, S.SCANNED, guard="cooldown over", counter="sms_resends"),
        Edge(E.AUTHENTICATE, S.ACTIVE, S.ACTIVE, guard="PIN right", resets="login_failures"),
    )
    wrong = (
        (E.VERIFY_SMS, S.SCANNED, S.SCANNED, "sms_attempts", "SMS code wrong"),
        (E.CONFIRM_PIN, S.PIN_SET, S.SMS_VERIFIED, "pin_mismatches", "confirmation differs"),
        (E.AUTHENTICATE, S.ACTIVE, S.ACTIVE, "login_failures", "PIN wrong"),
    )
    attempts = tuple(
        edge
        for event, source, dest, counter, guard in wrong
        for edge in (
            Edge(event, source, dest, OC.WRONG, guard, counter),
            Edge(event, source, S.LOCKED, OC.EXHAUSTED, guard, counter),
        )
    )
    endings = (
        *(Edge(E.CANCEL, s, S.CANCELLED, guard="user cancels or is superseded") for s in _IN_FLIGHT),
        *(Edge(E.EXPIRE, s, S.EXPIRED, guard="deadline passed") for s in _IN_FLIGHT),
        *(
            Edge(E.DELIVERY_FAILED, s, S.FAILED, guard="outbox gave up")
            for s in (S.REQUESTED, S.EMAILED, S.SCANNED)
        ),
        Edge(E.REVOKE, S.ACTIVE, S.REVOKED, guard="deleted, admin or replaced"),
    )
    return main + loops + attempts + endings


_SETTING_DEFAULTS = {f.name: f.default for f in fields(Settings) if isinstance(f.default, int)}

DEFINITION: Definition[State, Event] = Definition(
    name="ecps-activation",
    states=tuple(State),
    initial=S.REQUESTED,
    main_path=(S.REQUESTED, S.EMAILED, S.SCANNED, S.SMS_VERIFIED, S.PIN_SET, S.ACTIVE),
    terminal=frozenset({S.EXPIRED, S.LOCKED, S.CANCELLED, S.FAILED, S.REVOKED}),
    in_flight=frozenset(_IN_FLIGHT),
    edges=_edges(),
    counters=tuple(Counter(name, bound, _SETTING_DEFAULTS[bound]) for name, bound in (
        ("email_resends", "max_resends"),  # each bounded by its setting; without settings, by
        ("sms_resends", "max_resends"),    # the setting's default, read from `Settings` itself
        ("sms_attempts", "max_sms_attempts"),
        ("pin_mismatches", "max_pin_mismatches"),
        ("login_failures", "max_login_failures"),
    )),
    deadlines=(
        Deadline("token", frozenset({S.REQUESTED, S.EMAILED}), "qr_token_validity",
                 (E.REQUEST, E.RESEND_EMAIL), slot="step_deadline"),
        Deadline("pin_step", frozenset({S.SMS_VERIFIED, S.PIN_SET}), "pin_step_validity",
                 (E.VERIFY_SMS,), slot="step_deadline"),
        Deadline("flow", frozenset(_IN_FLIGHT), "flow_validity", (E.REQUEST,), slot="flow_deadline"),
    ),
    implied=(Implied(S.REQUESTED, E.SCAN, E.EMAIL_SENT, "proven by a valid scan"),),
    created_by=E.REQUEST,
    expire_event=E.EXPIRE,
)


WORKFLOW: Workflow[State, Event] = Workflow(DEFINITION)
