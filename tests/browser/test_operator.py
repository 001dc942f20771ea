"""The operator's side: sign-in, the list and its identifier search, a revoke behind its confirmation."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from adapters.files import decode_qr
from tests.browser.conftest import Server, sign_in
from tests.browser.steps import code_in, only_server, shows
from tests.conftest import NID2
from workflow.messages import Email, Sms


def _active(server: Server, nid: str) -> str:
    """An activation walked to `active` through the service, which the test dispatches."""
    svc = server.service
    aid = svc.request(nid).activation_id

    def received(kind: type) -> Any:
        svc.dispatch()
        ids = {m.id for m in svc.store.outbox_of(aid)}
        return [m for m in server.inbox.received(ids) if isinstance(m, kind)][-1]

    svc.scan(aid, decode_qr(received(Email).attachments[0].data)[0])
    svc.verify_sms(aid, code_in(received(Sms).text))
    svc.set_pin(aid, "4821")
    svc.confirm_pin(aid, "4821")
    return aid


@pytest.mark.parametrize("server", [{"dispatcher": False}], indirect=True)
def test_an_operator_finds_and_revokes_an_activation(context: Any, server: Server) -> None:
    """The identifier search finds the activation by pseudonym; revoking asks, then shows it revoked."""
    aid = _active(server, NID2)
    page = context.new_page()
    assert page.goto(f"{server.url}/console").url.endswith("/console/login")
    page.get_by_label("Operator token").fill("not-the-token-at-all")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("This is not the server's operator token.")
    sign_in(page, server)
    page.get_by_label("National identifier").fill(NID2)
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("table.rows tbody tr")).to_have_count(1)
    assert "subject=" in page.url
    assert NID2 not in page.url
    assert NID2 not in page.content()
    assert "paul.martin" not in page.content()
    expect(page.locator(f"tr[data-id='{aid}']")).to_contain_text("pa****@clinique.fr")

    page.get_by_role("link", name=aid).click()
    shows(page, ["requested", "emailed", "scanned", "sms_verified", "pin_set", "active"], "confirm_pin")
    forged = page.request.post(f"{server.url}/console/activations/{aid}/revoke", form={"reason": "admin"})
    assert forged.status == 403
    page.get_by_role("link", name="Revoke…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Revoke activation {aid}?")
    page.get_by_label("Reason").select_option("lost")
    page.get_by_role("button", name="Revoke now").click()
    expect(page.get_by_role("status").first).to_have_text("Done: revoked.")
    shows(page, ["requested", "emailed", "scanned", "sms_verified", "pin_set", "active", "revoked"],
          "revoke")
    expect(page.locator("table.timeline tbody tr").last).to_contain_text("lost")
    expect(page.locator("table.timeline tbody tr").last).to_contain_text("operator")
    only_server(server)


def test_the_console_fits_a_phone_screen(browser: Any, server: Server) -> None:
    """On a phone-sized viewport the list and an activation's page do not scroll sideways."""
    aid = server.service.request(NID2).activation_id
    ctx = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = ctx.new_page()
        sign_in(page, server)
        for path in ("/console", f"/console/activations/{aid}"):
            page.goto(server.url + path)
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    finally:
        ctx.close()
