"""ASGI middleware of the API: a body cap enforced while reading, and the security headers.

`BodyLimit` reads at most `limit` bytes of a request body (plus the chunk that crosses it)
before answering 413, whatever the body's declared or real size, so a huge upload costs
the server one chunk of memory; the app gets the body once it is known to fit.
`SecurityHeaders` adds no-sniff, no-framing and no-caching headers to every answer.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

ASSETS_PATH = "/docs-assets"
CONSOLE_POLICY = (b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                  b"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


async def _plain_error(send: Send, status: int, kind: str, message: str) -> None:
    body = json.dumps({"error": {
        "kind": kind, "message": message, "field": None, "attempts_left": None,
        "retry_after": None, "state": None, "event": None}}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


async def _too_large(send: Send, limit: int) -> None:
    await _plain_error(send, 413, "payload_too_large", f"request bodies are limited to {limit} bytes")


class BodyLimit:
    """Answers 413 to a request whose body is over `limit` bytes, reading no further."""

    def __init__(self, app: App, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _too_large(send, self.limit)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left: let the app see it
                first: Message | None = message
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await _too_large(send, self.limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                first = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
                break

        async def replay() -> Message:
            nonlocal first
            if first is not None:
                message, first = first, None
                return message
            return await receive()

        await self.app(scope, replay, send)


class SecurityHeaders:
    """Adds `nosniff`, no framing and (but for the docs' static assets) `no-store` to answers.

    An exception no handler answered is answered here, 500 with the usual error body and these
    headers, then raised on: the framework's own last-resort handler sits outside every
    middleware, so its answer would carry none of them (it still logs, and sends nothing more).
    """

    def __init__(self, app: App) -> None:
        self.app = app
        self._added = {(docs, console, assets): _security_headers(docs, console, assets)
                       for docs in (False, True) for console in (False, True)
                       for assets in (False, True)}  # made once, not per request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        assets = path.startswith(ASSETS_PATH)
        docs = assets or path in ("/docs", "/redoc")
        console = path.startswith("/console")  # its forms' POSTs carry an Origin it checks
        added, names = self._added[docs, console, assets]
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                kept = [(k, v) for k, v in message.get("headers", ()) if k.lower() not in names]
                message["headers"] = [*kept, *added]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            if not started:
                await _plain_error(send_with_headers, 500, "failed", "internal error")
            raise


def _security_headers(docs: bool, console: bool,
                      assets: bool) -> tuple[list[tuple[bytes, bytes]], frozenset[bytes]]:
    """The headers `SecurityHeaders` adds to an answer of this kind, and their names."""
    policy = b"frame-ancestors 'none'" if docs else b"default-src 'none'; frame-ancestors 'none'"
    added = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin" if console else b"no-referrer"),
        (b"content-security-policy", CONSOLE_POLICY if console else policy),
    ]
    if not assets:
        added.append((b"cache-control", b"no-store"))
    return added, frozenset(k for k, _ in added)
