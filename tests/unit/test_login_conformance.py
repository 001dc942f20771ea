"""The login's conformance replay: every transition of its checked model, through the real service."""

from __future__ import annotations

from adapters.memory import MemoryStore
from workflow.checker import check
from workflow.login import LOGIN_DEFINITION
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
    assert tally.replayed == tally.transitions == 16
    assert tally.refusals > 0
    assert tally.boundaries > 0
