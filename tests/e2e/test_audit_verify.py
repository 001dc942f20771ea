"""`ecps audit verify` from the shell: a row edited in SQL is named, not trusted."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

from adapters import files
from tests.e2e.conftest import Ecps
from tests.e2e.test_cli import NID, advance, service
from workflow import State
from workflow.errors import WorkflowError


def test_a_locked_row_set_back_to_scanned_in_sql_is_named(ecps_here: Ecps, workdir: Path) -> None:
    """UPDATE ... SET state='scanned', sms_attempts=0 on a locked activation fails verification."""
    state = workdir / ".ecps"
    svc = service(state)
    aid = advance(svc, state, State.SCANNED, NID)
    right = files.read_sms_codes(state / "sms.txt")[-1]
    for _ in range(svc.settings.max_sms_attempts):
        with contextlib.suppress(WorkflowError):
            svc.verify_sms(aid, "000000" if right != "000000" else "111111")
    assert svc.status(aid).state == State.LOCKED
    assert ecps_here("audit", "verify", "--json").returncode == 0
    with sqlite3.connect(state / "ecps.sqlite3") as db:
        db.execute("UPDATE ecps_activation SET state='scanned', sms_attempts=0 WHERE id=?", (aid,))
    done = ecps_here("audit", "verify", "--json")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["tampered"] == {aid: ["the row says scanned, its trail says locked",
                                        "the row does not match its seal: a field was changed "
                                        "outside the service"]}
    assert report["verified"] == 1
    alone = ecps_here("audit", "verify", aid, "--json")  # the one row: explained, not refused
    assert alone.returncode == 1, alone.stderr
    assert json.loads(alone.stdout)["tampered"] == report["tampered"]
    text = ecps_here("audit", "verify")
    assert f"tampered {aid}: the row says scanned, its trail says locked" in text.stdout
    assert "a setting changed since their events were recorded shows here too" in text.stderr
    refused = ecps_here("--json", "verify-sms", "--", aid, right)
    assert refused.returncode == 17
    assert json.loads(refused.stdout)["error"]["kind"] == "storage_error"
    assert refused.stderr == ""  # the one JSON object says it all
    other = advance(svc, state, State.SCANNED, "810100000008")
    listed = ecps_here("list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {r["activation_id"]: r for r in json.loads(listed.stdout)}
    assert rows[aid]["error"]["kind"] == "storage_error"
    assert rows[other]["state"] == "scanned"
    assert "damaged" in ecps_here("list").stdout


def test_a_checkpoint_kept_elsewhere_shows_a_deleted_activation(ecps_here: Ecps, workdir: Path) -> None:
    """`audit checkpoint -o FILE`, then deleting an activation and its trail in SQL, fails the verify."""
    state = workdir / ".ecps"
    svc = service(state)
    gone = advance(svc, state, State.SCANNED, NID)
    database = state / "ecps.sqlite3"
    made = ecps_here("audit", "checkpoint", "--margin", "0", "-o", "ck.json", "--json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["activations"] == 1
    assert ecps_here("audit", "verify", "--since-checkpoint", "ck.json").returncode == 0
    with sqlite3.connect(database) as db:
        db.execute("DELETE FROM ecps_audit WHERE activation_id = ?", (gone,))
        db.execute("DELETE FROM ecps_outbox WHERE activation_id = ?", (gone,))
        db.execute("DELETE FROM ecps_activation WHERE id = ?", (gone,))
    plain = ecps_here("audit", "verify", "--json")
    assert json.loads(plain.stdout)["verified"] == 0  # without the checkpoint, nothing looks wrong
    done = ecps_here("audit", "verify", "--since-checkpoint", "ck.json", "--json")
    assert done.returncode == 1
    assert json.loads(done.stdout)["since_checkpoint"][0].startswith("1 activation(s) recorded before")
    told = ecps_here("audit", "verify", "--since-checkpoint", "ck.json")
    assert "checkpoint: 1 activation(s) recorded before" in " ".join(told.stdout.split())


def test_off_a_terminal_verify_writes_no_progress_and_an_error_in_one_line(
        ecps: Ecps, workdir: Path) -> None:
    """The progress bar is a terminal's: piped, stderr holds nothing on success and the one
    error line on failure (no blank line before it)."""
    state = workdir / ".ecps"
    advance(service(state), state, State.EMAILED, NID)
    done = ecps("audit", "verify")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    broken = workdir / "broken.sqlite3"
    broken.write_bytes(b"not a database" * 100)
    failed = ecps("audit", "verify", "--database", f"sqlite:///{broken}")
    assert failed.returncode == 17
    assert len(failed.stderr.splitlines()) == 1, failed.stderr
    assert failed.stderr.startswith("error: ")


def test_a_seal_removed_in_sql_is_named_and_db_upgrade_seals_only_what_the_trail_vouches_for(
        ecps_here: Ecps, workdir: Path) -> None:
    """A row's seal set to '' in SQL: verify names it and the service refuses it; `ecps db
    upgrade` without the key seals nothing (and makes no key), with it seals the row its trail
    vouches for, after which verify is intact."""
    state = workdir / ".ecps"
    svc = service(state)
    aid = advance(svc, state, State.SCANNED, NID)
    with sqlite3.connect(state / "ecps.sqlite3") as db:
        db.execute("UPDATE ecps_activation SET seal = '' WHERE id = ?", (aid,))
    done = ecps_here("audit", "verify", "--json")
    assert done.returncode == 1
    assert json.loads(done.stdout)["tampered"][aid][0].startswith("the row has no seal")
    refused = ecps_here("--json", "resend-sms", "--", aid)
    assert json.loads(refused.stdout or refused.stderr)["error"]["kind"] == "storage_error"
    keyless = ecps_here("db", "upgrade", "--state-dir", str(workdir / "elsewhere"),
                        "--database", f"sqlite:///{state / 'ecps.sqlite3'}", "--json")
    assert (keyless.returncode, json.loads(keyless.stdout)["sealed"]) == (0, 0)
    assert json.loads(keyless.stdout)["key"] is False
    assert not any((workdir / "elsewhere").glob("*key*"))
    sealed = ecps_here("db", "upgrade", "--json")
    assert json.loads(sealed.stdout)["sealed"] == 1
    assert ecps_here("audit", "verify", "--json").returncode == 0
    assert ecps_here("db", "upgrade", "--json").returncode == 0


def test_a_damaged_row_is_named_and_the_other_findings_still_reported(
        ecps_here: Ecps, workdir: Path) -> None:
    """An unreadable state on one row, a non-number in another's audit event: verify names both
    (exit 1) instead of stopping at the first; commands on them are one-line storage errors."""
    state = workdir / ".ecps"
    svc = service(state)
    first = advance(svc, state, State.SCANNED, NID)
    second = advance(svc, state, State.EMAILED, "810100000008")
    with sqlite3.connect(state / "ecps.sqlite3") as db:
        db.execute("UPDATE ecps_activation SET state = 'bogus' WHERE id = ?", (first,))
        db.execute("UPDATE ecps_audit SET step = 'x' WHERE activation_id = ? AND seq = 1", (second,))
    done = ecps_here("audit", "verify", "--json")
    assert done.returncode == 1, done.stderr
    tampered = json.loads(done.stdout)["tampered"]
    assert set(tampered) == {first, second}
    assert tampered[first][0].startswith("its row cannot be read")
    assert tampered[second][0].startswith("its audit trail cannot be read")
    for aid in (first, second):
        refused = ecps_here("status", aid)
        assert refused.returncode == 17, refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
