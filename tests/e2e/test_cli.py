"""`ecps` end to end: the demo, a whole flow from the shell, and every error's exit code."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import pytest

from adapters import files
from adapters.bootstrap import build_service
from adapters.cli import main
from adapters.cli.ops import DiagramFormat
from adapters.kinds import all_kinds
from tests.e2e.conftest import Ecps, cli_env
from workflow import ActivationService, State
from workflow.diagrams import FORMATS
from workflow.errors import (
    AdapterError,
    ConcurrencyConflict,
    DefinitionError,
    DeliveryFailed,
    WorkflowError,
)

NID = "899700366240"
# error kinds `test_every_error_kind_reachable_from_the_shell_exits_with_its_code` also runs as processes
AS_PROCESS = frozenset({"usage", "invalid_identifier", "locked", "storage_error", "failed"})


def run_main(*args: str) -> int:
    """Run `ecps ARGS...` in this process; its exit code."""
    with pytest.raises(SystemExit) as done:
        main(list(args))
    return int(done.value.code or 0)


def service(state_dir: Path) -> ActivationService:
    """The service `ecps --state-dir STATE_DIR` uses (same key, database, files)."""
    return build_service(state_dir=state_dir)


def advance(svc: ActivationService, state_dir: Path, to: State, nid: str = NID) -> str:
    """A new activation taken along the main path up to `to`; its id."""
    aid = svc.request(nid, device_id="test").activation_id
    svc.dispatch()
    if to == State.EMAILED:
        return aid
    eml = files.latest_eml(state_dir / "mail")
    assert eml is not None
    payload = files.qr_payload(files.read_eml(eml))
    svc.scan(aid, payload)
    svc.dispatch()
    if to == State.SCANNED:
        return aid
    svc.verify_sms(aid, files.read_sms_codes(state_dir / "sms.txt")[-1])
    if to == State.SMS_VERIFIED:
        return aid
    svc.set_pin(aid, "4821")
    return aid


def test_demo_runs_one_whole_activation_and_ends_with_its_diagram(ecps: Ecps, workdir: Path) -> None:
    """`ecps demo` with no setup activates an e-CPS, prints each transition and the diagram path."""
    done = ecps("demo")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for state in ("requested", "emailed", "scanned", "sms_verified", "pin_set", "active"):
        assert state in out
    assert "ja****@domain.fr" in out
    assert "06****78" in out
    assert "jane.doe@domain.fr" not in out
    assert ".eml" in out
    assert "authenticated" in out
    assert "push to the phone" in out
    assert "A7-3F" in out
    assert "signed assertion verified against the JWKS" in out
    assert any((workdir / ".ecps" / "push").glob("push-*.json"))
    diagram = workdir / ".ecps" / "diagrams" / "demo-activation.svg"
    assert str(diagram.relative_to(workdir)) in out
    assert diagram.read_text().lstrip().startswith(("<?xml", "<svg"))
    key = workdir / ".ecps" / "server.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_demo_can_run_again_past_the_request_rate_limit(workdir: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Six demos in one state folder all succeed: each run starts from an empty demo database."""
    for _ in range(6):
        assert run_main("demo", "--json") == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["state"] == "active"
        assert [t["event"] for t in summary["transitions"]][:2] == ["request", "email_sent"]
        assert Path(summary["files"]["email"]).is_file()


def test_demo_on_a_given_database_says_when_the_rate_limit_is_reached(
        workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With --database the demo keeps its data; the sixth run in 24 h explains the limit."""
    url = f"sqlite:///{workdir / 'kept.sqlite3'}"
    for _ in range(5):
        assert run_main("demo", "--database", url, "--json") == 0
    capsys.readouterr()
    assert run_main("demo", "--database", url) == 13
    err = capsys.readouterr().err
    assert "rate limit" in err
    assert "fresh --state-dir" in err


def test_a_whole_activation_from_the_shell(ecps: Ecps, workdir: Path) -> None:
    """request --send, scan --eml, dispatch, verify-sms, PINs on stdin, login: each step a command."""
    started = ecps("request", NID, "--send", "--json")
    assert started.returncode == 0, started.stderr
    aid = json.loads(started.stdout)["started"]["activation_id"]
    eml = files.latest_eml(workdir / ".ecps" / "mail")
    assert eml is not None
    assert ecps("scan", "--eml", str(eml)).returncode == 0
    assert ecps("dispatch").returncode == 0
    assert ecps("verify-sms", "--", aid).returncode == 0  # reads the code from .ecps/sms.txt
    assert ecps("set-pin", "--", aid, input="4821\n").returncode == 0
    assert ecps("confirm-pin", "--", aid, input="4821\n").returncode == 0
    login = ecps("authenticate", "--json", "--", aid, input="4821\n")
    assert json.loads(login.stdout) == {"activation_id": aid, "authenticated": True}
    status = json.loads(ecps("status", "--json", "--", aid).stdout)
    assert status["state"] == "active"
    assert [s["dest"] for s in status["history"]] == [
        "requested", "emailed", "scanned", "sms_verified", "pin_set", "active", "active"]
    assert "4821" not in json.dumps(status)
    audit = ecps("audit", "verify", "--json")
    assert audit.returncode == 0
    assert json.loads(audit.stdout)["tampered"] == {}


def _tamper(database: Path) -> None:
    with sqlite3.connect(database) as db:
        db.execute("UPDATE ecps_audit SET reason = 'nothing to see' WHERE n = "
                   "(SELECT MIN(n) FROM ecps_audit)")


def test_every_error_kind_reachable_from_the_shell_exits_with_its_code(
        workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Each refusal prints one line on stderr and exits with the code of its kind (a few kinds from
    `ecps` processes, the others from `main()` in this process)."""
    cases: dict[str, tuple[int, list[str], dict[str, str]]] = {}

    def case(name: str, code: int, args: list[str], **env: str) -> None:
        cases[name] = (code, ["--state-dir", name, *args], env)

    def ready(name: str, to: State) -> str:
        return advance(service(workdir / name), workdir / name, to)

    case("usage", 2, ["status"])
    case("invalid_input", 3, ["verify-sms", "--", ready("invalid_input", State.SCANNED), "12ab56"])
    case("invalid_identifier", 4, ["request", "12345"])
    case("weak_pin", 5, ["set-pin", "--", ready("weak_pin", State.SMS_VERIFIED), "1111"])
    case("not_eligible", 6, ["request", "810000090125"])
    service(workdir / "not_found")  # a state folder with its key: status reads, never makes one
    case("not_found", 7, ["status", "no-such-activation"])
    case("not_allowed", 8, ["set-pin", "--", ready("not_allowed", State.EMAILED), "4821"])
    os.environ["ECPS_QR_TOKEN_VALIDITY"] = "1"
    try:
        short_lived = ready("expired", State.EMAILED)
    finally:
        del os.environ["ECPS_QR_TOKEN_VALIDITY"]
    case("expired", 9, ["cancel", "--", short_lived])
    scanned = ready("locked", State.SCANNED)
    wrong = "000000" if files.read_sms_codes(workdir / "locked" / "sms.txt")[-1] != "000000" \
        else "111111"
    case("locked", 10, ["verify-sms", "--", scanned, wrong], ECPS_MAX_SMS_ATTEMPTS="1")
    case("verification_failed", 11, ["verify-sms", "--", ready("verification_failed", State.SCANNED),
                                     wrong if wrong not in files.read_sms_codes(
                                         workdir / "verification_failed" / "sms.txt") else "222222"])
    case("pin_mismatch", 12, ["confirm-pin", "--", ready("pin_mismatch", State.PIN_SET), "4822"])
    case("too_many_requests", 13, ["resend-email", "--", ready("too_many_requests", State.EMAILED)])
    case("directory_unavailable", 16, ["request", NID], ECPS_DIRECTORY=str(workdir / "none.json"))
    service(workdir / "storage_error")
    case("storage_error", 17, ["list", "--database", f"sqlite:///{workdir}/no/such/folder/x.db"])
    tampered = ready("failed", State.EMAILED)
    _tamper(workdir / "failed" / "ecps.sqlite3")
    case("failed", 1, ["audit", "verify", "--", tampered])
    time.sleep(1.05)  # the short-lived activation's QR token is now over

    running = {name: subprocess.Popen(
        [sys.executable, "-m", "adapters.cli", *args], cwd=workdir, env=cli_env(**env),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name, (_, args, env) in cases.items() if name in AS_PROCESS}
    outcomes: dict[str, tuple[int, str, str]] = {}
    for name, (_, args, env) in cases.items():
        if name in AS_PROCESS:
            continue
        capsys.readouterr()
        with monkeypatch.context() as patched:
            for key, value in env.items():
                patched.setenv(key, value)
            code = run_main(*args)
        outcomes[name] = (code, *capsys.readouterr())
    for name, proc in running.items():
        out, err = proc.communicate(timeout=120)
        outcomes[name] = (proc.returncode, out, err)
    for name, (code, out, err) in outcomes.items():
        expected = cases[name][0]
        assert code == expected, f"{name}: exit {code}\n{out}\n{err}"
        if name != "failed":
            lines = err.strip().splitlines()
            assert len(lines) == 1, f"{name}: {err!r}"
            assert lines[0].startswith("error: "), f"{name}: {err!r}"
            assert f"[{name}, exit {expected}]" in lines[0]
    codes = {k.name: k.exit_code for k in all_kinds()}
    assert {name: codes[name] for name in cases} == {n: c for n, (c, _, _) in cases.items()}


@pytest.mark.parametrize(("error", "kind"), [
    (ConcurrencyConflict("activation x changed meanwhile"), "conflict"),
    (DeliveryFailed("the SMS gateway refused", transient=False), "delivery_failed"),
    (AdapterError("the outside world failed"), "adapter_error"),
    (DefinitionError("two targets for one outcome"), "definition_error"),
    (WorkflowError("some other refusal"), "workflow_error"),
])
def test_errors_the_shell_cannot_provoke_exit_with_their_code(
        workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        error: WorkflowError, kind: str) -> None:
    """Races and adapter failures get their own exit code and a one-line message too."""
    from adapters.cli.context import Env

    class Failing:
        def status(self, _: str) -> None:
            raise error

    monkeypatch.setattr(Env, "service", lambda self: Failing())
    expected = next(k.exit_code for k in all_kinds() if k.name == kind)
    assert run_main("status", "some-id") == expected
    assert capsys.readouterr().err.strip() == f"error: {error} [{kind}, exit {expected}]"
    assert run_main("status", "some-id", "--json") == expected
    body = json.loads(capsys.readouterr().out)
    assert body["error"]["kind"] == kind
    assert body["error"]["exit_code"] == expected


def test_scan_decodes_the_qr_png_and_status_shows_attempts_left(
        workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`scan --png` reads the QR image the mailer wrote; a wrong code leaves 4 attempts."""
    state_dir = workdir / ".ecps"
    aid = advance(service(state_dir), state_dir, State.EMAILED)
    png = next((state_dir / "mail").glob("*.png"))
    assert run_main("scan", "--png", str(png)) == 0
    assert run_main("dispatch") == 0
    code = files.read_sms_codes(state_dir / "sms.txt")[-1]
    assert run_main("verify-sms", "--", aid, "999999" if code != "999999" else "888888") == 11
    capsys.readouterr()
    assert run_main("status", "--json", "--", aid) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["state"], status["attempts_left"]) == ("scanned", 4)


def test_dispatch_loop_stops_after_its_duration_and_reports(ecps: Ecps) -> None:
    """`dispatch --loop --duration` delivers pending messages round after round, then stops."""
    assert ecps("request", NID).returncode == 0
    done = ecps("dispatch", "--loop", "--interval", "0.1", "--duration", "0.5", "--json")
    assert done.returncode == 0, done.stderr
    totals = json.loads(done.stdout)
    assert totals["sent"] == 1
    assert totals["rounds"] >= 2


def test_check_diagram_and_help(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`check` proves both shipped definitions, `diagram` writes their files, `--help` lists exit codes."""
    assert run_main("check") == 0
    proved = capsys.readouterr().out
    assert "'ecps-activation'" in proved
    assert "'ecps-login'" in proved
    assert proved.count("all 10 properties hold") == 2
    assert run_main("check", "--definition", "tests.e2e.broken_definition:SHORTCUT") == 1
    assert "counter-example" in capsys.readouterr().out
    assert run_main("diagram", "--format", "mermaid", "--out", "d") == 0
    assert "stateDiagram-v2" in (workdir / "d" / "activation.mmd").read_text()
    assert "notified --> approved" in (workdir / "d" / "login.mmd").read_text()
    capsys.readouterr()
    assert run_main("diagram", "--format", "jpeg") == 2  # usage, naming the formats it takes
    refused = " ".join(capsys.readouterr().err.split())
    assert "'jpeg' is not one of 'dot', 'svg', 'png', 'mermaid', 'scxml', 'all'" in refused
    assert {f.value for f in DiagramFormat} == {*FORMATS, "all"}
    assert run_main("--help") == 0
    text = capsys.readouterr().out
    assert "ecps demo" in text
    for kind in all_kinds():
        assert kind.name in text


def test_interactive_demo_asks_as_the_app_does(ecps: Ecps) -> None:
    """`demo --interactive` asks the identifier, confirmation, scan, code and PINs; a weak PIN is refused."""
    answers = "\n".join([NID, "y", "", "", "1234", "4821", "4821", "4821", "4821"]) + "\n"
    done = ecps("demo", "--interactive", input=answers)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "are these your contacts?" in out
    assert "█" in out  # the QR code drawn in the terminal
    assert "ascending or descending run" in out
    assert "ACTIVE" in out
    assert "verified against the JWKS" in out  # the push login approved with the typed PIN


def test_demo_without_graphviz_ends_with_the_mermaid_diagram(
        workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Without `dot` the demo still ends with its path diagram, as Mermaid text and file."""
    import workflow.diagrams

    monkeypatch.setattr(workflow.diagrams, "dot_available", lambda: False)
    assert run_main("demo") == 0
    out = capsys.readouterr().out
    diagram = workdir / ".ecps" / "diagrams" / "demo-activation.mmd"
    assert str(diagram.relative_to(workdir)) in out
    assert "stateDiagram-v2" in out
    assert "stateDiagram-v2" in diagram.read_text()


def _huge_png_header() -> bytes:
    """A PNG that claims 30,000 x 30,000 pixels (a decompression bomb), with no pixel data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 30_000, 30_000, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


@pytest.mark.parametrize("option", ["--png", "--eml"])
@pytest.mark.parametrize(("make", "why"), [
    (lambda p: Path("/dev/zero"), "it is not a regular file"),
    (lambda p: (os.mkfifo(p), p)[1], "it is not a regular file"),  # never waited on
    (lambda p: (p.write_bytes(b""), os.truncate(p, 17 * 2**20), p)[2], "it holds more than 16 MiB"),
])
def test_scan_reads_only_a_regular_file_of_bounded_size(
        workdir: Path, capsys: pytest.CaptureFixture[str], option: str,
        make: Callable[[Path], Path], why: str) -> None:
    path = make(workdir / "camera")
    assert run_main("scan", option, str(path)) == 3
    assert capsys.readouterr().err.splitlines() == [
        f"error: cannot read {path}: {why} [invalid_input, exit 3]"]
    assert run_main("scan", option, str(path), "--json") == 3
    assert json.loads(capsys.readouterr().out)["error"]["kind"] == "invalid_input"


def test_scan_refuses_an_image_too_large_to_decode(
        workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bomb = workdir / "bomb.png"
    bomb.write_bytes(_huge_png_header())
    assert run_main("scan", "--png", str(bomb)) == 3
    assert capsys.readouterr().err.splitlines() == [
        "error: the file is not a readable image [invalid_input, exit 3]"]
    message = EmailMessage()
    message.set_content("the e-mail")
    message.add_attachment(bomb.read_bytes(), maintype="image", subtype="png")
    (workdir / "bomb.eml").write_bytes(message.as_bytes())
    assert run_main("scan", "--eml", str(workdir / "bomb.eml")) == 3
    assert capsys.readouterr().err.splitlines() == [
        f"error: {workdir / 'bomb.eml'} holds no QR code image [invalid_input, exit 3]"]
