"""The pytest plugin: Hypothesis profiles and how one is chosen, fixtures, requirement ids, coverage."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import settings

from workflow.pytest_plugin import chosen_profile
from workflow.testing.coverage import COVERAGE, Coverage

pytest_plugins = ["pytester"]
ARGS = ("-p", "workflow.pytest_plugin", "-p", "no:cacheprovider", "-p", "no:asyncio")
OPTED_IN = ("-p", "no:cacheprovider", "-p", "no:asyncio")

SHOW = """
from hypothesis import settings

def test_show():
    s = settings.default
    print("PROFILE", settings.get_current_profile_name(), s.max_examples, s.stateful_step_count,
          s.derandomize, s.deadline)
"""


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Inner sessions run in this process: keep our profile and coverage tally as they were."""
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("ECPS_HYPOTHESIS_PROFILE", raising=False)
    profile = settings.get_current_profile_name()
    kept = Coverage()
    kept.merge(COVERAGE)
    yield
    settings.load_profile(profile)
    COVERAGE.reset()
    COVERAGE.merge(kept)


def _profile_line(pytester: pytest.Pytester, *args: str) -> str:
    pytester.makepyfile(test_show=SHOW)
    result = pytester.runpytest_inprocess(*ARGS, "-s", *args)
    result.assert_outcomes(passed=1)
    (line,) = [ln[ln.index("PROFILE"):] for ln in result.outlines if "PROFILE " in ln]
    return line


def test_profiles_are_chosen_from_option_environment_and_ini() -> None:
    """The option wins over the environment variable, which wins over the ini; `auto` follows `CI`."""
    assert chosen_profile(None, "", {}) is None
    assert chosen_profile(None, "", {"CI": "true"}) is None
    assert chosen_profile(None, "auto", {}) == "ecps-dev"
    assert chosen_profile(None, "auto", {"CI": "true"}) == "ecps-ci"
    assert chosen_profile(None, "auto", {"CI": "true", "ECPS_HYPOTHESIS_PROFILE": "ecps-thorough"}) == (
        "ecps-thorough")
    assert chosen_profile("ecps-dev", "ecps-ci", {"ECPS_HYPOTHESIS_PROFILE": "ecps-thorough"}) == "ecps-dev"


def test_the_ci_profile_is_thorough_and_reproducible() -> None:
    """`ecps-ci`: at least 200 examples, 50 steps, no deadline, derandomized; `ecps-thorough` runs more."""
    ci, thorough, dev = (settings.get_profile(n) for n in ("ecps-ci", "ecps-thorough", "ecps-dev"))
    assert ci.max_examples >= 200
    assert ci.stateful_step_count == 50
    assert ci.deadline is None
    assert ci.derandomize
    assert thorough.max_examples > ci.max_examples
    assert thorough.stateful_step_count > ci.stateful_step_count
    assert dev.max_examples < ci.max_examples


def test_without_a_choice_no_profile_is_loaded(pytester: pytest.Pytester) -> None:
    """Loaded but not asked, the plugin leaves Hypothesis's own profile (`default`, 100 examples)."""
    settings.load_profile("default")  # this session's own choice, put back after the test
    assert _profile_line(pytester).startswith("PROFILE default 100 ")


def test_the_ini_option_auto_loads_dev_or_ci(pytester: pytest.Pytester,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """`ecps_hypothesis_profile = auto` loads `ecps-dev`, and `ecps-ci` under `CI=true`."""
    pytester.makeini("[pytest]\necps_hypothesis_profile = auto\n")
    assert _profile_line(pytester).startswith("PROFILE ecps-dev 25 ")
    monkeypatch.setenv("CI", "true")
    assert _profile_line(pytester) == "PROFILE ecps-ci 200 50 True None"


def test_the_environment_and_the_option_choose(pytester: pytest.Pytester,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """`ECPS_HYPOTHESIS_PROFILE` chooses, and `--hypothesis-profile` overrides it."""
    monkeypatch.setenv("ECPS_HYPOTHESIS_PROFILE", "ecps-thorough")
    assert _profile_line(pytester).startswith("PROFILE ecps-thorough 2000 ")
    assert _profile_line(pytester, "--hypothesis-profile", "ecps-ci").startswith("PROFILE ecps-ci 200 ")


def test_an_unknown_profile_is_a_usage_error(pytester: pytest.Pytester,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A misspelt profile stops the run with a message naming ours."""
    monkeypatch.setenv("ECPS_HYPOTHESIS_PROFILE", "ecps-thorogh")
    pytester.makepyfile(test_show=SHOW)
    result = pytester.runpytest_inprocess(*ARGS)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "ecps-dev, ecps-ci, ecps-thorough" in "\n".join(result.errlines + result.outlines)


def test_fixtures_are_prefixed_and_do_not_clash(pytester: pytest.Pytester) -> None:
    """`ecps_fake_clock` and `ecps_settings` work beside a project's own `clock` and `settings`."""
    pytester.makepyfile(test_fx="""
        import pytest
        from datetime import timedelta

        @pytest.fixture
        def settings():
            return "mine"

        @pytest.fixture
        def clock():
            return "mine too"

        def test_both(settings, clock, ecps_settings, ecps_fake_clock, ecps_coverage):
            assert (settings, clock) == ("mine", "mine too")
            assert ecps_settings.argon2_time_cost == 1
            before = ecps_fake_clock.now()
            assert ecps_fake_clock.advance(timedelta(seconds=5)) - before == timedelta(seconds=5)
            assert ecps_coverage.definition.name == "ecps-activation"
    """)
    pytester.runpytest_inprocess(*ARGS).assert_outcomes(passed=1)


def test_requirement_ids_reach_the_junit_report(pytester: pytest.Pytester) -> None:
    """Ids from `@requirement` and from the marker land as `requirement` properties per test."""
    pytester.makepyfile(test_req="""
        import pytest
        from workflow.testing.requirements import requirement

        @requirement("REQ-6-CAS")
        def test_tagged():
            pass

        @pytest.mark.ecps_requirement("REQ-5-AT-REST")
        def test_marked():
            pass
    """)
    result = pytester.runpytest_inprocess(*ARGS, "--junitxml=out.xml")
    result.assert_outcomes(passed=2)
    xml = (pytester.path / "out.xml").read_text()
    assert '<property name="requirement" value="REQ-6-CAS"' in xml
    assert '<property name="requirement" value="REQ-5-AT-REST"' in xml


def test_an_unknown_requirement_id_is_refused(pytester: pytest.Pytester) -> None:
    """A test tagged with an id the kit does not know fails when its module is imported."""
    pytester.makepyfile(test_bad="""
        from workflow.testing.requirements import requirement

        @requirement("REQ-9-NOPE")
        def test_x():
            pass
    """)
    result = pytester.runpytest_inprocess(*ARGS)
    assert result.ret != pytest.ExitCode.OK
    assert "unknown requirement ids ['REQ-9-NOPE']" in "\n".join(result.outlines)


HIT = """
from workflow.testing.coverage import COVERAGE

def test_hit():
    COVERAGE.hit_state("requested")
"""


def test_the_coverage_report_ends_the_run(pytester: pytest.Pytester) -> None:
    """When a test recorded coverage, the run ends with the report and what is missing."""
    COVERAGE.reset()
    pytester.makepyfile(test_hit=HIT)
    result = pytester.runpytest_inprocess(*ARGS)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*ecps-workflow definition coverage*", "*states      1/11*",
                                 "*MISSING state active*"])
    assert result.ret == pytest.ExitCode.OK


def test_required_coverage_fails_an_incomplete_run(pytester: pytest.Pytester) -> None:
    """`--ecps-require-coverage` turns a run that missed part of the definition into a failure."""
    COVERAGE.reset()
    pytester.makepyfile(test_hit=HIT)
    result = pytester.runpytest_inprocess(*ARGS, "--ecps-require-coverage")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*--ecps-require-coverage: * parts of the definition were never exercised*",
                                 "*1 passed*1 ecps coverage missing*"])


def test_required_coverage_fails_a_run_that_recorded_none(pytester: pytest.Pytester) -> None:
    """`--ecps-require-coverage` with no machine run fails too, and says that nothing was recorded."""
    COVERAGE.reset()
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    result = pytester.runpytest_inprocess(*ARGS, "--ecps-require-coverage")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*no test recorded any coverage: the run fails*"])


def test_no_report_when_nothing_was_recorded(pytester: pytest.Pytester) -> None:
    """A run that never touched the machine prints no coverage section."""
    COVERAGE.reset()
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    result = pytester.runpytest_inprocess(*ARGS)
    assert "definition coverage" not in result.stdout.str()


UNRELATED_INI = """
[pytest]
addopts = --strict-markers
markers =
    requirement(id): this project's own requirement ids
"""
UNRELATED = """
import sys

import pytest
from hypothesis import given, settings, strategies as st

RUNS = []

@pytest.mark.requirement("PROJ-42")
@given(st.integers())
def test_numbers(n):
    RUNS.append(n)

def test_report():
    s = settings.default
    print("SEEN", settings.get_current_profile_name(), s.max_examples, s.deadline, len(RUNS),
          "workflow" in sys.modules)
"""


def _unrelated_run(pytester: pytest.Pytester, *args: str) -> str:
    pytester.makeini(UNRELATED_INI)
    pytester.makepyfile(test_theirs=UNRELATED)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s", *args)
    result.assert_outcomes(passed=2)
    (line,) = [ln[ln.index("SEEN"):] for ln in result.outlines if "SEEN " in ln]
    return line


@pytest.mark.parametrize("ci", [False, True], ids=["local", "ci"])
def test_an_unrelated_project_runs_unchanged(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                             ci: bool) -> None:
    """A project with its own `requirement` marker and Hypothesis tests runs as without the package."""
    if ci:
        monkeypatch.setenv("CI", "true")
    with_package = _unrelated_run(pytester)
    assert with_package == _unrelated_run(pytester, "-p", "no:ecps_workflow")
    assert with_package.endswith(" False")  # the workflow package was never imported
    assert with_package.startswith("SEEN ci " if ci else "SEEN default 100 0:00:00.200000 100")


def test_the_ini_option_opts_in(pytester: pytest.Pytester) -> None:
    """`ecps_workflow = true` in a project's ini file loads the plugin: its fixtures exist."""
    pytester.makeini("[pytest]\necps_workflow = true\n")
    pytester.makepyfile(test_fx="def test_fx(ecps_settings):\n    assert ecps_settings.argon2_time_cost\n")
    pytester.runpytest_subprocess(*OPTED_IN).assert_outcomes(passed=1)
    pytester.makeini("[pytest]\n")
    pytester.runpytest_subprocess(*OPTED_IN).assert_outcomes(errors=1)


def test_a_project_with_packages_named_like_ours_still_starts(pytester: pytest.Pytester) -> None:
    """pytest imports the entry point in every session of the environment: under `python -m pytest` a
    project's own `adapters` or `workflow` package comes first on `sys.path`, so the entry point must
    be a module no project package can hide (it was `adapters.pytest_entry`: pytest did not start)."""
    import sys
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text(encoding="utf-8"))
    entry = pyproject["project"]["entry-points"]["pytest11"]["ecps_workflow"]
    assert entry.split(".")[0] not in {"adapters", "workflow"}
    assert "." not in entry
    assert entry in pyproject["tool"]["setuptools"]["py-modules"]
    for package in ("adapters", "workflow"):
        pytester.mkpydir(package)
    pytester.makepyfile(test_mine="def test_mine():\n    assert True\n")
    result = pytester.run(sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q")
    assert result.ret == 0, result.outlines + result.errlines


@pytest.mark.parametrize("recorded", [False, True])
def test_required_coverage_fails_cleanly_when_the_plugin_is_on_by_the_ini_file(
        pytester: pytest.Pytester, recorded: bool) -> None:
    """Turned on by `ecps_workflow = true` (Hypothesis's summary then runs after the plugin's),
    the run still ends with the summary line, never a crash."""
    COVERAGE.reset()
    pytester.makeini("[pytest]\necps_workflow = true\n")
    pytester.makepyfile(test_hit=HIT if recorded else "def test_plain():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--ecps-require-coverage")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*1 passed*1 ecps coverage missing*"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
