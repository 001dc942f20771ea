"""The step-by-step commands leave no trap for a newcomer: each test is one that used to bite."""

from __future__ import annotations

import json
import re
import socket
import sqlite3
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path

import pytest

from adapters import files
from tests.e2e.conftest import Ecps, cli_env
from tests.e2e.test_cli import NID, advance, service
from workflow import State

NID2 = "810100000008"


def wrong_code(state_dir: Path) -> str:
    """A well-formed SMS code that is not the last one sent."""
    return "000000" if files.read_sms_codes(state_dir / "sms.txt")[-1] != "000000" else "111111"


def test_verify_sms_without_a_code_reads_this_activations_sms_only(ecps_here: Ecps, workdir: Path) -> None:
    """With another person's SMS last in the file, `verify-sms ID` still submits ID's own code."""
    state_dir = workdir / ".ecps"
    svc = service(state_dir)
    mine = advance(svc, state_dir, State.SCANNED)
    advance(svc, state_dir, State.SCANNED, nid=NID2)  # the last SMS of the file is Paul's
    done = ecps_here("verify-sms", "--json", "--", mine)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["state"] == "sms_verified"
    assert svc.status(mine).counters["sms_attempts"] == 0  # no attempt spent on a wrong code


def test_list_never_cuts_an_activation_id(ecps_here: Ecps, workdir: Path) -> None:
    """On a narrow terminal the id is printed whole, so it can be copied."""
    aid = advance(service(workdir / ".ecps"), workdir / ".ecps", State.EMAILED)
    done = ecps_here("list", env={"COLUMNS": "40"})
    assert done.returncode == 0, done.stderr
    assert aid in done.stdout


def test_request_send_names_the_email_file_and_the_state_it_reached(ecps_here: Ecps, workdir: Path) -> None:
    """`request --send` prints the `.eml` it wrote and the state after delivery, `emailed`."""
    done = ecps_here("request", NID, "--send")
    assert done.returncode == 0, done.stderr
    eml = files.latest_eml(workdir / ".ecps" / "mail")
    assert eml is not None
    assert str(eml) in done.stdout.replace("\n", "")
    assert "emailed" in done.stdout
    body = json.loads(ecps_here("request", NID2, "--send", "--json").stdout)
    assert body["state"] == "emailed"
    assert Path(body["email_file"]).is_file()


def test_text_errors_show_the_attempts_left_and_the_next_step(ecps_here: Ecps, workdir: Path) -> None:
    """A wrong SMS code says how many attempts are left; a PIN mismatch says to choose it again."""
    state_dir = workdir / ".ecps"
    svc = service(state_dir)
    scanned = advance(svc, state_dir, State.SCANNED)
    done = ecps_here("verify-sms", "--", scanned, wrong_code(state_dir))
    assert done.returncode == 11
    assert "4 attempts left" in done.stderr
    pin_set = advance(svc, state_dir, State.PIN_SET, nid=NID2)
    done = ecps_here("confirm-pin", "--", pin_set, "4822")
    assert done.returncode == 12
    aid = f"-- {pin_set}" if pin_set.startswith("-") else pin_set
    assert f"choose the PIN again: `ecps set-pin {aid}`, then `ecps confirm-pin {aid}`" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_step_hints_name_the_activation(ecps_here: Ecps, workdir: Path) -> None:
    """After verify-sms and set-pin, the next command is printed with the activation's id."""
    state_dir = workdir / ".ecps"
    scanned = advance(service(state_dir), state_dir, State.SCANNED)
    aid = f"-- {scanned}" if scanned.startswith("-") else scanned
    done = ecps_here("verify-sms", "--", scanned)
    assert done.returncode == 0, done.stderr
    assert f"next: `ecps set-pin {aid}`" in done.stderr
    done = ecps_here("set-pin", "--", scanned, "4821")
    assert done.returncode == 0, done.stderr
    assert f"next: `ecps confirm-pin {aid}`" in done.stderr


def test_status_history_shows_each_steps_outcome(ecps_here: Ecps, workdir: Path) -> None:
    """A failed login and a successful one read differently in the history, text and JSON; a
    refused call, which takes no step, shifts no outcome."""
    state_dir = workdir / ".ecps"
    svc = service(state_dir)
    aid = advance(svc, state_dir, State.PIN_SET)
    svc.confirm_pin(aid, "4821")
    assert ecps_here("verify-sms", "--", aid, "123456").returncode == 8  # refused: takes no step
    assert ecps_here("authenticate", "--", aid, "1357").returncode == 11
    assert ecps_here("authenticate", "--", aid, "4821").returncode == 0
    history = json.loads(ecps_here("status", "--json", "--", aid).stdout)["history"]
    assert [(h["event"], h["outcome"]) for h in history[-2:]] == [
        ("authenticate", "wrong: wrong PIN"), ("authenticate", "ok")]
    assert "?" not in {h["outcome"] for h in history}
    text = ecps_here("status", "--", aid).stdout
    assert "wrong: wrong PIN" in text


def test_interactive_demo_asks_again_after_a_bad_paste(ecps: Ecps) -> None:
    """A wrongly pasted link is told and asked again; Enter then scans the real QR code."""
    answers = "\n".join([NID, "y", "ecps://activation?a=nope", "", "", "4821", "4821", "4821", "4821"])
    done = ecps("demo", "--interactive", input=answers + "\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "not an e-CPS activation link" in done.stdout
    assert "ACTIVE" in done.stdout


def test_usage_errors_honour_json(ecps: Ecps) -> None:
    """With --json a usage error is one JSON object naming the kind, exit 2, no box."""
    for args in (("--json", "no-such-command"), ("status", "--json")):
        done = ecps(*args)
        assert done.returncode == 2
        assert json.loads(done.stdout)["error"]["kind"] == "usage"
        assert "╭" not in done.stdout + done.stderr


def test_serve_refuses_more_worker_processes_than_it_can_run(ecps: Ecps) -> None:
    """--workers beyond its bound is a usage error before any process starts."""
    for many in ("65", "99999999999999999999"):
        done = ecps("--json", "serve", "--port", "0", "--workers", many)
        assert done.returncode == 2, done.stderr
        assert json.loads(done.stdout)["error"]["kind"] == "usage"
        assert "less than or equal to 64" in json.loads(done.stdout)["error"]["message"]


def test_shell_completion_is_installable(ecps: Ecps, workdir: Path) -> None:
    """`--install-completion` is offered, and `--show-completion` run from bash prints bash's
    script (the shell is found among the command's parent processes, so bash stays one here:
    `; exit` keeps it from replacing itself with the command)."""
    assert "--install-completion" in ecps("--help").stdout
    done = subprocess.run(["bash", "-c", '"$@"; exit $?', "bash", sys.executable, "-m", "adapters.cli",
                           "--show-completion"], cwd=workdir, env=cli_env(), capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "_ecps_completion" in done.stdout


def test_read_only_commands_never_make_a_server_key(ecps_here: Ecps, workdir: Path) -> None:
    """status, list and audit verify in an empty folder say the key is missing and create nothing."""
    for args in (("status", "some-id"), ("list",), ("audit", "verify"), ("config", "show")):
        done = ecps_here(*args)
        if args[0] != "config":
            assert done.returncode == 21, done.stderr
            assert done.stderr.startswith("error: invalid configuration: no server key in ")
            assert len(done.stderr.strip().splitlines()) == 1
    assert not (workdir / ".ecps").exists()


def test_audit_verify_with_the_wrong_key_says_so(ecps_here: Ecps, workdir: Path) -> None:
    """Another folder's key is reported once as the wrong key, not as every event tampered."""
    state_dir = workdir / ".ecps"
    advance(service(state_dir), state_dir, State.EMAILED)
    service(workdir / "other")  # a folder with a key of its own
    url = f"sqlite:///{state_dir / 'ecps.sqlite3'}"
    done = ecps_here("audit", "verify", "--database", url, "--state-dir", "other")
    assert done.returncode == 21
    assert "matches this server key" in done.stderr
    assert "tampered" not in done.stdout
    assert ecps_here("audit", "verify").returncode == 0


def test_every_command_with_the_wrong_key_says_so(ecps_here: Ecps, workdir: Path) -> None:
    """status, a step and list over a database of another key name the key, in one line."""
    state_dir = workdir / ".ecps"
    aid = advance(service(state_dir), state_dir, State.EMAILED)
    service(workdir / "other")  # a folder with a key of its own
    url = f"sqlite:///{state_dir / 'ecps.sqlite3'}"
    for args in (("status", aid), ("resend-email", aid), ("cancel", aid)):
        done = ecps_here(*args, "--database", url, "--state-dir", "other")
        assert done.returncode == 17, done.stderr
        assert done.stderr.splitlines() == [
            f"error: activation {aid} and its audit trail were sealed with another server key: "
            "this database was made with another key than the one configured (the server key "
            "file, or ECPS_SECRET_KEY) [storage_error, exit 17]"]
    listed = ecps_here("list", "--database", url, "--state-dir", "other")
    assert listed.returncode == 0
    assert "sealed with another server key" in listed.stderr
    assert "does not match its audit trail" not in listed.stderr
    assert ecps_here("status", aid).returncode == 0  # its own key: untouched


def test_a_command_that_writes_refuses_another_key_before_writing(ecps_here: Ecps,
                                                               workdir: Path) -> None:
    """`ecps request` or `ecps demo` over a database of another key (a folder with a key of its
    own, or an empty one that would make a new key) adds nothing and names the key, in one line."""
    state_dir = workdir / ".ecps"
    aid = advance(service(state_dir), state_dir, State.EMAILED)
    service(workdir / "other")  # a folder with a key of its own
    database = state_dir / "ecps.sqlite3"
    url = f"sqlite:///{database}"
    for args in (("request", "810100000008"), ("demo",)):
        for folder in ("other", "empty"):
            done = ecps_here(*args, "--database", url, "--state-dir", folder)
            assert done.returncode == 17, done.stderr
            [line] = done.stderr.strip().splitlines()
            assert f"activation {aid} and its audit trail were sealed with another server key" in line
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT count(*) FROM ecps_activation").fetchone() == (1,)
    assert ecps_here("request", "810100000008").returncode == 0  # its own key: written


def test_serve_on_a_busy_port_says_so_with_its_own_exit_code(ecps: Ecps) -> None:
    """Another listener on the port gives one line and exit 22, before the server starts."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = ecps("serve", "--port", str(port))
    assert done.returncode == 22
    assert done.stderr.strip().splitlines() == [
        f"error: port {port} on 127.0.0.1 is already in use: stop the other server, or choose "
        "another --port [port_busy, exit 22]"]


def test_the_servers_socket_gets_no_delay_on_each_connection() -> None:
    """The listening socket `ecps serve` makes names TCP as its protocol, so that asyncio sets
    TCP_NODELAY on every accepted connection (without it each answer waits ~40 ms for the
    client's delayed ACK); a connection accepted from it has the option set."""
    import asyncio

    from adapters.cli.ops import _listen

    sock = _listen("127.0.0.1", 0)
    seen: list[int] = []

    async def main() -> None:
        def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            conn = writer.get_extra_info("socket")
            seen.append(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(accepted, sock=sock)
        _, writer = await asyncio.open_connection(*sock.getsockname())
        while not seen:
            await asyncio.sleep(0.01)
        writer.close()
        server.close()
        await server.wait_closed()

    assert sock.proto == socket.IPPROTO_TCP
    asyncio.run(asyncio.wait_for(main(), 30))
    assert seen == [1]


@pytest.mark.parametrize("extra", [(), ("--json",)])
def test_dispatch_loop_prints_whole_lines_when_piped(ecps: Ecps, extra: tuple[str, ...]) -> None:
    """Piped, each round that delivered is a line of its own and the summary starts a line."""
    assert ecps("request", NID).returncode == 0
    done = ecps("dispatch", "--loop", "--interval", "0.05", "--duration", "0.3", *extra)
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stdout
    assert done.stdout.endswith("\n")
    if extra:
        assert json.loads(done.stdout)["sent"] == 1
    else:
        lines = done.stdout.splitlines()
        assert lines[0].startswith("dispatching round 1: 1 sent")
        assert lines[-1].startswith("stopped after ")


def test_the_demos_next_commands_work_as_printed(ecps_here: Ecps) -> None:
    """Run in another state folder, the demo's `next:` commands name it, so they find its key."""
    done = ecps_here("demo", "--state-dir", "elsewhere")
    assert done.returncode == 0, done.stderr
    hints = [line.strip().removeprefix("ecps ").split() for line in done.stdout.splitlines()
             if line.strip().startswith(("ecps status", "ecps audit verify"))]
    assert len(hints) == 2
    for hint in hints:
        assert "--state-dir" in hint
        follow = ecps_here(*hint)
        assert follow.returncode == 0, follow.stderr


@pytest.mark.parametrize("host", ["256.1.1.1", "no-such-host.invalid"])
def test_serve_on_an_address_it_cannot_listen_on_says_so(ecps: Ecps, workdir: Path, host: str) -> None:
    """A host this machine cannot listen on: one line naming it, an input error (not storage)."""
    (workdir / "op.token").write_text("an-operator-token-of-thirty-two-c\n")
    done = ecps("serve", "--host", host, "--port", "8000", "--operator-token-file", "op.token")
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"error: cannot listen on {host} port 8000:")
    assert "invalid_input" in line
    assert done.returncode != 0


@pytest.mark.parametrize("variable", ["ECPS_SMS_URL=ftp://gateway", "ECPS_PUSH_URL=ftp://push",
                                      "ECPS_SMTP_URL=smtp://user:SMTPPASS1@relay:25",
                                      "ECPS_BODY_LIMIT=abc", "ECPS_REQUEST_RATE=0"])
def test_an_invalid_variable_is_a_config_error_naming_it(ecps_here: Ecps, variable: str) -> None:
    """An adapter or HTTP variable that cannot be used: `config_error` (21), in one JSON object
    naming the variable and not its value, for the server and for a command."""
    name, _, value = variable.partition("=")
    for args in (("--json", "serve", "--port", "1"), ("--json", "request", NID)):
        done = ecps_here(*args, env={name: value})
        if name in ("ECPS_BODY_LIMIT", "ECPS_REQUEST_RATE") and args[1] == "request":
            assert done.returncode == 0, done.stderr  # the HTTP layer's own: commands ignore it
            continue
        assert done.returncode == 21, (args, done.stdout, done.stderr)
        answer = json.loads(done.stdout)
        assert answer["error"]["kind"] == "config_error"
        assert name in answer["error"]["message"]
        assert "SMTPPASS1" not in done.stdout + done.stderr


@pytest.mark.parametrize("option", [("--log-level", "shouty"), ("--log-format", "xml")])
def test_serve_options_out_of_their_choices_are_usage_errors(ecps_here: Ecps,
                                                            option: tuple[str, str]) -> None:
    """A log level or format `ecps serve` does not know: `usage` (2), saying which ones it takes."""
    done = ecps_here("serve", *option)
    assert done.returncode == 2
    assert option[1] in done.stderr
    assert ("plain" if option[0] == "--log-format" else "debug") in done.stderr


@pytest.mark.parametrize("command", [("status", "x"), ("list",), ("history", "x"),
                                     ("login", "pending", "x"), ("audit", "verify")])
def test_commands_that_only_read_make_nothing_in_an_empty_folder(ecps_here: Ecps, workdir: Path,
                                                                  command: tuple[str, ...]) -> None:
    """Without a server key, a command that only reads says so; no key, no database is made."""
    done = ecps_here(*command)
    assert done.returncode == 21, done.stderr
    assert "no server key" in done.stderr
    assert not (workdir / ".ecps").exists() or not any((workdir / ".ecps").iterdir())


def test_request_send_that_cannot_deliver_says_so(ecps_here: Ecps) -> None:
    """`request --send` whose e-mail cannot go out now: delivery_failed (15), saying the
    activation exists and its e-mail stays queued; never "sent"."""
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    done = ecps_here("--json", "request", NID, "--send", env={"ECPS_SMTP_URL": f"smtp://127.0.0.1:{port}"})
    assert done.returncode == 15, done.stderr
    message = json.loads(done.stdout)["error"]["message"]
    assert "was created" in message
    assert "stays queued" in message
    assert "cannot talk to the SMTP server (ConnectionRefusedError)" in message  # the reason
    assert "SmtpMailer(" not in message
    assert done.stderr == ""
    plain = ecps_here("request", NID2, "--send", env={"ECPS_SMTP_URL": f"smtp://127.0.0.1:{port}"})
    assert plain.returncode == 15
    assert len(plain.stderr.splitlines()) == 1, plain.stderr  # the warnings are in that line
    assert "cannot talk to the SMTP server" in plain.stderr


def _wrapped_ctrl_c() -> RuntimeError:
    """Ctrl-C pressed while Python made a class: what `__set_name__` turns it into."""
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt as pressed:
        wrapped = RuntimeError("Error calling __set_name__ on 'Field' instance 'buffer'")
        wrapped.__cause__ = pressed
        return wrapped


@pytest.mark.parametrize("wrapped", [False, True])
@pytest.mark.parametrize("extra", [(), ("--json",)])
def test_ctrl_c_at_the_pin_prompt_says_interrupted(ecps_here: Ecps, monkeypatch: pytest.MonkeyPatch,
                                                   extra: tuple[str, ...], wrapped: bool) -> None:
    """Ctrl-C at the hidden PIN prompt, or while a command imports (wrapped in another error):
    exit 130 with "interrupted", as one JSON object with --json; nothing else printed."""
    from adapters.cli import flow

    def pressed(_prompt: str) -> str:  # Ctrl-C while the hidden prompt waits
        raise _wrapped_ctrl_c() if wrapped else KeyboardInterrupt

    monkeypatch.setattr(flow, "ask_secret", pressed)
    done = ecps_here(*extra, "authenticate", "--", "someactivation0")
    assert done.returncode == 130
    if extra:
        assert json.loads(done.stdout)["error"]["kind"] == "interrupted"
    else:
        assert done.stderr.strip().splitlines()[-1] == "interrupted"


def test_the_interactive_demo_without_input_says_so(ecps: Ecps) -> None:
    """`ecps demo -i` whose standard input is empty: invalid_input (3) saying that input
    ended, not "interrupted" as if Ctrl-C had been pressed."""
    done = ecps("demo", "--interactive", input="")
    assert done.returncode == 3, done.stderr
    assert "standard input ended" in done.stderr.strip().splitlines()[-1]
    assert "interrupted" not in done.stderr


@pytest.mark.parametrize(("setup", "args", "expected"), [
    (lambda d: (d / ".ecps").mkdir() or (d / ".ecps" / "server.key").write_bytes(b"\xff\xfe\x00"),
     ("status", "abcdefgh2345672a"), None),
    (lambda d: (d / "bad.toml").write_bytes(b"\xff\xfe"), ("config", "show"),
     {"ECPS_CONFIG": "bad.toml"}),
    (lambda d: (d / "key").write_bytes(b"\xff" * 40), ("status", "abcdefgh2345672a"),
     {"ECPS_SECRET_KEY_FILE": "key"}),
    (lambda d: None, ("status", "abcdefgh2345672a"), {"ECPS_SECRET_KEY": "\udcff" * 20}),
    (lambda d: None, ("status", "--database", "sqlite:///\udcff.db", "abcdefgh2345672a"), None),
    (lambda d: None, ("list",), {"ECPS_DATABASE_URL": "sqlite:///\udcff.db"}),
])
def test_bytes_that_are_not_utf8_in_a_file_a_variable_or_an_argument_are_one_line(
        ecps: Ecps, workdir: Path, setup: Callable[[Path], object], args: tuple[str, ...],
        expected: dict[str, str] | None) -> None:
    """Each is named in one line with its kind, never a codec's traceback or bare message."""
    setup(workdir)
    done = ecps(*args, env=expected)
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert re.search(r"not UTF-8 text|text \(UTF-8\)", lines[0]), lines[0]
    assert "codec" not in lines[0]
    assert re.search(r"\[(storage_error|config_error|usage), exit (17|21|2)\]$", lines[0]), lines[0]


def test_a_library_warning_is_one_line_without_its_source(ecps: Ecps, workdir: Path) -> None:
    """SQLAlchemy's warning about a URL argument it ignores: one line, no file nor code."""
    service(workdir / ".ecps")
    url = f"sqlite:///{workdir / '.ecps' / 'ecps.sqlite3'}?mode=ro"
    done = ecps("status", "--database", url, "abcdefgh2345672a")
    assert done.returncode == 7
    warned, failed = done.stderr.splitlines()
    assert warned.startswith("warning: Query string argument(s) 'mode' are not accepted")
    assert failed == "error: no activation 'abcdefgh2345672a' [not_found, exit 7]"


def test_ctrl_c_while_the_command_line_loads_exits_130_without_a_traceback(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The commands' module interrupted while it is imported, the KeyboardInterrupt wrapped."""
    from adapters.cli import main

    loading = types.ModuleType("adapters.cli.app")

    def interrupted(name: str) -> object:
        raise _wrapped_ctrl_c()

    loading.__getattr__ = interrupted  # type: ignore[method-assign]
    monkeypatch.setitem(sys.modules, "adapters.cli.app", loading)
    with pytest.raises(SystemExit) as done:
        main(["status", "x"])
    assert done.value.code == 130
    assert capsys.readouterr() == ("", "")


def test_steps_are_numbered_as_in_the_whole_history(ecps_here: Ecps, workdir: Path) -> None:
    """A page after step N starts at N + 1, and `status` numbers its newest steps as the
    history does: a number always names the same step."""
    state_dir = workdir / ".ecps"
    svc = service(state_dir)
    aid = advance(svc, state_dir, State.PIN_SET)
    svc.confirm_pin(aid, "4821")
    for _ in range(3):
        svc.authenticate(aid, "4821")

    def numbered(*args: str) -> dict[int, str]:
        shown = ecps_here(*args).stdout
        return {int(m[1]): " ".join(m[2].split()) for m in
                re.finditer(r"^\s*(\d+)\s*│(.*)$", shown, re.MULTILINE)}

    whole = numbered("history", aid)
    assert sorted(whole) == list(range(1, svc.status(aid).history_total + 1))
    assert numbered("history", aid, "--after", "4", "--limit", "2") == {5: whole[5], 6: whole[6]}
    assert sorted(numbered("status", "--", aid)) == sorted(whole)  # all of them are the newest


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_json_to_a_standard_output_that_cannot_be_written_is_one_line_on_stderr(workdir: Path) -> None:
    """--json whose answer cannot be written (a full disk): one error line on standard error,
    no traceback; a refusal keeps its own exit code."""
    for args, code in ((("config", "show"), 1), (("--state-dir", "s", "status", "nope"), 21)):
        with open("/dev/full", "w") as full:
            done = subprocess.run([sys.executable, "-m", "adapters.cli", "--json", *args], cwd=workdir,
                                  env=cli_env(), stdout=full, stderr=subprocess.PIPE, text=True,
                                  timeout=60, check=False)
        assert done.returncode == code, done.stderr
        assert "Traceback" not in done.stderr
        assert len(done.stderr.splitlines()) == 1, done.stderr
        assert done.stderr.startswith("error: ")


def test_an_unforeseen_failure_is_masked_like_the_logs(ecps: Ecps, workdir: Path) -> None:
    """A crash's own text (exit 1) goes through the log masks: a token in it is not printed."""
    secret = "Zq" + "x7" * 20
    (workdir / "noisy.py").write_text(f"raise RuntimeError('boom token={secret}')\n")
    done = ecps("check", "--definition", "noisy:X")
    assert done.returncode == 1, done.stderr
    assert "RuntimeError" in done.stderr
    assert secret not in done.stderr + done.stdout


def test_a_database_value_that_is_no_url_is_not_echoed(ecps: Ecps) -> None:
    """A value without a scheme may be a mistyped URL holding a password: it is not printed."""
    done = ecps("--database", "u:s3cretpw@h/db", "list")
    assert done.returncode == 2, done.stderr
    assert "is not a database URL ecps runs on" in done.stderr
    assert "s3cretpw" not in done.stderr + done.stdout


def test_a_postgresql_driver_the_store_does_not_run_on_is_a_usage_error(ecps: Ecps) -> None:
    """postgresql+asyncpg:// or +psycopg2:// names a driver the store refuses: said as a usage
    error naming what it runs on, not as a crash."""
    for url in ("postgresql+asyncpg://u@h/db", "postgresql+psycopg2://u:pw@h/db"):
        done = ecps("--database", url, "list")
        assert done.returncode == 2, done.stderr
        assert "postgresql+psycopg://" in done.stderr
        assert "pw" not in done.stderr


def test_bytes_that_are_no_text_at_the_hidden_pin_prompt_are_malformed_input(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """At a terminal, bytes that are not UTF-8 typed at the PIN prompt are invalid input, as
    the same bytes piped are, not a crash."""
    from adapters.cli import flow
    from workflow.errors import InvalidInput

    def undecodable(_prompt: str) -> str:
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    monkeypatch.setattr(flow.sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(flow.getpass, "getpass", undecodable)
    with pytest.raises(InvalidInput) as refused:
        flow.ask_secret("PIN")
    assert refused.value.field == "pin"
