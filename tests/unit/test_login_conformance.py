"""The login's conformance replay: every transition of its checked model, through the real service."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from adapters.memory import MemoryStore
from workflow.checker import check
from workflow.engine import Interpreter
from workflow.login import LOGIN_DEFINITION
from workflow.login import service as login_service
from workflow.testing import LoginDriver, replay_model
from workflow.testing.activation_driver import conformance_settings


def test_the_login_definition_is_proven() -> None:
    """Every property of the checker holds for the login with the default settings."""
    report = check(LOGIN_DEFINITION, settings=conformance_settings())
    assert report.ok, report.render()


def test_the_login_conforms_to_its_model_on_the_memory_store() -> None:
    """All of the login's model transitions replay on `MemoryStore`, with refusals and deadlines."""
    tally = replay_model(LOGIN_DEFINITION, lambda: LoginDriver(MemoryStore))
    assert tally.ok, tally.explain()
    assert tally.replayed == tally.transitions == 20
    assert tally.refusals > 0
    assert tally.boundaries > 0


class _LongerValidity(Interpreter[Any, Any]):
    """A mutant: a login's validity runs one second longer than its settings say."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.validity = {name: span + timedelta(seconds=1) for name, span in self.validity.items()}


def test_a_mutated_login_interpreter_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """A validity one second off makes the login's replay fail on its deadline."""
    monkeypatch.setattr(login_service, "Interpreter", _LongerValidity)
    tally = replay_model(LOGIN_DEFINITION, lambda: LoginDriver(MemoryStore))
    assert tally.mismatches
    assert any("expires_at" in f"{m.expected} {m.observed}" for m in tally.mismatches), tally.explain(3)


def test_the_login_conforms_with_six_digit_pins() -> None:
    from dataclasses import replace

    made = replace(conformance_settings(), pin_length=6)
    tally = replay_model(LOGIN_DEFINITION, lambda: LoginDriver(MemoryStore, settings=made))
    assert tally.ok, tally.explain()
    assert tally.replayed == tally.transitions == 20
