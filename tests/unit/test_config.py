"""Configuration: Settings from ECPS_* variables and TOML files, clear errors, a redacted view."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from workflow import Settings, config
from workflow.config import ConfigError

KEY = "config-test-key-" + "k" * 20


def test_environment_variables_set_every_kind_of_setting() -> None:
    """Integers, durations, booleans and text are read from their ECPS_ variables."""
    s = config.from_env({"ECPS_SECRET_KEY": KEY, "ECPS_PIN_LENGTH": "6",
                         "ECPS_SMS_CODE_VALIDITY": "4m30s", "ECPS_FLOW_VALIDITY": "2d",
                         "ECPS_RESEND_COOLDOWN": "90", "ECPS_CHECK_RPPS_LUHN": "off",
                         "ECPS_DEEP_LINK_BASE": "https://app.example.fr/ecps",
                         "ECPS_DATABASE_URL": "sqlite:///x.db"})
    assert s.secret_key == KEY
    assert s.pin_length == 6
    assert s.sms_code_validity == timedelta(minutes=4, seconds=30)
    assert s.flow_validity == timedelta(days=2)
    assert s.resend_cooldown == timedelta(seconds=90)
    assert s.check_rpps_luhn is False
    assert s.deep_link_base == "https://app.example.fr/ecps"
    assert s.max_resends == Settings(secret_key=KEY).max_resends


def test_every_bad_variable_is_named_at_once() -> None:
    """Three malformed variables give one error listing all three, each with its variable."""
    with pytest.raises(ConfigError) as caught:
        config.from_env({"ECPS_SECRET_KEY": KEY, "ECPS_PIN_LENGTH": "four",
                         "ECPS_SMS_CODE_VALIDITY": "5 minutes", "ECPS_CHECK_RPPS_LUHN": "maybe"})
    problems = caught.value.problems
    assert len(problems) == 3
    assert problems[0].startswith("ECPS_PIN_LENGTH='four': expected an integer")
    assert "ECPS_SMS_CODE_VALIDITY" in problems[1]
    assert "ECPS_CHECK_RPPS_LUHN" in problems[2]
    assert isinstance(caught.value, ValueError)


def test_out_of_range_values_name_their_source_and_rule() -> None:
    """A value the Settings refuse (SMS validity over 10 min) names the variable and the bound."""
    with pytest.raises(ConfigError, match=r"sms_code_validity: 11m is more than the maximum 10m"):
        config.from_env({"ECPS_SECRET_KEY": KEY, "ECPS_SMS_CODE_VALIDITY": "11m"})


def test_every_out_of_range_value_is_named_at_once(tmp_path: Path) -> None:
    """Values the Settings refuse are all reported in one error, each with its own source."""
    toml = tmp_path / "ecps.toml"
    toml.write_text("max_resends = 99\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        config.load(toml, environ={"ECPS_SECRET_KEY": "short", "ECPS_SMS_CODE_VALIDITY": "11m"})
    problems = caught.value.problems
    assert len(problems) == 3
    assert problems[0].startswith("ECPS_SECRET_KEY: secret_key must be")
    assert any(p.startswith("ECPS_SMS_CODE_VALIDITY: sms_code_validity: 11m is more") for p in problems)
    assert any(p.startswith(f"{toml}: max_resends: max_resends must be an integer") for p in problems)
    assert "short" not in str(caught.value)
    with pytest.raises(ValueError, match=r"invalid Settings: pin_length must .*; max_resends must"):
        Settings(secret_key=KEY, pin_length=3, max_resends=-1)


def test_a_missing_secret_key_says_how_to_give_one() -> None:
    """Without a key the error names ECPS_SECRET_KEY and ECPS_SECRET_KEY_FILE."""
    with pytest.raises(ConfigError, match="ECPS_SECRET_KEY or ECPS_SECRET_KEY_FILE"):
        config.from_env({})


def test_the_key_can_come_from_a_file_but_not_from_two_places(tmp_path: Path) -> None:
    """ECPS_SECRET_KEY_FILE is read (trailing newline dropped); giving both sources is refused."""
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    assert config.from_env({"ECPS_SECRET_KEY_FILE": str(key_file)}).secret_key == KEY
    with pytest.raises(ConfigError, match="both give the secret key"):
        config.from_env({"ECPS_SECRET_KEY_FILE": str(key_file), "ECPS_SECRET_KEY": KEY})
    with pytest.raises(ConfigError, match="cannot read the key file"):
        config.from_env({"ECPS_SECRET_KEY_FILE": str(tmp_path / "missing")})


def test_a_toml_file_is_read_and_the_environment_overrides_it(tmp_path: Path) -> None:
    """TOML values apply, ECPS_* variables win over them, explicit overrides win over both."""
    path = tmp_path / "ecps.toml"
    path.write_text(f'secret_key = "{KEY}"\npin_length = 5\nqr_token_validity = "30m"\n'
                    'check_rpps_luhn = false\nresend_cooldown = 120\n\n[webhook]\nurl = "x"\n')
    s = config.from_toml(path)
    assert (s.pin_length, s.qr_token_validity, s.check_rpps_luhn) == (5, timedelta(minutes=30), False)
    assert s.resend_cooldown == timedelta(minutes=2)
    merged = config.load(path, environ={"ECPS_PIN_LENGTH": "6"})
    assert (merged.pin_length, merged.qr_token_validity) == (6, timedelta(minutes=30))
    assert config.load(environ={"ECPS_CONFIG": str(path)}).pin_length == 5
    final = config.load(path, environ={"ECPS_PIN_LENGTH": "6"},
                        overrides={"pin_length": 8, "secret_key": "other-key-" + "o" * 10})
    assert (final.pin_length, final.secret_key) == (8, "other-key-" + "o" * 10)


def test_a_table_of_a_larger_file_can_hold_the_settings(tmp_path: Path) -> None:
    """`table="tool.ecps"` reads the settings from that table of a host's file."""
    path = tmp_path / "host.toml"
    path.write_text(f'name = "host"\n[tool.ecps]\nsecret_key = "{KEY}"\nmax_requests = 7\n')
    assert config.from_toml(path, table="tool.ecps").max_requests == 7


def test_toml_mistakes_are_named_with_the_file(tmp_path: Path) -> None:
    """An unknown key gets a suggestion; a wrong type and invalid TOML name the file."""
    path = tmp_path / "ecps.toml"
    path.write_text(f'secret_key = "{KEY}"\npin_lenght = 6\n')
    with pytest.raises(ConfigError, match=r"unknown setting 'pin_lenght' \(did you mean 'pin_length'\?\)"):
        config.from_toml(path)
    path.write_text(f'secret_key = "{KEY}"\npin_length = true\nflow_validity = 1.5\n')
    with pytest.raises(ConfigError) as caught:
        config.from_toml(path)
    assert len(caught.value.problems) == 2
    assert all(str(path) in p for p in caught.value.problems)
    path.write_text("pin_length = = 4\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.from_toml(path)
    with pytest.raises(ConfigError, match="cannot read the file"):
        config.from_toml(tmp_path / "absent.toml")


def test_describe_lists_every_setting_and_redacts_the_key() -> None:
    """Each Settings field appears once; the key never appears, only its length."""
    s = config.from_env({"ECPS_SECRET_KEY": KEY, "ECPS_SMS_CODE_VALIDITY": "4m"})
    rows = dict(config.describe(s))
    assert list(rows) == list(Settings.__dataclass_fields__)
    assert rows["secret_key"] == f"<redacted, {len(KEY)} bytes>"
    assert KEY not in " ".join(rows.values())
    assert (rows["sms_code_validity"], rows["flow_validity"], rows["check_rpps_luhn"]) == ("4m", "1d", "true")


def test_describe_round_trips_through_the_environment() -> None:
    """Feeding describe()'s values back as ECPS_* variables gives the same settings."""
    s = config.from_env({"ECPS_SECRET_KEY": KEY, "ECPS_PIN_STEP_VALIDITY": "7m", "ECPS_MAX_RESENDS": "2"})
    env = {f"ECPS_{k.upper()}": v for k, v in config.describe(s) if k != "secret_key"}
    assert config.from_env({**env, "ECPS_SECRET_KEY": KEY}) == s


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("5m", 300), ("1h30m", 5400),
                                               ("1d", 86400), (" 2H ", 7200), (45, 45)])
def test_durations_are_read_in_the_documented_forms(text: object, seconds: int) -> None:
    """Bare seconds and d/h/m/s units are accepted."""
    assert config.parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "5 minutes", "m", "-5m", "1.5h", True])
def test_malformed_durations_are_refused(text: object) -> None:
    """Anything else is a ValueError."""
    with pytest.raises(ValueError, match="duration"):
        config.parse_duration(text)


@pytest.mark.parametrize("text", ["99999999999999999999d", "9223372036854775807", 10**20])
def test_a_duration_past_what_a_timedelta_holds_is_refused(text: object) -> None:
    """Not an OverflowError: the ValueError that configuration reports, naming the source."""
    with pytest.raises(ValueError, match="the duration is far too long"):
        config.parse_duration(text)
    with pytest.raises(ConfigError, match=r"ECPS_FLOW_VALIDITY=.*the duration is far too long"):
        config.from_env({"ECPS_SECRET_KEY": "k" * 32, "ECPS_FLOW_VALIDITY": str(text)})


@pytest.mark.parametrize(("given", "message"), [
    ({"argon2_memory_kib": 8, "argon2_parallelism": 2}, "at least 8 per lane .* \\(16 for 2\\), not 8"),
    ({"argon2_memory_kib": 63, "argon2_parallelism": 8}, "\\(64 for 8\\), not 63"),
    ({"deep_link_base": "ecps://act/é"}, "deep_link_base must be a URI of printable ASCII"),
    ({"deep_link_base": "ecps://a\x00b"}, "deep_link_base must be a URI of printable ASCII"),
])
def test_settings_the_service_could_not_run_on_are_refused_when_made(
        given: dict[str, object], message: str) -> None:
    """argon2 needs 8 KiB per lane; a link base must come back intact from the phone."""
    with pytest.raises(ValueError, match=message):
        Settings(secret_key="k" * 32, **given)  # type: ignore[arg-type]
    assert Settings(secret_key="k" * 32, argon2_memory_kib=16, argon2_parallelism=2)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero and /dev/urandom")
def test_an_endless_file_given_as_configuration_or_key_is_refused() -> None:
    """A configuration or key file is read up to a bound: /dev/zero or /dev/urandom given by
    mistake is a configuration error at once, not a read that never ends."""
    with pytest.raises(ConfigError, match="larger than"):
        config.load(environ={"ECPS_CONFIG": "/dev/zero"})
    with pytest.raises(ConfigError, match="larger than"):
        config.load(environ={"ECPS_SECRET_KEY_FILE": "/dev/urandom"})
