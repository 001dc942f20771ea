"""A whole activation walked in the phone simulator while the console watches it move."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import Server, sign_in
from tests.browser.steps import code_in, keypad, only_server, phone_state, shows
from tests.conftest import NID
from workflow.messages import Sms

MAIN = ["requested", "emailed", "scanned", "sms_verified", "pin_set", "active"]


def test_a_whole_activation_moves_on_the_console(context: Any, server: Server, shots: Path) -> None:
    """Each step the phone takes appears on the console's diagram and timeline without a reload."""
    console = context.new_page()
    sign_in(console, server)
    phone = context.new_page()
    phone.goto(f"{server.url}/console/phone")
    phone.get_by_label("Identifiant national (12 digits)").fill(NID)
    phone.get_by_role("button", name="Request activation").click()
    phone_state(phone, "emailed")
    expect(phone.locator("#m-email")).to_have_text("ja****@domain.fr")
    aid = phone.locator("#phone-aid").inner_text().strip("()")
    expect(console.locator(f"tr[data-id='{aid}'] .state")).to_have_text("emailed")  # no reload
    console.get_by_role("link", name=aid).click()
    shows(console, MAIN[:2], "email_sent")

    expect(phone.locator(".mail img")).to_be_visible()
    phone.get_by_role("button", name="Scan the QR code").click()
    phone_state(phone, "scanned")
    shows(console, MAIN[:3], "scan")

    expect(phone.locator(".sms")).to_have_count(1)
    phone.get_by_role("button", name="Fill in from the SMS").click()
    sent = [m for m in server.inbox.received({m.id for m in server.service.store.outbox_of(aid)})
            if isinstance(m, Sms)]
    assert phone.get_by_label("SMS code").input_value() == code_in(sent[-1].text)
    phone.get_by_role("button", name="Submit the code").click()
    phone_state(phone, "sms_verified")
    shows(console, MAIN[:4], "verify_sms")

    keypad(phone, "4821")
    phone_state(phone, "pin_set")
    shows(console, MAIN[:5], "set_pin")
    keypad(phone, "4821")
    phone_state(phone, "active")
    shows(console, MAIN, "confirm_pin")
    expect(console.locator("#audit")).to_have_text(
        "Intact: its hash chain verifies, it replays through the definition, and the row agrees.")

    keypad(phone, "4821")
    expect(phone.locator("#phone-note")).to_have_text("Logged in.")
    expect(console.locator("table.timeline tbody tr").last.locator("td.step")).to_have_text("authenticate")
    console.screenshot(path=str(shots / "console.png"), full_page=True)
    phone.screenshot(path=str(shots / "phone.png"), full_page=True)
    only_server(server)
