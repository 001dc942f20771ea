"""The stateful property suite over memory adapters (the `ci` profile runs 200+ examples of 50 steps)."""

from __future__ import annotations

import pytest

from adapters.memory import MemoryMailer, MemorySms, MemoryStore
from workflow.testing.machine import ActivationMachine

MemoryMachine = ActivationMachine.configure(make_store=MemoryStore, make_mailer=MemoryMailer,
                                            make_sms=MemorySms)
TestActivationMachineOnMemory = MemoryMachine.TestCase


@pytest.mark.parametrize("factories", [
    {"make_stroe": MemoryStore},           # a misspelt name: the machine would run on its defaults
    {"make_gateway": MemorySms},           # SmsContract's name: the kit's SMS fake would stand in
    {"make_store": MemoryStore()},         # a store, not a factory of stores
], ids=["misspelt", "other-name", "instance"])
def test_configure_refuses_what_it_would_not_use(factories: dict[str, object]) -> None:
    """An unknown factory name or something that is not callable is a TypeError naming it, at once."""
    with pytest.raises(TypeError, match=next(iter(factories))):
        ActivationMachine.configure(**factories)  # type: ignore[arg-type]


def test_configure_without_a_store_says_so() -> None:
    """A machine configured without `make_store` is refused when built, not when it first runs."""
    with pytest.raises(TypeError, match="make_store"):
        ActivationMachine.configure(make_mailer=MemoryMailer)


def test_configure_takes_any_callable_factory() -> None:
    """A `functools.partial` or a lambda is a factory too (a partial has no `__name__`)."""
    import functools

    machine = ActivationMachine.configure(make_store=functools.partial(MemoryStore))
    assert machine.make_store().list_activations() == []
    fresh = lambda: MemoryStore()  # noqa: E731, PLW0108 (a lambda, as a project would write one)
    assert ActivationMachine.configure(make_store=fresh).__name__ == "ActivationMachineForLambda"


@pytest.mark.parametrize(("pin_length", "digits"), [(4, 7), (4, 8), (6, 6), (8, 8), (5, 6)])
def test_the_machine_tests_the_whole_flow_at_other_lengths(
        monkeypatch: pytest.MonkeyPatch, pin_length: int, digits: int) -> None:
    """Its codes and PINs have the settings' lengths: a correct store passes, and activations
    reach `pin_set` and `active` (PINs of the wrong length would stop every flow at the PIN)."""
    from hypothesis import HealthCheck, settings
    from hypothesis.stateful import run_state_machine_as_test

    import workflow.testing.machine as machine_module
    from workflow.definition import State
    from workflow.settings import Settings
    from workflow.testing.coverage import Coverage

    tally = Coverage()
    monkeypatch.setattr(machine_module, "COVERAGE", tally)
    machine = ActivationMachine.configure(make_store=MemoryStore, make_settings=lambda: Settings(
        secret_key="k" * 32, argon2_memory_kib=64, argon2_time_cost=1, argon2_parallelism=1,
        sms_code_digits=digits, pin_length=pin_length))
    run_state_machine_as_test(machine, settings=settings(
        max_examples=50, stateful_step_count=50, derandomize=True, database=None, deadline=None,
        suppress_health_check=list(HealthCheck)))
    assert tally.states[State.ACTIVE]
    assert tally.states[State.PIN_SET]
