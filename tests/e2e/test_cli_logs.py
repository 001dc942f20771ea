"""Every `ecps` command's log lines pass the redacting filter, not only the server's."""

from __future__ import annotations

import logging

import pytest

from adapters.cli.app import _one_line_logs


def test_a_warning_logged_under_any_command_is_masked(capsys: pytest.CaptureFixture[str]) -> None:
    """A warning quoting a code, an e-mail and an identifier reaches stderr masked, on one line."""
    _one_line_logs()
    logging.getLogger("ecps.test").warning("code 482913 for jane.doe@domain.fr (899700366240)")
    err = capsys.readouterr().err
    assert err.startswith("warning: ")
    assert err.count("\n") == 1
    for secret in ("482913", "jane.doe@domain.fr", "899700366240"):
        assert secret not in err
