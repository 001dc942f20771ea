"""The console and the simulator against an attacker: sign-in guessing, replayed cookies after a
sign-out, DNS rebinding, reflected text, odd bytes in forms and cookies."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from adapters.api import create_app
from adapters.api.console import PhoneInbox, PhoneKit
from adapters.api.console.rows import PAGE
from adapters.api.console.session import (
    COOKIE,
    FAILURES,
    FAILURES_ALL,
    WINDOW,
    Sessions,
    SignInsHeldOff,
)
from adapters.api.settings import HttpSettings
from adapters.memory import MemoryStore, StaticDirectory
from tests.conftest import NID, fast_settings, memory_service
from tests.e2e.console_client import TOKEN, console_client, csrf_of, sign_in
from workflow import ActivationService
from workflow.messages import DirectoryEntry
from workflow.testing import FakeClock


def test_guessing_the_token_is_held_off_per_address(svc: ActivationService) -> None:
    """After FAILURES wrong tokens an address gets 429 with Retry-After, even for the right
    token; another address still signs in."""
    guesser = console_client(svc, address="192.0.2.9")
    for _ in range(FAILURES):
        assert guesser.post("/console/login", data={"token": "x" * 30}).status_code == 401
    r = guesser.post("/console/login", data={"token": TOKEN})
    assert r.status_code == 429
    assert 1 <= int(r.headers["retry-after"]) <= WINDOW
    assert "set-cookie" not in r.headers
    sign_in(console_client(svc, address="192.0.2.10"))


def test_the_hold_off_ends_with_its_window() -> None:
    """Failures older than WINDOW seconds no longer count."""
    now = [0.0]
    sessions = Sessions(HttpSettings.with_token(TOKEN), clock=lambda: now[0])
    for _ in range(FAILURES):
        assert not sessions.sign_in("a", "wrong")
    with pytest.raises(SignInsHeldOff):
        sessions.sign_in("a", TOKEN)
    now[0] = WINDOW + 0.5
    assert sessions.sign_in("a", TOKEN)


def test_guesses_from_many_addresses_are_held_off_together() -> None:
    """Addresses a local proxy lets a client choose (X-Forwarded-For) do not multiply the guesses:
    past FAILURES_ALL failures in the window, every address waits."""
    sessions = Sessions(HttpSettings.with_token(TOKEN), clock=lambda: 0.0)
    for i in range(FAILURES_ALL):
        assert not sessions.sign_in(f"10.0.{i // 250}.{i % 250}", "wrong")
    with pytest.raises(SignInsHeldOff):
        sessions.sign_in("192.0.2.1", TOKEN)


def test_a_signed_out_cookie_is_refused_when_replayed(signed_in: TestClient) -> None:
    """Sign-out ends the session on the server: a copy of the cookie no longer opens a page."""
    cookie = signed_in.cookies[COOKIE]
    r = signed_in.post("/console/logout", data={"csrf": csrf_of(signed_in)})
    assert r.status_code == 303
    assert "httponly" in r.headers["set-cookie"].lower()
    signed_in.cookies.set(COOKIE, cookie, path="/console")
    assert signed_in.get("/console").headers.get("location") == "/console/login"


def test_two_sign_ins_get_different_cookies(svc: ActivationService) -> None:
    """Each sign-in is a new session (a random nonce), even within the same second."""
    c = console_client(svc)
    first = c.post("/console/login", data={"token": TOKEN}).cookies[COOKIE]
    second = c.post("/console/login", data={"token": TOKEN}).cookies[COOKIE]
    assert first != second


def test_a_sign_in_posted_from_another_site_is_refused(svc: ActivationService) -> None:
    """The sign-in form too checks the Origin: another site cannot post guesses through browsers."""
    r = console_client(svc).post("/console/login", data={"token": TOKEN}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    assert "set-cookie" not in r.headers


@pytest.mark.parametrize("origin", ["http://[::1", "null"])
def test_a_malformed_origin_is_refused_not_an_error(signed_in: TestClient, origin: str) -> None:
    """An Origin that does not parse is another site's."""
    r = signed_in.post("/console/logout", data={"csrf": csrf_of(signed_in)}, headers={"Origin": origin})
    assert r.status_code == 403


def test_non_ascii_csrf_and_cookie_are_refused_not_an_error(signed_in: TestClient,
                                                          svc: ActivationService) -> None:
    """Odd characters in the CSRF field or the cookie are a refusal, never a server error."""
    assert signed_in.post("/console/logout", data={"csrf": "é" * 32}).status_code == 403
    issued, nonce, _ = signed_in.cookies[COOKIE].split(".")
    odd = f"{COOKIE}={issued}.{nonce}.{'é' * 32}".encode()
    assert console_client(svc).get("/console", headers={b"cookie": odd}).status_code == 303


@pytest.mark.parametrize("host", ["evil.example:8000", "evil.example", "127.0.0.1.evil.example"])
def test_the_simulator_refuses_a_host_that_is_not_this_machine(svc: ActivationService, kit: PhoneKit,
                                                               host: str) -> None:
    """DNS rebinding: a page of another name resolved to 127.0.0.1 sends its own Host and Origin;
    the simulator neither answers nor moves the clock."""
    c = console_client(svc, kit)
    before = svc.now()
    assert c.get("/console/phone", headers={"Host": host}).status_code == 403
    r = c.post("/console/phone/skip/1d", headers={"Host": host, "Origin": f"http://{host}"})
    assert r.status_code == 403
    assert svc.now() == before
    assert c.get("/console/phone", headers={"Host": "localhost:8000"}).status_code == 200


def test_a_link_cannot_make_the_console_say_something(signed_in: TestClient, svc: ActivationService) -> None:
    """`?done=` shows only what an action reports; any other text is dropped, not echoed."""
    aid = svc.request(NID).activation_id
    lure = "revoked every e-CPS; call 01 23 45 67 89"
    for path in ("/console", f"/console/activations/{aid}"):
        page = signed_in.get(path, params={"done": lure}).text
        assert "call 01 23" not in page
        assert "Done:" not in page
        assert "Done: expired-3." in signed_in.get(path, params={"done": "expired-3"}).text


def test_an_unknown_id_is_not_echoed_unless_it_is_shaped_as_one(signed_in: TestClient) -> None:
    """The not-found page does not print arbitrary path text (nor an identifier typed there by
    mistake); an id-shaped one is named."""
    for text in ("Your session expired, call 01 23 45 67 89", NID, "A" * 5000):
        r = signed_in.get(f"/console/activations/{text}")
        assert r.status_code == 404
        assert text not in r.text
    assert "abcdefghijklmnop" in signed_in.get("/console/activations/abcdefghijklmnop").text


def test_the_list_pages_with_links_and_only_its_first_page_refreshes() -> None:
    """With more activations than a page, the list links to the older ones; a later page is not
    polled; the links keep the filters and drop any other query text."""
    clock = FakeClock()
    svc = memory_service(clock, max_requests=1000)
    for _ in range(PAGE + 1):
        svc.request(NID)
        clock.advance(timedelta(seconds=1))
    c = sign_in(console_client(svc))
    first = c.get("/console", params={"age": "24", "junk": "<x>"}).text
    assert first.count('<a href="/console/activations/') == PAGE
    assert 'data-live-url="/console/rows?age=24"' in first
    older = re.search(r'href="(/console\?age=24&amp;before=[^"]+)" rel="next"', first)
    assert older, "no link to the older activations"
    second = c.get(older.group(1).replace("&amp;", "&")).text
    assert second.count('<a href="/console/activations/') == 1
    assert "data-live-url" not in second
    assert 'rel="next"' not in second


def test_a_directory_name_with_markup_reaches_the_simulator_escaped(kit: PhoneKit) -> None:
    """The e-mail the simulator shows as HTML holds the professional's name as text, not markup."""
    name = '<img src=x onerror="alert(1)">Dr Evil'
    assert isinstance(kit.clock, FakeClock)
    svc = ActivationService(store=MemoryStore(), mailer=kit.inbox.mailer, sms=kit.inbox.sms,
                            directory=StaticDirectory([DirectoryEntry(NID, "e@x.fr", "0612345678", name)]),
                            clock=kit.clock, settings=fast_settings())
    aid = svc.request(NID).activation_id
    svc.dispatch()
    mail = console_client(svc, kit).get(f"/console/phone/{aid}/inbox").json()["emails"][0]["html"]
    assert "<img src=x" not in mail
    assert "&lt;img src=x onerror=" in mail


def test_the_cookie_is_secure_over_https(svc: ActivationService) -> None:
    """Signed in over HTTPS, the session cookie is marked Secure (over plain HTTP on loopback it
    cannot be)."""
    app = create_app(svc, dispatch_every=None, http=HttpSettings.with_token(TOKEN))
    c = TestClient(app, base_url="https://127.0.0.1:8443", follow_redirects=False)
    cookie = c.post("/console/login", data={"token": TOKEN}).headers["set-cookie"]
    assert "Secure" in cookie
    plain = console_client(svc).post("/console/login", data={"token": TOKEN})
    assert "Secure" not in plain.headers["set-cookie"]


@pytest.mark.postgres
def test_an_id_postgresql_cannot_hold_is_not_found_not_an_error(pg_url: str) -> None:
    """A NUL byte or an overlong id in a console or simulator path is a 404, never a database error."""
    from adapters.sql import SqlStore

    kit = PhoneKit(PhoneInbox(), FakeClock())
    assert isinstance(kit.clock, FakeClock)
    with SqlStore(pg_url) as store:
        svc = memory_service(kit.clock, store=store, mailer=kit.inbox.mailer, sms=kit.inbox.sms)
        with console_client(svc, kit) as c:
            sign_in(c)
            for bad in ("a%00b", "a" * 5000):
                for path in (f"/console/activations/{bad}", f"/console/activations/{bad}/stamp",
                             f"/console/phone/{bad}/stamp"):
                    assert c.get(path).status_code == 404, path
                assert c.get(f"/console/phone/{bad}/inbox").json() == {"emails": [], "sms": []}
                back = bad.replace("%00", "\x00")
                assert "Nothing matches" in c.get("/console", params={"subject": back[:64]}).text
                assert c.get("/console/expire", params={"back": back}).status_code == 200
                r = c.post("/console/expire", data={"csrf": csrf_of(c), "back": back})
                assert (r.status_code, r.headers["location"]) == (303, "/console?done=expired-0")
