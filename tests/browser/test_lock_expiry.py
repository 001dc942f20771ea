"""A lock and an expiry reached from the phone simulator, as the console shows them."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import Server, sign_in
from tests.browser.steps import code_in, only_server, phone_state, shows
from tests.conftest import NID
from workflow.messages import Sms


def _request(phone: Any) -> str:
    phone.get_by_label("Identifiant national (12 digits)").fill(NID)
    phone.get_by_role("button", name="Request activation").click()
    phone_state(phone, "emailed")
    return str(phone.locator("#phone-aid").inner_text().strip("()"))


def test_wrong_codes_lock_and_skipping_ahead_expires(context: Any, server: Server) -> None:
    """Five wrong SMS codes lock the activation; an hour skipped ahead expires the next one."""
    console = context.new_page()
    sign_in(console, server)
    phone = context.new_page()
    phone.goto(f"{server.url}/console/phone")
    aid = _request(phone)
    phone.get_by_role("button", name="Scan the QR code").click()
    phone_state(phone, "scanned")
    expect(phone.locator(".sms")).to_have_count(1)
    sent = [m for m in server.inbox.received({m.id for m in server.service.store.outbox_of(aid)})
            if isinstance(m, Sms)]
    wrong = f"{(int(code_in(sent[-1].text)) + 1) % 10**6:06d}"
    for left in (4, 3, 2, 1):
        phone.get_by_label("SMS code").fill(wrong)
        phone.get_by_role("button", name="Submit the code").click()
        expect(phone.locator("#phone-error")).to_contain_text(f"({left} attempt(s) left)")
    phone.get_by_label("SMS code").fill(wrong)
    phone.get_by_role("button", name="Submit the code").click()
    phone_state(phone, "locked")
    console.goto(f"{server.url}/console/activations/{aid}")
    shows(console, ["requested", "emailed", "scanned", "locked"], "verify_sms", "exhausted")
    expect(console.locator("table.timeline td.outcome", has_text="wrong")).to_have_count(4)

    phone.get_by_role("button", name="Start again").click()
    second = _request(phone)
    console.goto(f"{server.url}/console/activations/{second}")
    shows(console, ["requested", "emailed"], "email_sent")
    expect(console.locator("table.gauges .left").first).to_have_text("1 h 0 min left")
    phone.get_by_role("button", name="Skip 1h ahead").click()
    phone_state(phone, "expired")
    shows(console, ["requested", "emailed", "expired"], "expire")
    expect(console.locator("table.timeline tbody tr").last).to_contain_text("sweeper")
    only_server(server)
