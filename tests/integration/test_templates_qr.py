"""A host's English template still sends a QR code that decodes to the payload `scan` accepts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from adapters.files import FileMailer, read_eml
from adapters.memory import MemorySms, MemoryStore, StaticDirectory
from tests.conftest import NID, fast_settings, people
from workflow import ActivationService, State
from workflow.templates import ENGLISH, EmailTemplate
from workflow.testing import FakeClock
from workflow.testing.port_contracts import decode_qr

HOST_HTML = (
    "<!doctype html><html lang=\"en\"><body style=\"font-family: sans-serif\">"
    "<h1>${sender}</h1><p>${greeting}</p><p>Scan this code in the e-CPS app:</p>"
    "<img src=\"${qr_src}\" alt=\"QR code\" width=\"300\">"
    "<p>On your phone? <a href=\"${link}\">Open the app</a>. Valid ${minutes} min.</p>"
    "</body></html>"
)


def test_an_english_host_template_keeps_a_scannable_qr_code(tmp_path: Path) -> None:
    """The .eml written with the host template carries a QR (inline and attached) that scans."""
    host = replace(
        ENGLISH, sender_name="Acme Health", deep_link_base="https://acme.example/ecps/activate",
        activation=EmailTemplate("Activate your Acme e-CPS",
                                 "${greeting}\n\nOpen ${link} on your phone.\n", HOST_HTML),
    )
    clock = FakeClock()
    svc = ActivationService(store=MemoryStore(), mailer=FileMailer(tmp_path, clock=clock),
                            sms=MemorySms(), directory=StaticDirectory(people()), clock=clock,
                            settings=fast_settings(), templates=host)
    aid = svc.request(NID).activation_id
    assert svc.dispatch() == 1
    (eml,) = tmp_path.glob("*.eml")
    message = read_eml(eml)
    assert message["Subject"] == "Activate your Acme e-CPS"
    assert message["From"].addresses[0].display_name == "Acme Health"
    images = [p for p in message.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 2  # inline in the HTML and as an attachment
    decoded = set()
    for part in images:
        data = part.get_payload(decode=True)
        assert isinstance(data, bytes)
        (found,) = decode_qr(data)
        decoded.add(found)
    (payload,) = decoded
    assert payload.startswith("https://acme.example/ecps/activate?a=")
    text = message.get_body(("plain",))
    assert text is not None
    assert payload in text.get_content()
    html = message.get_body(("html",))
    assert html is not None
    assert "cid:" in html.get_content()
    assert svc.scan(aid, payload).state == State.SCANNED
