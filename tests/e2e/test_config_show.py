"""`ecps config show`: the effective settings of the environment, the server key never shown."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.conftest import Ecps

KEY = "e2e-config-key-" + "z" * 24


def test_config_show_prints_the_effective_settings_without_the_key(ecps_here: Ecps) -> None:
    """ECPS_* variables show in the table and the JSON; the key is redacted in both."""
    env = {"ECPS_SECRET_KEY": KEY, "ECPS_PIN_LENGTH": "6", "ECPS_SMS_CODE_VALIDITY": "240"}
    table = ecps_here("config", "show", env=env)
    assert table.returncode == 0, table.stderr
    assert KEY not in table.stdout + table.stderr
    assert "pin_length" in table.stdout
    done = ecps_here("config", "show", "--json", env=env)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert (rows["pin_length"], rows["sms_code_validity"]) == (6, 240)  # typed: seconds
    assert rows["check_rpps_luhn"] is True
    assert rows["secret_key"] == f"<redacted, {len(KEY)} bytes>"
    assert KEY not in done.stdout


def test_config_show_refuses_an_invalid_setting_with_a_nonzero_exit(ecps_here: Ecps) -> None:
    """An out-of-range variable fails the command and names the setting."""
    done = ecps_here("config", "show", env={"ECPS_SECRET_KEY": KEY, "ECPS_PIN_LENGTH": "60"})
    assert done.returncode != 0
    assert "pin_length" in done.stderr + done.stdout


def test_config_show_reads_a_duration_error_as_people_write_durations(ecps_here: Ecps) -> None:
    """A duration over its bound is told in the units it was given, with the maximum."""
    done = ecps_here("config", "show", env={"ECPS_SECRET_KEY": KEY, "ECPS_SMS_CODE_VALIDITY": "20m"})
    assert done.returncode == 21
    assert done.stderr.strip().splitlines() == [
        "error: invalid configuration: ECPS_SMS_CODE_VALIDITY: sms_code_validity: 20m is more "
        "than the maximum 10m [config_error, exit 21]"]
    assert "timedelta" not in done.stderr


def test_config_show_never_makes_a_server_key(ecps_here: Ecps, workdir: Path) -> None:
    """Without a key, `config show` says where one will be made and creates nothing."""
    done = ecps_here("config", "show", "--json")
    assert done.returncode == 0, done.stderr
    assert "none yet" in json.loads(done.stdout)["secret_key"]
    assert not (workdir / ".ecps").exists()
