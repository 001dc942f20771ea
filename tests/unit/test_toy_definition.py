"""A definition of the test's own (three states, one counter, one deadline) runs on the unchanged engine."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import pytest

from workflow.checker import check
from workflow.diagrams import to_dot, to_mermaid, to_scxml
from workflow.engine import Counter, Deadline, Definition, Edge, Interpreter, Outcome, Workflow
from workflow.errors import TransitionNotAllowed, VerificationFailed, WorkflowError
from workflow.testing import FakeClock, Observed, replay_model


class Door(StrEnum):
    """Where a door code request stands."""

    WAITING = "waiting"
    OPEN = "open"
    JAMMED = "jammed"


TOY = Definition(
    name="door-code",
    states=tuple(Door),
    initial=Door.WAITING,
    main_path=(Door.WAITING, Door.OPEN),
    terminal=frozenset({Door.OPEN, Door.JAMMED}),
    in_flight=frozenset({Door.WAITING}),
    edges=(
        Edge("enter", Door.WAITING, Door.OPEN, guard="code right"),
        Edge("enter", Door.WAITING, Door.WAITING, Outcome.WRONG, "code right", counter="tries"),
        Edge("enter", Door.WAITING, Door.JAMMED, Outcome.EXHAUSTED, "code right", counter="tries"),
        Edge("expire", Door.WAITING, Door.JAMMED, guard="too slow"),
    ),
    counters=(Counter("tries", "max_tries", 3),),
    deadlines=(Deadline("answer", frozenset({Door.WAITING}), "answer_validity", ("ring",),
                        slot="answer_by"),),
    created_by="ring",
)


@dataclass
class DoorSettings:
    """The toy's own settings: the counter's bound and the deadline's length."""

    max_tries: int = 3
    answer_validity: timedelta = timedelta(minutes=2)


@dataclass
class Visit:
    """One instance of the toy: its state, counter and deadline slot."""

    state: str = ""
    closed_reason: str = ""
    tries: int = 0
    answer_by: datetime | None = None


class DoorDriver:
    """The toy's whole 'service': the interpreter, a code as guard, and lazy expiry."""

    system = frozenset({"expire"})
    wrong_answers = frozenset({"enter"})

    def __init__(self) -> None:
        self.settings = DoorSettings()
        self.engine = Interpreter(Workflow(TOY), self.settings)

    def start(self) -> None:
        self.clock = FakeClock()
        self.visit = Visit()
        self.engine.create(self.visit, self.clock.now())

    def now(self) -> datetime:
        return self.clock.now()

    def advance_to(self, when: datetime) -> None:
        self.clock.advance(when - self.clock.now())

    def observe(self) -> Observed:
        return Observed(self.visit.state, {"tries": self.visit.tries}, {"answer_by": self.visit.answer_by})

    def act(self, event: str, outcome: str) -> WorkflowError | None:
        now = self.clock.now()
        if self.engine.is_due(self.visit, now):
            self.engine.apply(self.visit, "expire", now)
            return None if event == "expire" else TransitionNotAllowed(self.visit.state, event)
        if not TOY.allows(self.visit.state, event):
            return TransitionNotAllowed(self.visit.state, event)
        if event == "expire":
            return None
        moves = self.engine.apply(self.visit, event, now, outcome)
        return None if moves[-1].outcome == Outcome.OK else VerificationFailed("wrong code")


def test_the_toy_runs_on_the_interpreter() -> None:
    """Three wrong codes jam the door; the third takes the `exhausted` edge the bound decides."""
    driver = DoorDriver()
    driver.start()
    assert driver.visit.answer_by == driver.now() + timedelta(minutes=2)
    driver.act("enter", "wrong")
    driver.act("enter", "wrong")
    assert (driver.visit.state, driver.visit.tries) == ("waiting", 2)
    assert isinstance(driver.act("enter", "wrong"), VerificationFailed)
    assert (driver.visit.state, driver.visit.answer_by) == ("jammed", None)
    assert driver.visit.closed_reason == "too many attempts (tries)"


def test_the_toy_is_model_checked() -> None:
    """Every property holds for the toy, with its own settings for the bound and the deadline."""
    report = check(TOY, settings=DoorSettings())
    assert report.ok, report.render()
    assert report.states_explored >= 4


def test_the_toy_is_drawn_in_every_text_format() -> None:
    """DOT, Mermaid and SCXML name the toy's states and events."""
    for text in (to_dot(TOY), to_mermaid(TOY), to_scxml(TOY, DoorSettings())):
        assert "waiting" in text
        assert "jammed" in text
        assert "enter" in text


def test_the_toy_conforms_to_its_model() -> None:
    """The conformance replay covers all of the toy's model transitions."""
    tally = replay_model(TOY, DoorDriver)
    assert tally.ok, tally.explain()
    assert tally.replayed == tally.transitions >= 5


@pytest.mark.parametrize("bound", [1, 2, 5])
def test_the_bound_comes_from_the_settings(bound: int) -> None:
    """The interpreter reads the counter's bound from the settings it is given."""
    driver = DoorDriver()
    driver.settings = DoorSettings(max_tries=bound)
    driver.engine = Interpreter(Workflow(TOY), driver.settings)
    driver.start()
    for _ in range(bound - 1):
        driver.act("enter", "wrong")
    assert driver.visit.state == "waiting"
    driver.act("enter", "wrong")
    assert driver.visit.state == "jammed"
