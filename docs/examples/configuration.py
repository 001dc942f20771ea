"""Configure the engine from a TOML file and ECPS_* environment variables.

The file comes first, the environment overrides it; every problem is reported at once with
its source. `describe` is what `ecps config show` prints (the key redacted).
Run: python3 docs/examples/configuration.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from workflow import config

with tempfile.TemporaryDirectory() as folder:
    key_file = Path(folder) / "server.key"
    key_file.write_text("change-me-to-32-random-bytes-----\n")
    toml = Path(folder) / "ecps.toml"
    toml.write_text(
        f'secret_key_file = "{key_file}"   # or ECPS_SECRET_KEY / ECPS_SECRET_KEY_FILE\n'
        'pin_length = 6\n'
        'sms_code_validity = "3m"          # durations: 90, "90s", "5m", "1h30m", "1d"\n'
        'check_rpps_luhn = true\n'
    )
    settings = config.load(toml, environ={"ECPS_MAX_RESENDS": "2"})
    for name, value in config.describe(settings)[:6]:
        print(f"{name:20} {value}")
    assert (settings.pin_length, settings.max_resends) == (6, 2)

    try:
        config.load(toml, environ={"ECPS_PIN_LENGTH": "six", "ECPS_FLOW_VALIDITY": "forever"})
    except config.ConfigError as refused:
        print(refused)  # both problems, each with its variable
        problems = refused.problems
    assert len(problems) == 2
