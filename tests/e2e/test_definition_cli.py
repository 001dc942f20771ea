"""`ecps check` and `ecps diagram` on a definition of the user's own, found from the current folder."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.e2e.conftest import Ecps

DOOR = '''
from workflow.engine import Counter, Deadline, Definition, Edge, Outcome

COMMON = dict(states=("waiting", "open", "jammed"), initial="waiting", main_path=("waiting", "open"),
              terminal=frozenset({"open", "jammed"}), in_flight=frozenset({"waiting"}), created_by="ring")
DEFINITION = Definition(
    name="door-code", **COMMON,
    edges=(Edge("enter", "waiting", "open"),
           Edge("enter", "waiting", "waiting", Outcome.WRONG, counter="tries"),
           Edge("enter", "waiting", "jammed", Outcome.EXHAUSTED, counter="tries"),
           Edge("expire", "waiting", "jammed")),
    counters=(Counter("tries", "max_sms_attempts", 3),),
    deadlines=(Deadline("answer", frozenset({"waiting"}), "pin_step_validity", ("ring",), slot="by"),),
)
BROKEN = Definition(name="broken", **COMMON,
                    edges=(Edge("enter", "waiting", "open"), Edge("enter", "open", "jammed")))
'''


def _door(folder: Path) -> None:
    (folder / "doorflow.py").write_text(DOOR)


def test_check_finds_a_definition_in_the_current_folder(ecps: Ecps, tmp_path: Path) -> None:
    """A module beside the user is found, and every property of a sound definition holds."""
    _door(tmp_path)
    done = ecps("check", "--definition", "doorflow:DEFINITION", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["definition"] == "door-code"
    assert report["ok"] is True


def test_check_explains_a_definition_that_fails_validation(ecps: Ecps, tmp_path: Path) -> None:
    """A definition that cannot even be built is still loaded and checked, with counter-examples."""
    _door(tmp_path)
    done = ecps("check", "--definition", "doorflow:BROKEN", "--json")
    assert done.returncode == 1
    failed = {p["name"]: p for p in json.loads(done.stdout)["results"] if not p["ok"]}
    assert failed["absorbing"]["counterexample"] == ["ring", "enter", "enter"]
    assert "expiry" in failed


def test_check_takes_the_bounds_from_the_environment(ecps: Ecps, tmp_path: Path) -> None:
    """ECPS_* settings change the bound the checker explores."""
    _door(tmp_path)
    default = json.loads(ecps("check", "--definition", "doorflow:DEFINITION", "--json").stdout)
    wider = json.loads(ecps("check", "--definition", "doorflow:DEFINITION", "--json",
                            env={"ECPS_MAX_SMS_ATTEMPTS": "7"}).stdout)
    assert wider["states_explored"] > default["states_explored"]


def test_check_takes_the_bounds_from_the_configuration_file_as_the_service_does(
        ecps: Ecps, tmp_path: Path) -> None:
    """The $ECPS_CONFIG file the service reads is the checker's too: a flow validity shorter
    than the QR token's fails the deadlines property there, as it does given as a variable."""
    config = tmp_path / "ecps.toml"
    config.write_text('flow_validity = "30m"\n')
    by_file = ecps("check", "--json", env={"ECPS_CONFIG": str(config)})
    by_variable = ecps("check", "--json", env={"ECPS_FLOW_VALIDITY": "30m"})
    assert by_variable.returncode == 1, by_variable.stdout
    assert by_file.returncode == 1, by_file.stdout
    failed = {p["name"] for p in json.loads(by_file.stdout)["results"] if not p["ok"]}
    assert failed == {p["name"] for p in json.loads(by_variable.stdout)["results"] if not p["ok"]}
    assert "deadlines" in failed


def test_diagram_draws_a_definition_of_the_users_own(ecps: Ecps, tmp_path: Path) -> None:
    """`ecps diagram --definition` writes the text formats named after the definition."""
    _door(tmp_path)
    done = ecps("diagram", "--definition", "doorflow:DEFINITION", "-f", "mermaid", "-o", "out")
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "out" / "door-code.mmd").read_text()
    assert "waiting --> open" in text


def test_diagram_draws_the_bounds_of_the_settings_in_force(ecps_here: Ecps, workdir: Path) -> None:
    """`ecps diagram` labels counters with the configured bounds, not only the defaults."""
    assert ecps_here("diagram", "-f", "mermaid", "-o", "default").returncode == 0
    done = ecps_here("diagram", "-f", "mermaid", "-o", "wider", env={"ECPS_MAX_SMS_ATTEMPTS": "7"})
    assert done.returncode == 0, done.stderr
    default = (workdir / "default" / "activation.mmd").read_text()
    wider = (workdir / "wider" / "activation.mmd").read_text()
    assert "verify_sms ✗ last try [SMS code wrong] sms_attempts +1 = 5" in default
    assert "verify_sms ✗ last try [SMS code wrong] sms_attempts +1 = 7" in wider
    assert "sms_attempts +1 = 5" not in wider


def test_a_definition_that_cannot_be_found_is_named_in_one_line(ecps: Ecps, ecps_here: Ecps) -> None:
    """A missing module, a missing name, or a name that is no definition: invalid input (3), one
    line saying which; never advice to install an extra (the first as its own process)."""
    for n, (spec, says) in enumerate((("mypkg.flows:X", "no module named 'mypkg'"),
                                      ("workflow.nosuch:X", "no module named 'workflow.nosuch'"),
                                      ("workflow.definition:NOPE", "has no attribute 'NOPE'"),
                                      ("workflow.definition:State", "not a workflow Definition"))):
        for command in ("check", "diagram"):
            done = (ecps if n == 0 else ecps_here)(command, "--definition", spec)
            assert done.returncode == 3, (command, spec, done.stderr)
            [line] = done.stderr.strip().splitlines()
            assert says in line, line
            assert "invalid_input" in line
            assert "pip install" not in line
def test_check_proves_the_engine_pages_door_with_its_own_bounds(ecps: Ecps, tmp_path: Path) -> None:
    """The DOOR of docs/engine.md, saved as door.py: its counter and deadline are bounded by names
    that are no `Settings` fields, so the declared defaults are checked, as the interpreter runs them."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "engine.md").read_text()
    (tmp_path / "door.py").write_text(re.findall(r"```python\n(.*?)```", page, flags=re.S)[0])
    done = ecps("check", "--definition", "door:DOOR", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert (report["definition"], report["ok"]) == ("door-code", True)
