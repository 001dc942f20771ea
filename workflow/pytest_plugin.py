"""The pytest plugin of `workflow.testing`: `ecps_*` fixtures, Hypothesis profiles of its own,
requirement ids in reports and the definition-coverage summary.

It acts only in a project that opts in: `ecps_workflow = true` in the ini file, `-p workflow.pytest_plugin`
or `pytest_plugins = ["workflow.pytest_plugin"]`. Even then it loads a profile only when asked
(`--hypothesis-profile ecps-ci`, `ECPS_HYPOTHESIS_PROFILE` or the ini option `ecps_hypothesis_profile`,
where `auto` means `ecps-ci` when `CI=true`, else `ecps-dev`) and checks only its own marker,
`ecps_requirement`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import pytest

# Contract suites assert inside the library: rewrite them so failures show the values compared.
pytest.register_assert_rewrite("workflow.testing")

from hypothesis import HealthCheck, Phase, settings  # noqa: E402
from hypothesis.errors import InvalidArgument  # noqa: E402

from workflow.settings import Settings  # noqa: E402
from workflow.testing.clock import FakeClock  # noqa: E402
from workflow.testing.coverage import COVERAGE, Coverage  # noqa: E402
from workflow.testing.requirements import REQUIREMENTS, requirements_of  # noqa: E402

PROFILE_ENV = "ECPS_HYPOTHESIS_PROFILE"
PROFILE_INI = "ecps_hypothesis_profile"
MARKER = "ecps_requirement"
PROFILES = ("ecps-dev", "ecps-ci", "ecps-thorough", "ecps-mutation")
MISSING_KEY = "ecps coverage missing"
_SLOW = [HealthCheck.too_slow]
# The explain phase traces every line of a failing example again and again: minutes for a stateful run.
_PHASES = [p for p in Phase if p != Phase.explain]

settings.register_profile("ecps-dev", max_examples=25, stateful_step_count=30, deadline=None,
                          suppress_health_check=_SLOW,
                          phases=_PHASES)
settings.register_profile("ecps-ci", max_examples=200, stateful_step_count=50, deadline=None,
                          derandomize=True, print_blob=True, suppress_health_check=_SLOW,
                          phases=_PHASES)
settings.register_profile("ecps-mutation", max_examples=10, stateful_step_count=25, deadline=None,
                          derandomize=True, database=None, suppress_health_check=_SLOW,
                          phases=_PHASES)
settings.register_profile("ecps-thorough", max_examples=2000, stateful_step_count=100, deadline=None,
                          print_blob=True, suppress_health_check=_SLOW,
                          phases=_PHASES)


def chosen_profile(option: str | None, ini: str = "",
                   environ: Mapping[str, str] = os.environ) -> str | None:
    """The profile to load: the command-line option, else the environment, else the ini; None loads none.

    The ini value `auto` stands for `ecps-ci` when `CI=true`, else `ecps-dev`.
    """
    name = option or environ.get(PROFILE_ENV) or ini.strip() or None
    if name == "auto":
        return "ecps-ci" if environ.get("CI") == "true" else "ecps-dev"
    return name


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ecps-workflow")
    group.addoption("--ecps-require-coverage", action="store_true", default=False,
                    help="fail the run when the property suite left part of the definition unexercised")
    parser.addini(PROFILE_INI, default="",
                  help="the Hypothesis profile to load (ecps-dev, ecps-ci, ecps-thorough, ecps-mutation, "
                       "auto: ecps-ci under CI=true, else ecps-dev); empty: leave Hypothesis's own")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}(*ids): the workflow.testing requirement ids it checks")
    explicit = config.getoption("--hypothesis-profile", default=None)
    name = chosen_profile(explicit, str(config.getini(PROFILE_INI)))
    if explicit is None and name is not None:  # Hypothesis's own plugin loads an explicit option
        try:
            settings.load_profile(name)
        except InvalidArgument as exc:
            raise pytest.UsageError(f"{PROFILE_ENV}/{PROFILE_INI}={name!r}: {exc} "
                                    f"(ours: {', '.join(PROFILES)})") from exc


def pytest_report_header(config: pytest.Config) -> str:
    return f"ecps-workflow: hypothesis profile {settings.get_current_profile_name()!r}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Carry requirement ids (`@requirement` or the `ecps_requirement` marker) into each test's report."""
    for item in items:
        ids = list(requirements_of(getattr(item, "function", None)))
        for mark in item.iter_markers(MARKER):
            ids += [str(a) for a in mark.args]
        unknown = [i for i in ids if i not in REQUIREMENTS]
        if unknown:
            raise pytest.UsageError(f"{item.nodeid}: unknown requirement ids {unknown}")
        for i in dict.fromkeys(ids):
            item.user_properties.append(("requirement", i))


class _Missing:
    """What the run's last line counts as "ecps coverage missing": an object, as the reports
    other plugins look through in the same stats are (Hypothesis reads their `__dict__`)."""

    def __init__(self, why: str) -> None:
        self.why = why


def _coverage_required_and_short(config: pytest.Config) -> bool:
    required = bool(config.getoption("--ecps-require-coverage"))
    return required and (COVERAGE.empty() or bool(COVERAGE.missing()))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int,
                            config: pytest.Config) -> None:
    if not COVERAGE.empty():
        terminalreporter.write_sep("=", "ecps-workflow definition coverage")
        terminalreporter.write_line(COVERAGE.report())
    if _coverage_required_and_short(config):
        why = ("no test recorded any coverage" if COVERAGE.empty()
               else f"{len(COVERAGE.missing().lines())} parts of the definition were never exercised")
        terminalreporter.write_line(f"ecps-workflow: --ecps-require-coverage: {why}: the run fails",
                                    red=True, bold=True)
        terminalreporter.stats.setdefault(MISSING_KEY, []).append(_Missing(why))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if exitstatus == pytest.ExitCode.OK and _coverage_required_and_short(session.config):
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
