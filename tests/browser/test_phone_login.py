"""A push login in the phone simulator: the portal panel asks, the phone approves with the PIN
(or denies), and the console's login page shows the path the login took."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import Server, sign_in
from tests.browser.steps import code_in, keypad, only_server, phone_state, shows
from tests.conftest import NID
from workflow.messages import Sms


def _activate(phone: Any, server: Server) -> str:
    """Walk an activation to `active` in the simulator; its id."""
    phone.goto(f"{server.url}/console/phone")
    phone.get_by_label("Identifiant national (12 digits)").fill(NID)
    phone.get_by_role("button", name="Request activation").click()
    phone_state(phone, "emailed")
    aid: str = phone.locator("#phone-aid").inner_text().strip("()")
    phone.get_by_role("button", name="Scan the QR code").click()
    phone_state(phone, "scanned")
    expect(phone.locator(".sms")).to_have_count(1)
    sent = [m for m in server.inbox.received({m.id for m in server.service.store.outbox_of(aid)})
            if isinstance(m, Sms)]
    phone.get_by_label("SMS code").fill(code_in(sent[-1].text))
    phone.get_by_role("button", name="Submit the code").click()
    phone_state(phone, "sms_verified")
    keypad(phone, "4821")
    phone_state(phone, "pin_set")
    keypad(phone, "4821")
    phone_state(phone, "active")
    return aid


def _ask(phone: Any) -> str:
    """The portal panel asks to log the professional in; the login's id."""
    before = phone.locator("#portal-lid").inner_text()
    phone.get_by_role("button", name="Ask to log in").click()
    expect(phone.locator("#portal-lid")).to_have_text(re.compile(r"\(lg-[0-9a-f]{32}\)"))
    expect(phone.locator("#portal-lid")).not_to_have_text(before)  # a new login, not the last one
    lid: str = phone.locator("#portal-lid").inner_text().strip("()")
    expect(phone.locator(f".push[data-login='{lid}']")).to_contain_text("Portail de santé PACA")
    return lid


def test_a_push_login_approved_then_one_denied(context: Any, server: Server, shots: Path) -> None:
    """Approved with the PIN after a wrong one: the portal gets the claims, the console shows
    requested → notified → approved → completed; a second login denied ends requested →
    notified → denied."""
    phone = context.new_page()
    aid = _activate(phone, server)
    lid = _ask(phone)
    pending = phone.locator(f".push[data-login='{lid}']")
    expect(pending.locator(".binding")).to_have_text("A7-3F")
    expect(pending.locator(".left")).to_have_text(re.compile(r"^(1 min \d+|2 min 0) s left$"))
    pending.get_by_role("button", name="Approve").click()
    expect(phone.locator("#pin-label")).to_have_text("Approve Portail de santé PACA (A7-3F) with your PIN")
    keypad(phone, "1397")
    expect(phone.locator("#phone-error")).to_contain_text("wrong PIN (9 attempt(s) left)")
    credential = server.service.store.get(aid)
    assert credential is not None
    assert credential.counter("login_failures") == 1  # counted on the credential
    keypad(phone, "4821")
    expect(phone.locator("#phone-note")).to_have_text("Login approved.")
    expect(phone.locator("#portal-state")).to_have_text("completed (assertion given)")
    expect(phone.locator("#portal-claims .claim-jti")).to_have_text(lid)
    expect(phone.locator("#portal-claims .claim-aud")).to_have_text("phone-simulator-portal")
    expect(phone.locator("#login-diagram figure.diagram")).to_have_attribute("data-state", "completed")
    assert server.service.store.get(aid).counter("login_failures") == 0  # type: ignore[union-attr]

    console = context.new_page()
    sign_in(console, server)
    expect(console.locator(f"tr[data-id='{lid}'] .state")).to_have_text("completed")
    console.get_by_role("link", name=lid).click()
    shows(console, ["requested", "notified", "approved", "completed"], "collect")
    expect(console.locator("#portal")).to_have_text("Portail de santé PACA")
    expect(console.locator("#audit")).to_contain_text("Intact")
    console.screenshot(path=str(shots / "console-login.png"), full_page=True)

    denied = _ask(phone)
    console.goto(f"{server.url}/console/logins/{denied}")
    phone.screenshot(path=str(shots / "phone-login.png"), full_page=True)
    phone.locator(f".push[data-login='{denied}']").get_by_role("button", name="Deny").click()
    expect(phone.locator("#phone-note")).to_have_text("Login denied.")
    expect(phone.locator("#portal-state")).to_have_text("denied (denied by the professional)")
    shows(console, ["requested", "notified", "denied"], "deny")  # no reload: the page is live
    only_server(server)
