"""A local webhook endpoint for tests: answers from a script, checks signatures, records events."""

from __future__ import annotations

import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from adapters.webhook import KEY_HEADER, verify_request
from workflow.events import DomainEvent, from_json

TIMEOUT = "timeout"


@dataclass(frozen=True, slots=True)
class Hit:
    """One request the receiver got and how it answered."""

    status: int
    signed: bool
    key: str
    body: bytes
    headers: dict[str, str]


def free_port() -> int:
    """A TCP port nothing listens on (yet)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Receiver:
    """Answers each POST with the next scripted status (`TIMEOUT`: too late, then 500), then 200.

    `hits` records each request as it arrives (status 0 for one left to time out);
    `processed` holds each event once (deduplicated by key, as a receiver should);
    `acknowledged` every event answered 2xx, duplicates included.
    """

    def __init__(self, secret: str, script: tuple[int | str, ...] = (), *, delay: float = 1.0) -> None:
        self.secret = secret
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hooks/ecps"
        self.script: deque[int | str] = deque(script)
        self.delay = delay
        self.hits: list[Hit] = []
        self.acknowledged: list[DomainEvent] = []
        self.processed: dict[str, DomainEvent] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        """Start listening (until then, connections are refused)."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.answer(self, body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def answer(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        """Verify, record and answer one request."""
        headers = dict(handler.headers.items())
        signed = verify_request(self.secret, headers, body)
        key = headers.get(KEY_HEADER, "")
        with self._lock:
            planned = self.script.popleft() if self.script else 200
            if planned == TIMEOUT:
                self.hits.append(Hit(0, signed, key, body, headers))
        if planned == TIMEOUT:
            time.sleep(self.delay)
            planned = 500
        else:
            with self._lock:
                self.hits.append(Hit(int(planned) if signed else 401, signed, key, body, headers))
        status = int(planned) if signed else 401
        if status == 200:
            event = from_json(body)
            with self._lock:
                self.acknowledged.append(event)
                self.processed.setdefault(event.key, event)
        handler.send_response(status)
        handler.send_header("Content-Length", "0")
        handler.end_headers()
