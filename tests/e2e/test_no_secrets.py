"""No secret in any output: whole flows through the library, the HTTP API, `ecps serve` and
`ecps dispatch`, with every log captured at DEBUG, grepped for each secret they handled."""

from __future__ import annotations

import io
import json
import logging
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from adapters import files
from adapters.bootstrap import build_service
from adapters.device import DeviceKey
from adapters.logs import RedactingFilter, configure_logging, redact
from tests.conftest import people
from tests.e2e.conftest import Ecps, cli_env
from tests.e2e.http_device import OPERATOR_TOKEN, DeviceClient
from tests.e2e.phone import NID, Phone

PIN = "4821"


def _contacts() -> tuple[str, str]:
    entry = next(p for p in people() if p.national_id == NID)
    return entry.email, entry.phone


def _secrets(payload: str, codes: list[str]) -> list[str]:
    """Every secret of a flow: its codes, its QR token, the PIN, the contacts, the identifier."""
    token = parse_qs(urlsplit(payload).query)["t"][0]
    email, phone = _contacts()
    return [*codes, token, PIN, email, phone, phone[1:], NID]


def _leaks(text: str, secrets: list[str]) -> list[str]:
    """The secrets found in `text` (each digit secret as a whole number only)."""
    return [s for s in secrets if s in text]


def test_a_whole_flow_over_http_logs_no_secret(tmp_path: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    """Library, HTTP API and dispatcher at DEBUG: no captured line holds a code, the QR
    token, the PIN, a contact, the identifier, a proof or the operator token."""
    caplog.set_level(logging.DEBUG)
    phone = Phone(tmp_path)
    client = phone.client(phone.app())
    with client.http:
        aid = client.post("/activations", json={"national_id": NID}).json()["activation_id"]
        payload = phone.payload()
        client.post(f"/activations/{aid}/scan", json={"qr_payload": payload})
        first = phone.code()
        client.post(f"/activations/{aid}/sms", json={"code": "000000" if first != "000000"
                                                     else "111111"})
        client.post(f"/activations/{aid}/sms", json={"code": first})
        client.post(f"/activations/{aid}/pin", json={"pin": PIN})
        client.post(f"/activations/{aid}/pin/confirm", json={"pin": PIN})
        proof = client.proof("POST", f"/activations/{aid}/authenticate")
        client.post(f"/activations/{aid}/authenticate", json={"pin": PIN},
                    headers={"DPoP": proof})
        client.operator("GET", "/operations/activations")
        assert client.get(f"/activations/{aid}").json()["state"] == "active"
    captured = [r.getMessage() for r in caplog.records] + [caplog.text]
    assert any(aid in line for line in captured)  # the logs do say what happened
    secrets = [*_secrets(payload, [first]), proof, OPERATOR_TOKEN]
    for line in captured:
        assert _leaks(line, secrets) == [], line


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_ecps_serve_at_trace_in_json_prints_no_secret(workdir: Path) -> None:
    """`ecps serve --log-level trace --log-format json` (each ASGI message, below debug)
    through a whole flow with proofs: every output line is a JSON object, the banner too,
    some name the activation, event and outcome, and none holds a secret."""
    port = _free_port()
    state = workdir / ".ecps"
    server = subprocess.Popen(
        [sys.executable, "-m", "adapters.cli", "serve", "--port", str(port), "--log-level",
         "trace", "--log-format", "json", "--dispatch-every", "0.05"],
        cwd=workdir, env=cli_env(ECPS_OPERATOR_TOKEN=OPERATOR_TOKEN),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if http.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
            client = DeviceClient(http, time.time)
            aid = client.post("/activations", json={"national_id": NID}).json()["activation_id"]
            payload = _wait(lambda: files.qr_payload(files.read_eml(e)) if (
                e := files.latest_eml(state / "mail")) else None)
            assert client.post(f"/activations/{aid}/scan", json={"qr_payload": payload}).is_success
            code = _wait(lambda: (files.read_sms_codes(state / "sms.txt") or [None])[-1])
            assert client.post(f"/activations/{aid}/sms", json={"code": code}).is_success
            assert client.post(f"/activations/{aid}/pin", json={"pin": PIN}).is_success
            assert client.post(f"/activations/{aid}/pin/confirm", json={"pin": PIN}).is_success
            assert client.post(f"/activations/{aid}/authenticate", json={"pin": PIN}).is_success
    finally:
        server.terminate()
        out, err = server.communicate(timeout=30)
    lines = [line for line in (out + err).splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line
    assert any(r["message"].startswith(f"e-CPS activation API on http://127.0.0.1:{port} ")
               for r in records)
    assert any(r["level"] == "trace" for r in records)
    assert {"activation_id": aid, "event": "scan", "outcome": "ok"}.items() <= next(
        r for r in records if r.get("event") == "scan").items()
    for line in lines:
        assert _leaks(line, [*_secrets(payload, [code]), OPERATOR_TOKEN]) == [], line


def _wait(read: object) -> str:
    deadline = time.monotonic() + 20
    while True:
        value = read()  # type: ignore[operator]
        if value:
            return str(value)
        assert time.monotonic() < deadline, "nothing was delivered"
        time.sleep(0.05)


def test_ecps_dispatch_prints_no_code(ecps: Ecps, workdir: Path) -> None:
    """`ecps dispatch` sends the e-mail and the SMS without showing the token or the code."""
    svc = build_service(None, state_dir=workdir / ".ecps")
    aid = svc.request(NID, device_key=DeviceKey.generate().public_jwk).activation_id
    mailed = ecps("dispatch")
    eml = files.latest_eml(workdir / ".ecps" / "mail")
    assert eml is not None
    payload = files.qr_payload(files.read_eml(eml))
    assert payload is not None
    svc.scan(aid, payload)
    texted = ecps("dispatch")
    assert texted.returncode == 0, texted.stderr
    codes = files.read_sms_codes(workdir / ".ecps" / "sms.txt")
    assert len(codes) == 1
    for proc in (mailed, texted):
        assert _leaks(proc.stdout + proc.stderr, _secrets(payload, codes)) == []


def test_the_filter_masks_secrets_in_messages_and_tracebacks() -> None:
    """A record holding a code, PIN, contacts, identifier and token, in its message and its
    exception, comes out masked, the activation id kept."""
    stream = io.StringIO()
    handler = configure_logging("debug", "json", stream)
    log = logging.getLogger("ecps.test")
    email, phone = _contacts()
    token = "Q2hhbmdlIHRoaXMgdG9rZW4gdG8gYSByZWFsIG9uZQ"
    try:
        try:
            raise RuntimeError(f"gateway refused {phone} for code 493817 (t={token})")
        except RuntimeError:
            log.exception("activation abcdefghijklmnop for %s pin=%s nid %s", email, PIN, NID,
                          extra={"activation_id": "abcdefghijklmnop", "event": "scan",
                                 "outcome": "failed"})
    finally:
        logging.getLogger().removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert line["activation_id"] == "abcdefghijklmnop"
    assert (line["event"], line["outcome"]) == ("scan", "failed")
    assert "abcdefghijklmnop" in line["message"]
    text = stream.getvalue()
    assert "RuntimeError" in line["exception"]
    assert _leaks(text, ["493817", PIN, email, phone, NID, token]) == []
    assert isinstance(handler.filters[0], RedactingFilter)


@pytest.mark.parametrize("secret", ["jane.doe@domain.fr", "06 39 98 00 78", "+33639980078",
                                    "0639980078", "899700366240", "code 493817",
                                    "Bearer abc.def", "eyJhbGciOiJFUzI1NiJ9.eyJodG0iOiJQT1NUIn0"])
def test_redact_masks_each_kind_of_secret(secret: str) -> None:
    """Each kind of secret is masked wherever it appears in a line."""
    assert "[redacted]" in redact(f"before {secret} after")
    assert secret not in redact(f"before {secret} after")


def test_redact_masks_the_credentials_of_urls() -> None:
    """A URL's user part and its query values (a gateway's key, a signature) are masked."""
    line = redact("POST http://127.0.0.1:1/sms?api_key=SMSAPIKEY1&to=33 and "
                  "http://user:HOOKPASS1@127.0.0.1:2/hook?sig=HOOKSIG1 done")
    assert _leaks(line, ["SMSAPIKEY1", "HOOKPASS1", "HOOKSIG1", "user:"]) == []
    assert "http://127.0.0.1:1/sms?api_key=[redacted]" in line


def test_redact_leaves_process_ids_and_schema_revisions() -> None:
    """The server's process ids and the schema's revisions are no secrets: they stay readable."""
    for line in ("Started parent process [12345]", "Running upgrade 0001 -> 0002, steps",
                 "Running upgrade  -> 0001, schema 1"):
        assert redact(line) == line
    assert redact("pin 4821 process 12345") == "pin [redacted] process [redacted]"


def test_gateway_request_lines_are_logged_at_debug_only() -> None:
    """The HTTP client's line per request (with its URL) is kept off the log above debug."""
    for level, shown in (("info", False), ("debug", True)):
        stream = io.StringIO()
        handler = configure_logging(level, "plain", stream)
        try:
            logging.getLogger("httpx").info("HTTP Request: POST http://h/sms?api_key=SMSAPIKEY1")
        finally:
            logging.getLogger().removeHandler(handler)
        assert ("HTTP Request" in stream.getvalue()) is shown, level
        assert "SMSAPIKEY1" not in stream.getvalue()


def test_serve_refuses_a_public_address_without_an_operator_token(ecps: Ecps,
                                                                  workdir: Path) -> None:
    """`ecps serve --host 0.0.0.0` without a token exits with a message saying how to give one."""
    refused = ecps("serve", "--host", "0.0.0.0", "--port", "1")
    assert refused.returncode != 0
    assert "--operator-token-file" in refused.stderr
    assert "ECPS_OPERATOR_TOKEN" in refused.stderr
    (workdir / "short.token").write_text("short")
    too_short = ecps("serve", "--host", "0.0.0.0", "--port", "1", "--operator-token-file",
                     "short.token")
    assert too_short.returncode != 0
    assert "at least 16" in too_short.stderr


def test_server_settings_accept_loopback_and_a_token_file(tmp_path: Path) -> None:
    """Loopback needs no token; a public address with a token file gets its digest."""
    from adapters.api.settings import server_settings, token_digest

    assert not server_settings("127.0.0.1", env={}).has_operator
    assert not server_settings("::1", env={}).has_operator
    (tmp_path / "op.token").write_text(OPERATOR_TOKEN + "\n")
    public = server_settings("0.0.0.0", tmp_path / "op.token", env={})
    assert public.operator_token_sha256 == token_digest(OPERATOR_TOKEN)


def test_alembic_says_only_what_it_upgrades() -> None:
    """Of Alembic's lines, the upgrades it runs are logged; the two it logs each time it looks at
    a database (on every start) are not, at any level."""
    for level in ("info", "debug"):
        stream = io.StringIO()
        handler = configure_logging(level, "plain", stream)
        try:
            migration = logging.getLogger("alembic.runtime.migration")
            migration.info("Context impl SQLiteImpl.")
            migration.info("Will assume non-transactional DDL.")
            migration.info("Running upgrade 0001 -> 0002, steps")
        finally:
            logging.getLogger().removeHandler(handler)
        assert "Context impl" not in stream.getvalue(), level
        assert "Will assume" not in stream.getvalue(), level
        assert "Running upgrade 0001 -> 0002" in stream.getvalue(), level


@pytest.mark.parametrize("args", [
    ["set-pin", "ABCDEFGHJKMNPQRS", "4821", "4821"],
    ["--json", "verify-sms", "ABCDEFGHJKMNPQRS", "123456", "654321"],
    ["scan", "ABCDEFGHJKMNPQRS", "ecps://activation?a=x&t=tok-SECRET", "tok-SECRET-2"],
])
def test_arguments_left_over_are_not_repeated(ecps: Ecps, args: list[str]) -> None:
    """A usage error for arguments too many does not show them: they may be a PIN, a code or
    a token typed once more."""
    proc = ecps(*args)
    assert proc.returncode == 2
    out = proc.stdout + proc.stderr
    assert "not shown" in out
    assert _leaks(out, [args[-1]]) == []
