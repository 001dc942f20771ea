"""The world of the multi-process test: recording mail, SMS and webhook servers, the shipped
processes (`ecps serve`, `ecps dispatch --loop`) and a phone that drives activations over HTTP."""

from __future__ import annotations

import email
import email.policy
import json
import re
import subprocess
import sys
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from adapters.device import DeviceKey
from adapters.webhook import KEY_HEADER, verify_request
from tests.e2e.conftest import ROOT, cli_env
from tests.integration.smtp_stub import Handler, SmtpStub

WAIT = 60.0  # seconds any one wait may take before the test fails (a lost message)
_LINK = re.compile(r"\S+://\S+\?a=[A-Za-z0-9_-]+&t=[A-Za-z0-9_-]+")
_CODE = re.compile(r"(?<!\d)\d{6}(?!\d)")


class Inbox:
    """What each recipient received, in order, and how often each message id arrived."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._items: dict[str, list[str]] = defaultdict(list)
        self.ids: Counter[str] = Counter()

    def put(self, to: str, item: str, message_id: str) -> None:
        """Record `item` for `to` and wake who waits for it."""
        with self._changed:
            self.ids[message_id] += 1
            self._items[to].append(item)
            self._changed.notify_all()

    def wait(self, to: str, count: int) -> str:
        """The `count`-th item `to` received (1-based), waiting for it up to `WAIT` seconds."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._items[to]) >= count, WAIT):
                raise AssertionError(f"message {count} to {to} never arrived")
            return self._items[to][count - 1]

    def wait_total(self, total: int) -> None:
        """Wait until `total` distinct message ids arrived."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.ids) >= total, WAIT):
                raise AssertionError(f"{len(self.ids)} distinct messages arrived, {total} expected")

    def wait_any(self, timeout: float) -> None:
        """Wait until anything arrives, or `timeout` seconds."""
        with self._changed:
            self._changed.wait(timeout)

    def all(self, to: str) -> list[str]:
        """Everything `to` received so far, in order."""
        with self._changed:
            return list(self._items[to])

    def twice(self) -> list[str]:
        """The message ids that arrived more than once."""
        with self._changed:
            return [i for i, n in self.ids.items() if n > 1]


class _MailHandler(Handler):
    """Keeps each e-mail's deep link per recipient in an `Inbox` (a notice under "notice:" + it)."""

    def __init__(self, inbox: Inbox) -> None:
        super().__init__()
        self.inbox = inbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        body = message.get_body(("plain",))
        text = body.get_content() if body is not None else ""  # type: ignore[attr-defined]
        links = _LINK.findall(text)
        for to in envelope.rcpt_tos:
            self.inbox.put(to if links else f"notice:{to}", links[0] if links else "notice",
                           str(message["Message-ID"]))
        return "250 Message accepted for delivery"


@contextmanager
def mail_server(inbox: Inbox) -> Iterator[str]:
    """An SMTP server feeding `inbox`; yields its `smtp://` URL."""
    stub = SmtpStub()
    stub.handler = stub.controller.handler = _MailHandler(inbox)
    stub.start()
    try:
        yield f"smtp://{stub.host}:{stub.port}"
    finally:
        stub.stop()


class Hooks:
    """One HTTP server for the SMS gateway (`/sms`: each code per number) and the webhook
    (`/hooks`: each event key, signature checked)."""

    def __init__(self, secret: str, sms: Inbox) -> None:
        self.secret, self.sms = secret, sms
        self.events = Inbox()
        self.unsigned = 0
        hooks = self

        class Answer(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                hooks.received(self.path, dict(self.headers.items()), body)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def received(self, path: str, headers: dict[str, str], body: bytes) -> None:
        """Record one SMS or one event."""
        if path == "/sms":
            sms = json.loads(body)
            self.sms.put(sms["to"][-9:], _CODE.findall(sms["text"])[0], sms["id"])  # +33 or 0
            return
        if not verify_request(self.secret, headers, body):
            self.unsigned += 1
        event = json.loads(body)
        self.events.put(event["activation_id"], event["action"], headers.get(KEY_HEADER, ""))

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


class Processes:
    """The shipped processes, started with one environment; each drained and stopped at the end."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = cli_env(**env)
        self.running: list[tuple[subprocess.Popen[str], list[str]]] = []

    def start(self, *args: str, ready: str | None = None) -> subprocess.Popen[str]:
        """`ecps ARGS...`; waits until its output shows `ready` (when given)."""
        proc = subprocess.Popen([sys.executable, "-m", "adapters.cli", *args], cwd=ROOT, env=self.env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        lines: list[str] = []
        seen = threading.Event()

        def drain() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                lines.append(line)
                if ready and ready in line:
                    seen.set()
            seen.set()  # ended: let the waiter see why

        threading.Thread(target=drain, daemon=True).start()
        self.running.append((proc, lines))
        if ready:
            seen.wait(WAIT)
            if proc.poll() is not None or not any(ready in line for line in lines):
                raise AssertionError(f"ecps {args[0]} did not start: {''.join(lines[-20:])}")
        return proc

    def stop(self) -> list[str]:
        """Stop every process (SIGTERM, then wait); the last lines of those that crashed."""
        crashed = []
        for proc, lines in self.running:
            if proc.poll() is not None:
                crashed.append("".join(lines[-20:]))
            proc.terminate()
        for proc, _ in self.running:
            try:
                proc.wait(WAIT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return crashed


class Phone:
    """The app of one professional: a device key per activation, every call signed (DPoP)."""

    def __init__(self, servers: list[httpx.Client], mail: Inbox, sms: Inbox) -> None:
        self.servers, self.mail, self.sms = servers, mail, sms

    def post(self, step: int, path: str, body: dict[str, Any], aid: str = "",
             key: DeviceKey | None = None) -> httpx.Response:
        """POST to the server `step` picks (the steps of a flow alternate between servers)."""
        http = self.servers[step % len(self.servers)]
        headers = {}
        if key is not None:
            headers["DPoP"] = key.proof("POST", f"{http.base_url}{path}", aid)
        return http.post(path, json=body, headers=headers)

    def activate(self, nid: str, to: str, phone: str, nth: int) -> str:
        """One whole activation of `nid` (its `nth` e-mail and SMS), to active; its id."""
        key = DeviceKey.generate()
        started = self.post(nth, "/activations", {"national_id": nid, "device_key": key.public_jwk})
        assert started.status_code == 201, started.text
        aid = str(started.json()["activation_id"])
        link = self.mail.wait(to, nth + 1)
        steps = [(f"/activations/{aid}/scan", {"qr_payload": link}, "scanned"),
                 (f"/activations/{aid}/sms", None, "sms_verified"),
                 (f"/activations/{aid}/pin", {"pin": "4821"}, "pin_set"),
                 (f"/activations/{aid}/pin/confirm", {"pin": "4821"}, "active")]
        for i, (path, given, state) in enumerate(steps, start=nth + 1):
            body = given if given is not None else {"code": self.sms.wait(phone[-9:], nth + 1)}
            answer = self.post(i, path, body, aid, key)
            assert answer.status_code == 200, (path, answer.text)
            assert answer.json()["state"] == state, (path, answer.text)
        return aid

