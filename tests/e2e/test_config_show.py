"""`ecps config show`: the effective settings of the environment, the server key never shown."""

from __future__ import annotations

import json

from tests.e2e.conftest import Ecps

KEY = "e2e-config-key-" + "z" * 24


def test_config_show_prints_the_effective_settings_without_the_key(ecps: Ecps) -> None:
    """ECPS_* variables show in the table and the JSON; the key is redacted in both."""
    env = {"ECPS_SECRET_KEY": KEY, "ECPS_PIN_LENGTH": "6", "ECPS_SMS_CODE_VALIDITY": "240"}
    table = ecps("config", "show", env=env)
    assert table.returncode == 0, table.stderr
    assert KEY not in table.stdout + table.stderr
    assert "pin_length" in table.stdout
    done = ecps("config", "show", "--json", env=env)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert (rows["pin_length"], rows["sms_code_validity"]) == ("6", "4m")
    assert rows["secret_key"] == f"<redacted, {len(KEY)} bytes>"
    assert KEY not in done.stdout


def test_config_show_refuses_an_invalid_setting_with_a_nonzero_exit(ecps: Ecps) -> None:
    """An out-of-range variable fails the command and names the setting."""
    done = ecps("config", "show", env={"ECPS_SECRET_KEY": KEY, "ECPS_PIN_LENGTH": "60"})
    assert done.returncode != 0
    assert "pin_length" in done.stderr + done.stdout
