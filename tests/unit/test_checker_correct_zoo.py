"""A zoo of correct definitions the checker must accept: optional steps, extra loops and ends, own enums."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import timedelta
from enum import StrEnum
from typing import Any

import pytest

from workflow.checker import Property, check, explore
from workflow.definition import DEFINITION, Counter, Deadline, Definition, Edge, Implied, Outcome

OK, WRONG, EXHAUSTED = Outcome.OK, Outcome.WRONG, Outcome.EXHAUSTED
_DATA = {f.name: getattr(DEFINITION, f.name) for f in fields(DEFINITION) if f.init}
_FLIGHT = ("requested", "emailed", "scanned", "sms_verified", "pin_set")


def _activation(**changes: Any) -> Definition[Any, Any]:
    return Definition(**{**_DATA, **changes})


def _with_terms() -> Definition[Any, Any]:
    """Terms to accept between the SMS and the PIN, which a professional may also skip."""
    flight = frozenset({*_FLIGHT, "terms_accepted"})
    deadlines = tuple(replace(dl, states=dl.states | {"terms_accepted"})
                      if dl.name in ("pin_step", "flow") else dl for dl in DEFINITION.deadlines)
    return _activation(
        name="with-terms", states=(*DEFINITION.states, "terms_accepted"), in_flight=flight,
        deadlines=deadlines,
        edges=(*DEFINITION.edges,
               Edge("accept_terms", "sms_verified", "terms_accepted"),
               Edge("set_pin", "terms_accepted", "pin_set"),
               Edge("cancel", "terms_accepted", "cancelled"),
               Edge("expire", "terms_accepted", "expired")))


def _only_with_terms() -> Definition[Any, Any]:
    """The terms step made compulsory: the PIN can only be chosen after accepting them."""
    d = _with_terms()
    return replace(d, name="only-with-terms",
                   edges=tuple(e for e in d.edges if (e.source, e.event) != ("sms_verified", "set_pin")))


def _with_reminder() -> Definition[Any, Any]:
    """An extra self-loop: the app may remind the professional while the e-mail is out."""
    return _activation(name="with-reminder",
                       edges=(*DEFINITION.edges, Edge("remind", "emailed", "emailed")))


def _with_refusal_end() -> Definition[Any, Any]:
    """An extra terminal state: the directory withdraws the professional during the flow."""
    return _activation(
        name="with-withdrawal", states=(*DEFINITION.states, "withdrawn"),
        terminal=DEFINITION.terminal | {"withdrawn"},
        edges=(*DEFINITION.edges, *(Edge("withdraw", s, "withdrawn") for s in _FLIGHT)))


def _help_detour() -> Definition[Any, Any]:
    """A detour out of the main path and back: asking for help while scanned."""
    flight = frozenset({*_FLIGHT, "helping"})
    deadlines = tuple(replace(dl, states=dl.states | {"helping"}) if dl.name == "flow" else dl
                      for dl in DEFINITION.deadlines)
    return _activation(
        name="help-detour", states=(*DEFINITION.states, "helping"), in_flight=flight, deadlines=deadlines,
        edges=(*DEFINITION.edges, Edge("ask_help", "scanned", "helping"),
               Edge("helped", "helping", "scanned"), Edge("cancel", "helping", "cancelled"),
               Edge("expire", "helping", "expired")))


class Parcel(StrEnum):
    """A parcel locker of the embedder's own, with its own names."""

    ANNOUNCED = "announced"
    IN_LOCKER = "in_locker"
    COLLECTED = "collected"
    RETURNED = "returned"


def _parcel() -> Definition[Any, Any]:
    """Own enums, own creating event, one counter, one deadline, an implied event."""
    P = Parcel
    return Definition(
        name="parcel", states=tuple(P), initial=P.ANNOUNCED,
        main_path=(P.ANNOUNCED, P.IN_LOCKER, P.COLLECTED),
        terminal=frozenset({P.COLLECTED, P.RETURNED}), in_flight=frozenset({P.ANNOUNCED, P.IN_LOCKER}),
        edges=(Edge("deposit", P.ANNOUNCED, P.IN_LOCKER),
               Edge("open", P.IN_LOCKER, P.COLLECTED, guard="code right"),
               Edge("open", P.IN_LOCKER, P.IN_LOCKER, WRONG, "code right", "tries"),
               Edge("open", P.IN_LOCKER, P.RETURNED, EXHAUSTED, "code right", "tries"),
               Edge("expire", P.ANNOUNCED, P.RETURNED), Edge("expire", P.IN_LOCKER, P.RETURNED)),
        counters=(Counter("tries", "max_sms_attempts", 5),),
        deadlines=(Deadline("stay", frozenset({P.ANNOUNCED, P.IN_LOCKER}), "flow_validity", ("ship",)),),
        implied=(Implied(P.ANNOUNCED, "open", "deposit"),),
        created_by="ship")


def _plain_strings() -> Definition[Any, Any]:
    """Plain strings, a counted resend and a reset, two deadlines in one slot."""
    return Definition(
        name="plain", states=("asked", "sent", "done", "gone"), initial="asked",
        main_path=("asked", "sent", "done"), terminal=frozenset({"done", "gone"}),
        in_flight=frozenset({"asked", "sent"}),
        edges=(Edge("send", "asked", "sent"), Edge("resend", "sent", "sent", counter="resends"),
               Edge("confirm", "sent", "done", resets="resends"),
               Edge("expire", "asked", "gone"), Edge("expire", "sent", "gone"),
               Edge("cancel", "asked", "gone"), Edge("cancel", "sent", "gone")),
        counters=(Counter("resends", "max_resends", 3),),
        deadlines=(Deadline("ask", frozenset({"asked"}), "qr_token_validity", ("create",), slot="step"),
                   Deadline("answer", frozenset({"sent"}), "pin_step_validity", ("send", "resend"),
                            slot="step")),
        created_by="create")


def _two_main_lines() -> Definition[Any, Any]:
    """Two ways to the goal through the same main states, one of them with an optional review."""
    return Definition(
        name="review", states=("draft", "review", "checked", "signed", "dropped"), initial="draft",
        main_path=("draft", "checked", "signed"), terminal=frozenset({"signed", "dropped"}),
        in_flight=frozenset({"draft", "review", "checked"}),
        edges=(Edge("check", "draft", "checked"), Edge("ask_review", "draft", "review"),
               Edge("approve", "review", "checked"), Edge("sign", "checked", "signed"),
               *(Edge("expire", s, "dropped") for s in ("draft", "review", "checked"))),
        deadlines=(Deadline("life", frozenset({"draft", "review", "checked"}), "flow_validity", ("open",)),),
        created_by="open")


ZOO = [_with_terms, _only_with_terms, _with_reminder, _with_refusal_end, _help_detour, _parcel,
       _plain_strings, _two_main_lines]


@pytest.mark.parametrize("build", ZOO, ids=[b.__name__.strip("_") for b in ZOO])
def test_a_correct_definition_passes_every_property(build: Any) -> None:
    """Each correct definition of the zoo builds, and the checker proves every property of it."""
    report = check(build())
    assert report.ok, report.render()


def test_skipping_a_main_state_is_the_counter_example() -> None:
    """With the terms compulsory on the main path, the way that skips them is shown."""
    d = _with_terms()
    compulsory = replace(d, name="compulsory-terms",
                         main_path=("requested", "emailed", "scanned", "sms_verified", "terms_accepted",
                                    "pin_set", "active"))
    report = check(compulsory)
    assert report.failed == {Property.MAIN_PATH}
    assert report.result(Property.MAIN_PATH).counterexample == (
        "request", "email_sent", "scan", "verify_sms", "set_pin", "confirm_pin")


def test_an_implied_event_is_a_step_of_the_model() -> None:
    """The checker explores a scan while `requested` as the implied delivery then the scan."""
    space = explore(DEFINITION)
    assert space.start is not None
    moves = {(step.event, step.implied, str(target.state)) for step, target in space.moves[space.start]}
    assert ("scan", ("email_sent",), "scanned") in moves
    parcel = explore(_parcel())
    assert parcel.start is not None
    assert any(step.implied == ("deposit",) and target.state == Parcel.COLLECTED
               for step, target in parcel.moves[parcel.start])


@dataclass(frozen=True)
class _Bounds:
    max_sms_attempts: int = 2
    flow_validity: timedelta = timedelta(hours=1)


def test_bounds_of_any_settings_object_are_read() -> None:
    """The checker takes bounds and lengths from any object with the named attributes."""
    small = check(_parcel(), settings=_Bounds())
    large = check(_parcel())
    assert small.ok
    assert small.states_explored < large.states_explored
