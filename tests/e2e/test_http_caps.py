"""Caps and headers of the HTTP API: body limit read as it streams, rate limit on requests,
security headers, CORS closed by default, and the docs served without any network."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from adapters.api.middleware import BodyLimit
from adapters.api.settings import HttpSettings
from tests.e2e.http_device import OPERATOR_TOKEN, DeviceClient
from tests.e2e.phone import NID, Phone

CHUNK = 1 << 20  # 1 MiB


def _stream_huge(limit: int, total: int, declared: bool) -> tuple[int, list[dict[str, Any]], bool]:
    """Send a `total`-byte body in 1 MiB chunks through `BodyLimit`: (bytes it read, what it
    answered, whether the app was reached)."""
    read = 0
    answered: list[dict[str, Any]] = []
    reached = False

    async def receive() -> dict[str, Any]:
        nonlocal read
        size = min(CHUNK, total - read)
        read += size
        return {"type": "http.request", "body": b"x" * size, "more_body": read < total}

    async def send(message: dict[str, Any]) -> None:
        answered.append(message)

    async def app(*_: Any) -> None:
        nonlocal reached
        reached = True

    headers = [(b"content-length", str(total).encode())] if declared else []
    scope = {"type": "http", "method": "POST", "path": "/activations", "headers": headers}
    asyncio.run(BodyLimit(app, limit)(scope, receive, send))  # type: ignore[arg-type]
    return read, answered, reached


def test_a_chunked_100_mb_body_is_refused_after_one_chunk_over_the_limit() -> None:
    """Without Content-Length, the cap reads at most limit + one chunk, answers 413, never
    calls the app."""
    read, answered, reached = _stream_huge(64 * 1024, 100 * CHUNK, declared=False)
    assert answered[0]["status"] == 413
    assert read <= 64 * 1024 + CHUNK
    assert not reached


def test_a_declared_100_mb_body_is_refused_before_reading_it() -> None:
    """With a Content-Length over the limit, 413 comes before any byte of the body is read."""
    read, answered, reached = _stream_huge(64 * 1024, 100 * CHUNK, declared=True)
    assert (answered[0]["status"], read, reached) == (413, 0, False)


def test_a_body_within_the_limit_reaches_the_app_whole(client: DeviceClient) -> None:
    """A body of exactly the limit passes; one byte more is 413 with the stable error body."""
    limit = HttpSettings().body_limit

    def chunks(size: int) -> Iterator[bytes]:
        for start in range(0, size, 4096):
            yield b" " * min(4096, size - start)

    ok = client.http.post("/activations", content=b'{"national_id": "x"}'.ljust(limit),
                          headers={"Content-Type": "application/json"})
    assert ok.status_code == 400  # read whole and parsed: refused on its content, not its size
    over = client.http.post("/activations", content=chunks(limit + 1),
                            headers={"Content-Type": "application/json"})
    assert over.status_code == 413
    assert over.json()["error"]["kind"] == "payload_too_large"


def test_requests_from_one_address_are_rate_limited(phone: Phone) -> None:
    """Past the limit per period, POST /activations answers 429 with Retry-After, creating
    nothing; the next period is open again."""
    c = phone.client(phone.app(http=HttpSettings(request_rate=3, request_period=60)))
    with c.http:
        for _ in range(3):
            assert c.post("/activations", json={"national_id": "810100000008"}).status_code != 429
        made = len(phone.svc.store.list_activations())
        r = c.post("/activations", json={"national_id": NID})
        assert r.status_code == 429
        assert r.headers["retry-after"] == "60"
        assert r.json()["error"]["retry_after"] == 60
        assert len(phone.svc.store.list_activations()) == made
        phone.clock.advance(timedelta(seconds=61))
        assert c.post("/activations", json={"national_id": NID}).status_code == 201


def test_every_answer_carries_the_security_headers(client: DeviceClient) -> None:
    """No sniffing, no framing and no caching on answers, errors and 413s included."""
    aid = str(client.post("/activations", json={"national_id": NID}).json()["activation_id"])
    answers = [client.get(f"/activations/{aid}"), client.get("/healthz"),
               client.get(f"/activations/{aid}", proof=False), client.http.get("/nowhere"),
               client.http.post("/activations", content=b"x" * (1 << 17))]
    for r in answers:
        assert r.headers["x-content-type-options"] == "nosniff", r.url
        assert r.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert r.headers["cache-control"] == "no-store"


def test_cors_is_closed_by_default_and_open_to_configured_origins(phone: Phone) -> None:
    """No CORS header for any origin by default; a configured origin is allowed, others not."""
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "dpop,content-type"}
    closed = phone.client(phone.app())
    with closed.http:
        r = closed.http.options("/activations", headers=preflight)
        assert "access-control-allow-origin" not in r.headers
    http = HttpSettings.with_token(OPERATOR_TOKEN, cors_origins=("https://app.example",))
    opened = phone.client(phone.app(http=http))
    with opened.http:
        r = opened.http.options("/activations", headers=preflight)
        assert r.headers["access-control-allow-origin"] == "https://app.example"
        assert "dpop" in r.headers["access-control-allow-headers"].lower()
        evil = opened.http.options("/activations", headers={**preflight,
                                                            "Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in evil.headers


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_and_their_assets_come_from_the_server(client: DeviceClient, page: str) -> None:
    """The page references only the server's own assets, and each of them is served."""
    html = client.http.get(page)
    assert html.status_code == 200
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html.text)
    assert urls
    assert not [u for u in urls if u.startswith(("http:", "https:", "//"))]
    for url in urls:
        asset = client.http.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url
