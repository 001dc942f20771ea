"""A zoo of deliberately broken workflow definitions, each with the property that must reject it.

Every specimen is the shipped definition with one defect, built with `Definition.unchecked`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import timedelta
from typing import Any

from tests.conftest import fast_settings
from workflow.checker import Property
from workflow.definition import (
    DEFINITION,
    Counter,
    Deadline,
    Definition,
    Edge,
    Event,
    Outcome,
    State,
    Workflow,
)
from workflow.settings import Settings

S, E = State, Event


@dataclass(frozen=True)
class Specimen:
    """One broken definition (or built machine, or settings) and the property it violates."""

    name: str
    defect: str
    violates: Property
    definition: Definition
    workflow: Workflow | None = None
    settings: Settings | None = None
    counterexample: tuple[str, ...] | None = None


def variant(**changes: Any) -> Definition:
    """The shipped definition with some fields replaced, not validated."""
    data = {f.name: getattr(DEFINITION, f.name) for f in fields(DEFINITION) if f.init}
    return Definition.unchecked(**{**data, **changes})


def without(*drop: Edge, add: tuple[Edge, ...] = ()) -> Definition:
    """The shipped definition minus the edges `drop`, plus `add`."""
    for edge in drop:
        assert edge in DEFINITION.edges, edge
    return variant(edges=tuple(e for e in DEFINITION.edges if e not in drop) + add)


def edge_of(source: State, event: Event, outcome: Outcome = Outcome.OK) -> Edge:
    """The shipped edge for (source, event, outcome)."""
    found = DEFINITION.edge(source, event, outcome)
    assert found is not None
    return found


def deadline(name: str, **changes: Any) -> Definition:
    """The shipped definition with the deadline `name` changed."""
    return variant(deadlines=tuple(replace(d, **changes) if d.name == name else d
                                   for d in DEFINITION.deadlines))


class _Drifted(Workflow):
    """A built workflow whose `fire` quietly skips the PIN confirmation."""

    def fire(self, state: State, event: Event, outcome: Outcome = Outcome.OK) -> State:
        if (state, event) == (S.SMS_VERIFIED, E.SET_PIN):
            return S.ACTIVE
        return super().fire(state, event, outcome)


def _patched_machine() -> Workflow:
    """The shipped workflow whose machine gained an edge after it was built."""
    built = Workflow(DEFINITION)
    built.machine.add_transition("scan", "emailed", "active")
    return built


def specimens() -> list[Specimen]:
    """Every specimen of the zoo."""
    return [
        Specimen(
            "shortcut", "emailed --confirm_pin--> active skips three main steps", Property.MAIN_PATH,
            without(add=(Edge(E.CONFIRM_PIN, S.EMAILED, S.ACTIVE),)),
            counterexample=("request", "email_sent", "confirm_pin"),
        ),
        Specimen(
            "skipped-step", "scanned --set_pin--> pin_set skips the SMS check", Property.MAIN_PATH,
            without(add=(Edge(E.SET_PIN, S.SCANNED, S.PIN_SET),)),
            counterexample=("request", "email_sent", "scan", "set_pin", "confirm_pin"),
        ),
        Specimen(
            "missing-expiry", "scanned has no expire edge", Property.EXPIRY,
            without(edge_of(S.SCANNED, E.EXPIRE)),
            counterexample=("request", "email_sent", "scan", "clock passes flow"),
        ),
        Specimen(
            "unbounded-sms", "the SMS lock branch is gone: wrong codes count forever",
            Property.BOUNDED, without(edge_of(S.SCANNED, E.VERIFY_SMS, Outcome.EXHAUSTED)),
            counterexample=("request", "email_sent", "scan", *["verify_sms (wrong)"] * 6),
        ),
        Specimen(
            "lock-loops-back", "the last wrong PIN confirmation goes back instead of locking",
            Property.BOUNDED,
            without(edge_of(S.PIN_SET, E.CONFIRM_PIN, Outcome.EXHAUSTED),
                    add=(Edge(E.CONFIRM_PIN, S.PIN_SET, S.SMS_VERIFIED, Outcome.EXHAUSTED,
                              counter="pin_mismatches"),)),
        ),
        Specimen(
            "unknown-bound", "a counter bounded by a setting that does not exist, with no usable default",
            Property.BOUNDED,
            variant(counters=tuple(Counter(c.name, "max_sms_tries", -1)
                                   if c.name == "sms_attempts" else c for c in DEFINITION.counters)),
        ),
        Specimen(
            "terminal-exit", "an expired activation can still be scanned", Property.ABSORBING,
            without(add=(Edge(E.SCAN, S.EXPIRED, S.SCANNED),)),
            counterexample=("request", "clock passes token", "expire", "scan"),
        ),
        Specimen(
            "unreachable", "nothing revokes an active e-CPS", Property.REACHABLE,
            without(edge_of(S.ACTIVE, E.REVOKE)),
        ),
        Specimen(
            "trap", "revoked is not terminal yet has no way out", Property.NO_TRAP,
            variant(terminal=DEFINITION.terminal - {S.REVOKED}),
        ),
        Specimen(
            "two-targets", "a valid scan leads both to scanned and to sms_verified",
            Property.DETERMINISTIC, without(add=(Edge(E.SCAN, S.EMAILED, S.SMS_VERIFIED),)),
            counterexample=("request", "email_sent", "scan"),
        ),
        Specimen(
            "auto-transitions", "the machine was built with auto_transitions on", Property.MACHINE,
            DEFINITION, workflow=Workflow(DEFINITION, auto_transitions=True),
            counterexample=("request", "to_active"),
        ),
        Specimen(
            "patched-machine", "an edge was added to the built machine", Property.MACHINE,
            DEFINITION, workflow=_patched_machine(),
            counterexample=("request", "email_sent", "scan"),
        ),
        Specimen(
            "drifted-fire", "a Workflow subclass whose fire skips the confirmation", Property.MACHINE,
            DEFINITION, workflow=_Drifted(DEFINITION),
            counterexample=("request", "email_sent", "scan", "verify_sms", "set_pin"),
        ),
        Specimen(
            "stale-machine", "the machine was built from another definition", Property.MACHINE,
            without(edge_of(S.ACTIVE, E.AUTHENTICATE, Outcome.WRONG)), workflow=Workflow(DEFINITION),
        ),
        Specimen(
            "never-started", "the PIN-step deadline starts on an event that never enters it",
            Property.DEADLINES, deadline("pin_step", starts=(E.SCAN,)),
        ),
        Specimen(
            "unknown-validity", "a deadline measured by a setting that does not exist",
            Property.DEADLINES, deadline("pin_step", validity="pin_validity"),
        ),
        Specimen(
            "outlasted", "the token deadline is as long as the flow and restarts later",
            Property.DEADLINES, deadline("token", validity="flow_validity"),
        ),
        Specimen(
            "longer-than-flow", "settings make the QR token outlive the whole flow",
            Property.DEADLINES, DEFINITION,
            settings=fast_settings(flow_validity=timedelta(hours=1),
                                   qr_token_validity=timedelta(hours=2)),
        ),
        Specimen(
            "no-expire-edge", "a login session deadline over active, which has no expire edge",
            Property.DEADLINES,
            variant(deadlines=(*DEFINITION.deadlines,
                               Deadline("session", frozenset({S.ACTIVE}), "flow_validity",
                                        (E.CONFIRM_PIN,)))),
            counterexample=("request", "email_sent", "scan", "verify_sms", "set_pin",
                            "confirm_pin", "clock passes session"),
        ),
    ]


SHORTCUT = without(add=(Edge(E.CONFIRM_PIN, S.EMAILED, S.ACTIVE),))
"""The shortcut specimen at module level, for `load_definition("tests.unit.checker_zoo:SHORTCUT")`."""
