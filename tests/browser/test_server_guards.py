"""The console's guards on a real uvicorn server on 127.0.0.1, as a script would attack them
(no browser): forwarded addresses, DNS rebinding, guessing the token, a replayed cookie."""

from __future__ import annotations

import httpx

from adapters.api.console.session import COOKIE, FAILURES
from tests.browser.conftest import TOKEN, Server


def test_a_forwarded_address_never_opens_the_simulator(server: Server) -> None:
    """uvicorn believes X-Forwarded-For from loopback: a forwarded remote address is refused, and
    a forwarded loopback one gives a remote client nothing it could not already do (the server
    listens on loopback only)."""
    with httpx.Client(base_url=server.url) as c:
        assert c.get("/console/phone").status_code == 200
        assert c.get("/console/phone", headers={"X-Forwarded-For": "192.0.2.1"}).status_code == 403
        assert c.get("/console/phone", headers={"Host": "rebound.example"}).status_code == 403


def test_guessing_then_replaying_a_signed_out_cookie(server: Server) -> None:
    """Wrong tokens are held off with 429; a cookie copied before sign-out is dead after it."""
    with httpx.Client(base_url=server.url, headers={"X-Forwarded-For": "192.0.2.50"}) as guesser:
        codes = [guesser.post("/console/login", data={"token": f"guess-{i}-" + "x" * 20}).status_code
                 for i in range(FAILURES + 1)]
    assert codes == [401] * FAILURES + [429]
    with httpx.Client(base_url=server.url) as c:
        assert c.post("/console/login", data={"token": TOKEN}).status_code == 303
        cookie = c.cookies[COOKIE]
        page = c.get("/console").text
        csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        assert c.post("/console/logout", data={"csrf": csrf}).status_code == 303
    with httpx.Client(base_url=server.url, cookies={COOKIE: cookie}) as thief:
        r = thief.get("/console")
    assert (r.status_code, r.headers["location"]) == (303, "/console/login")
