"""The pytest plugin of `workflow.testing` (entry point `ecps_workflow`): Hypothesis profiles,
`ecps_*` fixtures, requirement ids in reports and the definition-coverage summary.

Profiles `dev`, `ci`, `thorough` (and `mutation`: `dev`, derandomized); pick one with
`--hypothesis-profile NAME` or the environment variable `ECPS_HYPOTHESIS_PROFILE`; without either,
`ci` when `CI=true`, else `dev`.
"""

from __future__ import annotations

import os

import pytest

# Contract suites assert inside the library: rewrite them so failures show the values compared.
pytest.register_assert_rewrite("workflow.testing")

from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis.errors import InvalidArgument  # noqa: E402

from workflow.settings import Settings  # noqa: E402
from workflow.testing.clock import FakeClock  # noqa: E402
from workflow.testing.coverage import COVERAGE, Coverage  # noqa: E402
from workflow.testing.requirements import REQUIREMENTS, requirements_of  # noqa: E402

PROFILE_ENV = "ECPS_HYPOTHESIS_PROFILE"
PROFILES = ("dev", "ci", "thorough", "mutation")
_SLOW = [HealthCheck.too_slow]

settings.register_profile("dev", max_examples=25, stateful_step_count=30, deadline=None,
                          suppress_health_check=_SLOW)
settings.register_profile("ci", max_examples=200, stateful_step_count=50, deadline=None,
                          derandomize=True, print_blob=True, suppress_health_check=_SLOW)
settings.register_profile("mutation", max_examples=10, stateful_step_count=25, deadline=None,
                          derandomize=True, database=None, suppress_health_check=_SLOW)
settings.register_profile("thorough", max_examples=2000, stateful_step_count=100, deadline=None,
                          print_blob=True, suppress_health_check=_SLOW)


def chosen_profile(option: str | None, environ: dict[str, str] | os._Environ[str] = os.environ) -> str:
    """The profile to load: the command-line option, else the environment, else by `CI`."""
    return option or environ.get(PROFILE_ENV) or ("ci" if environ.get("CI") == "true" else "dev")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ecps-workflow")
    group.addoption("--ecps-require-coverage", action="store_true", default=False,
                    help="fail the run when the property suite left part of the definition unexercised")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requirement(*ids): the DESIGN.md rules a test checks")
    explicit = config.getoption("--hypothesis-profile", default=None)
    name = chosen_profile(explicit)
    if explicit is None:  # Hypothesis's own plugin loads an explicit --hypothesis-profile
        try:
            settings.load_profile(name)
        except InvalidArgument as exc:
            raise pytest.UsageError(f"{PROFILE_ENV}={name!r}: {exc} (ours: {', '.join(PROFILES)})") from exc


def pytest_report_header(config: pytest.Config) -> str:
    return f"ecps-workflow: hypothesis profile {settings.get_current_profile_name()!r}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Carry requirement ids (decorator or marker) into each test's report properties."""
    for item in items:
        ids = list(requirements_of(getattr(item, "function", None)))
        for mark in item.iter_markers("requirement"):
            ids += [str(a) for a in mark.args]
        unknown = [i for i in ids if i not in REQUIREMENTS]
        if unknown:
            raise pytest.UsageError(f"{item.nodeid}: unknown requirement ids {unknown}")
        for i in dict.fromkeys(ids):
            item.user_properties.append(("requirement", i))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int,
                            config: pytest.Config) -> None:
    if COVERAGE.empty():
        return
    terminalreporter.write_sep("=", "ecps-workflow definition coverage")
    terminalreporter.write_line(COVERAGE.report())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if session.config.getoption("--ecps-require-coverage") and not COVERAGE.empty() and COVERAGE.missing():
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def ecps_fake_clock() -> FakeClock:
    """A `FakeClock` at its fixed start."""
    return FakeClock()


@pytest.fixture
def ecps_settings() -> Settings:
    """Default `Settings` with a test server key and a cheap PIN hash (fast tests, never production)."""
    return Settings(secret_key="ecps-test-key-" + "t" * 32, argon2_memory_kib=64, argon2_time_cost=1,
                    argon2_parallelism=1)


@pytest.fixture(scope="session")
def ecps_coverage() -> Coverage:
    """The definition-coverage tally the shipped `ActivationMachine` records into."""
    return COVERAGE
