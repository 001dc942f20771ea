"""A local HTTP server for tests (127.0.0.1, free port) answering from a script or a route;
records every request. Used as the SMS gateway and, through a route, as the FHIR directory."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import parse_qs, urlsplit

from workflow.messages import Sms


@dataclass(frozen=True, slots=True)
class Answer:
    """How to answer one request: status, headers, body, after `delay` seconds."""

    status: int = 200
    body: bytes = b'{"status": "queued"}'
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class Request:
    """One request the server got."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, object]:
        """The JSON body."""
        loaded = json.loads(self.body)
        assert isinstance(loaded, dict)
        return loaded


Route = Callable[[Request], Answer]


class HttpStub:
    """`start()`, then `url`; scripted answers first (`answer(...)`), then `route`, else 200."""

    def __init__(self, route: Route | None = None) -> None:
        self.requests: list[Request] = []
        self.script: deque[Answer] = deque()
        self.route = route
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                stub._serve(self)

            def do_GET(self) -> None:
                stub._serve(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.02,),
                                        daemon=True)

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, *answers: Answer) -> None:
        """Answer the next requests with `answers`, in order."""
        with self._lock:
            self.script.extend(answers)

    def start(self) -> Self:
        """Start serving."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._thread.is_alive():
            self.server.shutdown()
        self.server.server_close()

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        request = Request(h.command, parts.path, parse_qs(parts.query), dict(h.headers.items()),
                          h.rfile.read(length))
        with self._lock:
            self.requests.append(request)
            scripted = self.script.popleft() if self.script else None
        answer = scripted or (self.route(request) if self.route else Answer())
        if answer.delay:
            time.sleep(answer.delay)
        try:
            h.send_response(answer.status)
            for name, value in answer.headers.items():
                h.send_header(name, value)
            h.send_header("Content-Length", str(len(answer.body)))
            h.end_headers()
            h.wfile.write(answer.body)
        except OSError:
            pass  # the client gave up (timeout)


def sms_of(request: Request) -> Sms:
    """The SMS an `HttpSmsGateway` request carried."""
    body = request.json()
    return Sms(str(body["to"]), str(body["text"]), str(body.get("id", "")))
