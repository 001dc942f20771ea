"""`ecps login start|pending|approve|deny|poll` over the embedded defaults (in this process)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.e2e.conftest import Ecps
from tests.e2e.test_cli import NID, advance, run_main, service
from workflow import State


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    assert run_main(*args, "--json") == 0
    data: dict[str, object] = json.loads(capsys.readouterr().out)
    return data


def test_a_login_runs_through_the_commands(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Start, dispatch (a push file), pending, a wrong PIN (exit 11), approve, poll once, poll again (8)."""
    state_dir = workdir / ".ecps"
    svc = service(state_dir)
    aid = advance(svc, state_dir, State.PIN_SET)
    svc.confirm_pin(aid, "4821")
    started = _json(capsys, "login", "start", NID, "--binding-message", "K2-9Q")
    lid = str(started["login_id"])
    assert run_main("dispatch") == 0
    capsys.readouterr()
    (push_file,) = (state_dir / "push").glob("push-*.json")
    pushed = json.loads(push_file.read_text())["message"]["data"]
    assert pushed["login_id"] == lid
    assert NID not in push_file.read_text()
    pending = _json(capsys, "login", "pending", aid)["pending"]
    assert isinstance(pending, list)
    assert [p["binding_message"] for p in pending] == ["K2-9Q"]
    assert run_main("login", "approve", lid, "1111") == 11
    capsys.readouterr()
    assert _json(capsys, "login", "approve", lid, "4821")["state"] == "approved"
    result = _json(capsys, "login", "poll", lid)
    assert result["state"] == "completed"
    claims = jwt.decode(str(result["assertion"]), KeySet.import_key_set(svc.jwks())).claims
    assert claims["jti"] == lid
    assert run_main("login", "poll", lid) == 8
    capsys.readouterr()
    verified = _json(capsys, "audit", "verify")
    assert (verified["logins"], verified["intact"]) == (1, True)


def test_a_denied_login_polls_as_denied(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`ecps login deny` ends the login; the portal's poll reads `denied`, with no assertion."""
    state_dir = workdir / ".ecps"
    svc = service(state_dir)
    aid = advance(svc, state_dir, State.PIN_SET)
    svc.confirm_pin(aid, "4821")
    lid = str(_json(capsys, "login", "start", NID)["login_id"])
    assert _json(capsys, "login", "deny", lid)["state"] == "denied"
    result = _json(capsys, "login", "poll", lid)
    assert (result["state"], result["assertion"]) == ("denied", None)


def test_a_login_edited_in_sql_is_one_error_line(workdir: Path, ecps_here: Ecps,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """`login poll` and `login pending` on a login changed in the database: a storage error
    (exit 17) in one line, the login named, nothing else on stderr."""
    state_dir = workdir / ".ecps"
    svc = service(state_dir)
    aid = advance(svc, state_dir, State.PIN_SET)
    svc.confirm_pin(aid, "4821")
    lid = str(_json(capsys, "login", "start", NID)["login_id"])
    with sqlite3.connect(state_dir / "ecps.sqlite3") as db:
        db.execute("UPDATE ecps_login SET binding_message = 'ZZ-99' WHERE id = ?", (lid,))
    for args in (("login", "poll", lid), ("login", "pending", aid)):
        done = ecps_here(*args)
        assert done.returncode == 17, done.stderr
        [line] = done.stderr.strip().splitlines()
        assert "changed outside the service" in line
