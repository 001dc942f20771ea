"""Header injection: a directory e-mail or name holding CR/LF or quotes is refused or encoded;
it never yields an extra header or recipient, through the service or on the mailers alone."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from adapters.directory import demo_directory
from adapters.files import FileMailer
from adapters.memory import MemorySms, MemoryStore, StaticDirectory
from adapters.mime import sender_address
from adapters.smtp import SmtpMailer
from tests.conftest import NID, fast_settings
from tests.integration.smtp_stub import SmtpStub
from workflow import ActivationService
from workflow.errors import DeliveryFailed, NotEligible
from workflow.messages import Attachment, DirectoryEntry, Email
from workflow.templates import FRENCH
from workflow.testing import FakeClock

JANE = "jane.doe@domain.fr"
INJECTED = "\r\nBcc: intrus@evil.example"
HOSTILE_NAME = 'Dr "Max"\r\nBcc: intrus@evil.example\r\n\r\n<b>Weber</b>'


@pytest.fixture
def server() -> Iterator[SmtpStub]:
    """A local SMTP server."""
    stub = SmtpStub().start()
    yield stub
    stub.stop()


def _service(entry: DirectoryEntry, server: SmtpStub) -> tuple[ActivationService, MemoryStore]:
    store = MemoryStore()
    svc = ActivationService(store=store, mailer=SmtpMailer(server.host, server.port, timeout=5),
                            sms=MemorySms(), directory=StaticDirectory([entry]), clock=FakeClock(),
                            settings=fast_settings())
    return svc, store


def _headers(raw: bytes) -> list[tuple[str, str]]:
    """The header fields of a raw message as (lower-case name, unfolded value)."""
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    head = re.sub(rb"\r?\n[ \t]", b" ", head)
    fields = [line.decode("ascii").split(":", 1) for line in head.splitlines()]
    return [(name.strip().lower(), value.strip()) for name, value in fields]


def _assert_clean(raw: bytes) -> EmailMessage:
    """One To, no Bcc/Cc, headers pure ASCII; the parsed message."""
    names = [name for name, _ in _headers(raw)]
    assert names.count("to") == 1
    assert "bcc" not in names
    assert "cc" not in names
    message = message_from_bytes(raw, policy=policy.default)
    assert [a.addr_spec for a in message["To"].addresses] == [JANE]
    return message


@pytest.mark.parametrize("email", [
    JANE + INJECTED, JANE + "\nBcc: intrus@evil.example", f"{JANE}, intrus@evil.example",
    f"{JANE}>\r\nRCPT TO:<intrus@evil.example", f"Jane <{JANE}>", f'"jane doe"@{JANE[9:]}',
    JANE + "\x00",
])
def test_a_directory_email_with_cr_lf_quotes_or_lists_is_refused(server: SmtpStub, email: str) -> None:
    """The request is `NotEligible`: nothing is stored and nothing reaches the SMTP server."""
    svc, store = _service(DirectoryEntry(NID, email, "0639980078", "Dr Jane Doe"), server)
    with pytest.raises(NotEligible):
        svc.request(NID)
    assert store.list_activations() == []
    assert svc.dispatch() == 0
    assert server.received == []


def test_a_directory_name_with_cr_lf_and_quotes_never_becomes_a_header(server: SmtpStub) -> None:
    """The name is cleaned and escaped in the body; the message has one recipient, no Bcc."""
    svc, _ = _service(DirectoryEntry(NID, JANE, "0639980078", HOSTILE_NAME), server)
    svc.request(NID)
    assert svc.dispatch() == 1
    (received,) = server.received
    assert received.rcpt_tos == (JANE,)
    message = _assert_clean(received.data)
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert isinstance(text, EmailMessage)
    assert isinstance(html, EmailMessage)
    assert 'Dr "Max"Bcc: intrus@evil.example<b>Weber</b>' in text.get_content()
    assert "<b>Weber</b>" not in html.get_content()
    assert "&lt;b&gt;Weber&lt;/b&gt;" in html.get_content()


@pytest.mark.parametrize("to", [
    JANE + INJECTED, f"{JANE}, intrus@evil.example", f"{JANE}>\r\nRCPT TO:<intrus@evil.example",
    f'"x\r\nBcc: intrus@evil.example"@{JANE[9:]}', "", "jane.doe", JANE + " ",
])
def test_the_mailers_alone_refuse_a_recipient_that_is_not_one_address(
        server: SmtpStub, tmp_path: Path, to: str) -> None:
    """Without the service's checks, both mailers refuse permanently, send and write nothing."""
    email = replace(FRENCH.activation_email(JANE, "Dr J", "ecps://activation?a=abcdefgh1&t=x", 60),
                    to=to, message_id="m1")
    for mailer in (SmtpMailer(server.host, server.port, timeout=5), FileMailer(tmp_path)):
        with pytest.raises(DeliveryFailed) as caught:
            mailer.send(email)
        assert not caught.value.transient
        assert JANE not in str(caught.value)
    assert server.received == []
    assert list(tmp_path.iterdir()) == []


def _hostile_email() -> Email:
    png = Attachment('qr"\r\nBcc: intrus@evil.example.png', "image/png\r\nBcc: x", b"\x89PNG-data",
                     "qr\r\nBcc: intrus@evil.example")
    return Email(JANE, "Activation" + INJECTED, "texte", "<p>html</p>", (png,),
                 message_id="m1" + INJECTED, sender_name='e-CPS "ANS"' + INJECTED)


def test_subject_name_id_and_attachment_fields_are_encoded_not_injected(server: SmtpStub) -> None:
    """CR/LF in subject, sender name, message id and attachment fields give no extra header."""
    SmtpMailer(server.host, server.port, timeout=5).send(_hostile_email())
    (received,) = server.received
    message = _assert_clean(received.data)
    assert "\n" not in str(message["Subject"])
    assert message["From"].addresses[0].display_name.startswith('e-CPS "ANS"')
    assert message["From"].addresses[0].addr_spec == "no-reply@ecps.localhost"
    assert re.fullmatch(r"<[0-9a-f]{32}@ecps-workflow>", str(message["Message-ID"]))
    for part in message.walk():
        for name, value in part.items():
            assert "\n" not in str(value), name
            assert name.lower() != "bcc"


def test_the_file_mailer_writes_the_same_clean_message(tmp_path: Path) -> None:
    """The `.eml` file has the same guarantees, and attachment files get safe names."""
    FileMailer(tmp_path).send(_hostile_email())
    (eml,) = tmp_path.glob("*.eml")
    _assert_clean(eml.read_bytes())
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", p.name) for p in tmp_path.iterdir())


@pytest.mark.parametrize("sender", ["e-CPS <a@b.fr>\r\nBcc: x@y.fr", "a@b.fr, x@y.fr", "nobody"])
def test_a_sender_setting_with_cr_lf_or_two_addresses_is_refused(sender: str) -> None:
    """The From setting is one address, checked when the mailer is built."""
    with pytest.raises(ValueError):
        sender_address(sender)
    with pytest.raises(ValueError):
        SmtpMailer("127.0.0.1", sender=sender)


def test_the_demo_directory_entries_that_attempt_injection(server: SmtpStub) -> None:
    """The shipped e-mail with CR/LF is refused; the shipped hostile name activates cleanly."""
    directory = demo_directory()
    svc = ActivationService(store=MemoryStore(), sms=MemorySms(), directory=directory,
                            mailer=SmtpMailer(server.host, server.port, timeout=5),
                            clock=FakeClock(), settings=fast_settings())
    with pytest.raises(NotEligible, match="unusable"):
        svc.request("810000056787")
    svc.request("810000089010")
    assert svc.dispatch() == 1
    (received,) = server.received
    names = [name for name, _ in _headers(received.data)]
    assert "bcc" not in names
    assert received.rcpt_tos == ("max.weber@domain.fr",)
