"""The web console over HTTP without a browser: sign-in, CSRF, what pages may show, the simulator's guards."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from adapters.api.console import PhoneKit, dev_operator
from adapters.api.console.views import left
from adapters.api.settings import HttpSettings
from tests.conftest import NID
from tests.e2e.conftest import Ecps
from tests.e2e.console_client import TOKEN, console_client, csrf_of
from workflow import ActivationService, State
from workflow.messages import Email, Sms


def test_console_pages_need_a_sign_in(svc: ActivationService) -> None:
    """Without the session cookie every page leads to the sign-in form; a wrong token is refused."""
    aid = svc.request(NID).activation_id
    c = console_client(svc)
    for path in ("/console", "/console/rows", f"/console/activations/{aid}",
                 f"/console/activations/{aid}/live", f"/console/activations/{aid}/stamp"):
        r = c.get(path)
        assert (r.status_code, r.headers["location"]) == (303, "/console/login"), path
    r = c.post("/console/login", data={"token": "x" * 30})
    assert r.status_code == 401
    assert "set-cookie" not in r.headers


def test_the_session_cookie_is_httponly_and_strict(svc: ActivationService) -> None:
    """The sign-in sets an HttpOnly, SameSite=Strict cookie scoped to the console, not the token."""
    r = console_client(svc).post("/console/login", data={"token": TOKEN})
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/console" in cookie
    assert TOKEN not in cookie


def test_the_console_is_closed_without_an_operator_token(svc: ActivationService) -> None:
    """A server with no operator credential says so and lets no one in."""
    c = console_client(svc, http=HttpSettings())
    assert "the console is closed" in c.get("/console/login").text.lower()
    assert c.post("/console/login", data={"token": ""}).status_code == 401


def test_a_post_without_the_csrf_token_or_from_elsewhere_changes_nothing(
        signed_in: TestClient, svc: ActivationService) -> None:
    """Revoke needs the page's CSRF token and this server's Origin."""
    aid = svc.request(NID).activation_id
    csrf = csrf_of(signed_in)
    assert signed_in.post(f"/console/activations/{aid}/revoke", data={"reason": "admin"}).status_code == 403
    r = signed_in.post(f"/console/activations/{aid}/revoke", data={"reason": "admin", "csrf": csrf},
                       headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    assert svc.status(aid).state == State.REQUESTED
    r = signed_in.post(f"/console/activations/{aid}/revoke", data={"reason": "admin", "csrf": csrf})
    assert r.status_code == 409  # the right form reaches the workflow, which refuses: not active
    assert "not allowed" in r.text or "cannot" in r.text


def test_pages_show_masked_contacts_and_never_the_identifier(signed_in: TestClient,
                                                            svc: ActivationService) -> None:
    """The list, the search and an activation's page hold no identifier or contact in clear."""
    aid = svc.request(NID).activation_id
    svc.dispatch()
    r = signed_in.post("/console/search", data={"nid": NID, "csrf": csrf_of(signed_in), "state": ""})
    assert r.status_code == 303
    assert NID not in r.headers["location"]
    assert f"subject={svc.keys.pseudonym(NID)}" in r.headers["location"]
    pages = [signed_in.get(r.headers["location"]).text, signed_in.get(f"/console/activations/{aid}").text]
    assert aid in pages[0]
    for text in pages:
        assert "ja****@domain.fr" in text
        for secret in (NID, "jane.doe@domain.fr", "0612345678"):
            assert secret not in text


def test_a_malformed_identifier_gets_its_reason_not_an_echo(signed_in: TestClient) -> None:
    """The search says why an identifier is refused without repeating it."""
    r = signed_in.post("/console/search", data={"nid": "89970036624x", "csrf": csrf_of(signed_in)})
    assert r.status_code == 400
    assert "ASCII digits" in r.text
    assert "89970036624x" not in r.text


def test_console_pages_load_only_their_own_scripts(signed_in: TestClient) -> None:
    """The console's CSP allows scripts and styles from the server only, never inline."""
    policy = signed_in.get("/console").headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "unsafe-inline" not in policy
    assert signed_in.get("/console/static/console.js").status_code == 200


def test_the_simulator_reads_the_phone_inbox_and_scans_with_the_demo_decoder(
        signed_in: TestClient, svc: ActivationService, kit: PhoneKit) -> None:
    """The inbox holds this activation's messages; the scan decodes the e-mail's QR image."""
    aid = svc.request(NID).activation_id
    svc.request("810100000008")
    svc.dispatch()
    box = signed_in.get(f"/console/phone/{aid}/inbox").json()
    assert len(box["emails"]) == 1
    assert box["sms"] == []
    mail = box["emails"][0]
    assert f"/console/phone/{aid}/mail/{mail['id']}/qr.png" in mail["html"]
    assert signed_in.get(f"/console/phone/{aid}/mail/{mail['id']}/qr.png").content.startswith(b"\x89PNG")
    payload = signed_in.post(f"/console/phone/{aid}/mail/{mail['id']}/scan").json()["payload"]
    sent = next(m for m in kit.inbox.received({mail["id"]}) if isinstance(m, Email))
    assert payload in sent.text
    svc.scan(aid, payload)
    svc.dispatch()
    assert [m for m in kit.inbox.received({o.id for o in svc.store.outbox_of(aid)}) if isinstance(m, Sms)]


def test_skipping_ahead_moves_the_clock_and_expires(signed_in: TestClient, svc: ActivationService) -> None:
    """Skip 1h passes the QR token's hour: the activation is expired at once."""
    aid = svc.request(NID).activation_id
    before = svc.now()
    assert signed_in.post("/console/phone/skip/1h").json()["now"] == (before.timestamp() + 3600)
    assert svc.store.get(aid).state == State.EXPIRED  # type: ignore[union-attr]
    assert signed_in.post("/console/phone/skip/1y").status_code == 403


def test_the_simulator_answers_loopback_only_and_only_when_mounted(svc: ActivationService,
                                                                   kit: PhoneKit) -> None:
    """Off loopback the simulator is refused; a server without the kit has none."""
    assert console_client(svc, kit, address="192.0.2.7").get("/console/phone").status_code == 403
    assert console_client(svc, kit).get("/console/phone").status_code == 200
    assert console_client(svc).get("/console/phone").status_code == 404


def test_dev_mode_keeps_a_console_token_of_its_own(tmp_path: Path) -> None:
    """Without a configured token, `--dev` makes one in the state folder (owner only) and reuses it."""
    first, path = dev_operator(HttpSettings(), tmp_path)
    assert first.has_operator
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert dev_operator(HttpSettings(), tmp_path)[0] == first
    configured = HttpSettings.with_token(TOKEN)
    assert dev_operator(configured, tmp_path)[0] is configured


def test_serve_dev_refuses_a_non_loopback_address(ecps: Ecps) -> None:
    """`ecps serve --dev` listens on loopback only, even with an operator token."""
    r = ecps("serve", "--dev", "--host", "0.0.0.0", env={"ECPS_OPERATOR_TOKEN": TOKEN})
    assert r.returncode != 0
    assert "--dev serves the phone simulator: listen on 127.0.0.1 only" in r.stderr


@pytest.mark.parametrize(("seconds", "text"), [(250, "4 min 10 s left"), (3 * 3600 + 60, "3 h 1 min left"),
                                               (-5, "passed 5 s ago")])
def test_time_left_reads_plainly(seconds: int, text: str) -> None:
    """Deadlines show the time left, or how long ago they passed."""
    from datetime import timedelta

    assert left(timedelta(seconds=seconds)) == text


def test_an_unknown_activation_is_a_page_on_the_console_and_json_on_the_api(signed_in: TestClient) -> None:
    """The console answers 404 with a page; the API keeps its JSON error."""
    page = signed_in.get("/console/activations/nosuchid")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    api = signed_in.get("/activations/nosuchid", headers={"Authorization": f"Bearer {TOKEN}"})
    assert (api.status_code, api.json()["error"]["kind"]) == (404, "not_found")


def test_signing_out_ends_the_session(signed_in: TestClient) -> None:
    """Sign out (a CSRF-checked POST) clears the cookie: the console asks for the token again."""
    r = signed_in.post("/console/logout", data={"csrf": csrf_of(signed_in)})
    assert (r.status_code, r.headers["location"]) == (303, "/console/login")
    assert signed_in.get("/console").headers["location"] == "/console/login"
