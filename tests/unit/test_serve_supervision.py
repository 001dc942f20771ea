"""`ecps serve`'s worker processes: one that cannot build its app says why in one line and
stops the server (no restart loop), as `WorkerFailed`."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest
import uvicorn

from adapters import logs
from adapters.cli import serving
from adapters.cli.output import WorkerFailed


def test_a_worker_that_cannot_build_its_app_exits_as_a_startup_failure(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    """An unreachable database: exit code 3 and a log line naming the cause, no traceback."""
    options = serving.Serving("127.0.0.1", "postgresql://nobody@127.0.0.1:1/none", str(tmp_path),
                              None, "info", "plain", 2)
    monkeypatch.setenv(serving.OPTIONS_VARIABLE, options.to_env())
    try:
        with pytest.raises(SystemExit) as stopped:
            serving.worker_app()
    finally:
        for handler in logs._INSTALLED:
            logging.getLogger().removeHandler(handler)
    assert stopped.value.code == serving.STARTUP_FAILURE
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if "could not start" in line]
    assert lines  # (one per logging handler: an earlier test may have left one installed)
    assert all("StorageError" in line and "Connection refused" in line for line in lines)
    assert "Traceback" not in err


@pytest.mark.slow
def test_the_supervisor_stops_and_says_so_when_a_worker_cannot_start() -> None:
    """A worker exiting with the startup-failure code is not started again: `supervise`
    returns with `WorkerFailed` (the command turns it into one line and exit 23)."""
    config = uvicorn.Config("tests.unit.failing_app:factory", factory=True, workers=1,
                            host="127.0.0.1", port=0, log_level="warning", log_config=None)
    with socket.create_server(("127.0.0.1", 0)) as sock, \
            pytest.raises(WorkerFailed, match="could not start"):
        serving.supervise(config, sock)
