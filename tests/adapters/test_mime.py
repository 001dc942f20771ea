"""The MIME form shared by the SMTP and file mailers: layout, inline QR by Content-ID, UTF-8
headers, a Message-ID derived from the outbox message id."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from adapters.mime import DEFAULT_SENDER, message_key, recipient, render, sender_address
from workflow.errors import DeliveryFailed
from workflow.messages import Attachment, Email
from workflow.templates import FRENCH

PAYLOAD = "ecps://activation?a=abcdefgh12&t=" + "Q" * 43
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _round_trip(email: Email) -> EmailMessage:
    raw = render(email, sender=sender_address(DEFAULT_SENDER), now=NOW)
    assert raw.isascii()
    assert b"\n" not in raw.replace(b"\r\n", b"")
    return message_from_bytes(raw, policy=policy.default)


def _tree(part: EmailMessage) -> object:
    if part.is_multipart():
        return (part.get_content_type(), [_tree(p) for p in part.iter_parts()])  # type: ignore[arg-type]
    return (part.get_content_type(), part.get_content_disposition(), part.get("Content-ID"))


def test_the_activation_email_layout() -> None:
    """mixed > related(alternative(text, html), inline PNG by Content-ID) + the PNG attached."""
    message = _round_trip(replace(FRENCH.activation_email("a@b.fr", "J", PAYLOAD, 60),
                                  message_id="m1"))
    assert _tree(message) == ("multipart/mixed", [
        ("multipart/related", [
            ("multipart/alternative", [("text/plain", None, None), ("text/html", None, None)]),
            ("image/png", "inline", "<qr-activation>"),
        ]),
        ("image/png", "attachment", None),
    ])


def test_an_email_without_attachments_is_a_plain_alternative() -> None:
    """The notice is multipart/alternative(text, html), nothing more."""
    message = _round_trip(FRENCH.replacement_notice("a@b.fr", "J"))
    assert _tree(message) == ("multipart/alternative",
                              [("text/plain", None, None), ("text/html", None, None)])


def test_headers_are_utf8_encoded_and_complete() -> None:
    """Accents survive in Subject and From; Date, Message-ID, MIME-Version, Auto-Submitted are set."""
    email = replace(FRENCH.replacement_notice("a@b.fr", "J"), message_id="m1",
                    sender_name="Agence du Numérique en Santé")
    message = _round_trip(email)
    assert str(message["Subject"]) == "Votre e-CPS a été remplacée"
    assert message["From"].addresses[0].display_name == "Agence du Numérique en Santé"
    assert message["Date"].datetime == NOW
    assert str(message["Message-ID"]) == "<m1@ecps-workflow>"
    assert str(message["MIME-Version"]) == "1.0"
    assert str(message["Auto-Submitted"]) == "auto-generated"


def test_the_message_id_is_stable_per_outbox_message() -> None:
    """The same id gives the same Message-ID; odd ids are hashed, stably; none gives a fresh one."""
    email = FRENCH.replacement_notice("a@b.fr", "J")
    assert message_key(replace(email, message_id="abc")) == "abc"
    odd = replace(email, message_id="a b\r\nc")
    assert message_key(odd) == message_key(odd) != "a b\r\nc"
    assert len(message_key(odd)) == 32
    assert message_key(email) != message_key(email)


@pytest.mark.parametrize("to", ["jane.doe@domain.fr", "j.o'brien+ecps@sub.domain.fr"])
def test_a_plain_address_is_a_recipient(to: str) -> None:
    """Ordinary addresses pass unchanged."""
    assert recipient(to) == to


@pytest.mark.parametrize("to", ["", "x", "a@b", "a@b.fr\r\n", "<a@b.fr>", "a@b.fr;c@d.fr", "a@@b.fr"])
def test_anything_else_is_a_permanent_failure(to: str) -> None:
    """Not one plain address: `DeliveryFailed(transient=False)`."""
    with pytest.raises(DeliveryFailed) as caught:
        recipient(to)
    assert not caught.value.transient


def test_the_sender_setting_keeps_its_display_name() -> None:
    """`"Name <addr>"` and a bare address both work."""
    assert str(sender_address("Équipe e-CPS <ne-pas-repondre@sante.fr>")) == \
        "Équipe e-CPS <ne-pas-repondre@sante.fr>"
    assert sender_address("x@y.fr").addr_spec == "x@y.fr"


def test_emails_built_in_turn_keep_their_own_headers_and_bodies() -> None:
    """Cached header lines never leak between e-mails: each has its own To, Subject, Message-ID
    and body, and its boundaries are distinct and absent from its bodies."""
    first = replace(FRENCH.activation_email("a@b.fr", "Jane", PAYLOAD, 60), message_id="m1")
    second = replace(FRENCH.activation_email("c@d.fr", "Éloïse", PAYLOAD.replace("Q", "R"), 30),
                     subject="Autre sujet", message_id="m2")
    messages = [_round_trip(e) for e in (first, second, first, second)]
    for message, email in zip(messages, (first, second, first, second), strict=True):
        assert message["To"] == email.to
        assert message["Subject"] == email.subject
        assert message["Message-ID"] == f"<{email.message_id}@ecps-workflow>"
        text = message.get_body(("plain",))
        assert text is not None
        assert text.get_content().replace("\r\n", "\n") == email.text.replace("\r\n", "\n")
        boundaries = [p.get_boundary() for p in message.walk() if p.is_multipart()]
        assert len(set(boundaries)) == 3
    assert messages[0]["Content-Type"] != messages[2]["Content-Type"]  # fresh boundaries


def test_text_that_looks_like_an_encoded_word_stays_as_written() -> None:
    """`=?...?=` in a subject, a sender name or a filename is encoded, not decoded on arrival."""
    png = Attachment("a =?utf-8?q?x?= b.png", "image/png", b"\x89PNG", "")
    email = Email("a@b.fr", "=?utf-8?q?x?= s", "t", "", (png,), "m1", "=?utf-8?b?eA==?=")
    message = _round_trip(email)
    assert str(message["Subject"]) == "=?utf-8?q?x?= s"
    assert message["From"].addresses[0].display_name == "=?utf-8?b?eA==?="
    assert [p.get_filename() for p in message.iter_attachments()] == ["a =?utf-8?q?x?= b.png"]


def test_long_and_non_ascii_filenames_and_odd_types() -> None:
    """A long UTF-8 filename comes back whole (RFC 2231 sections); an unusable media type is
    application/octet-stream; header lines stay within 78 characters."""
    name = "Numérisation du dossier " * 8 + ".pdf"
    odd = Attachment(name, "application/pdf; name=x", b"%PDF", "")
    raw = render(Email("a@b.fr", "Sujet", "t", "", (odd,)), sender=sender_address(DEFAULT_SENDER),
                 now=NOW)
    head = raw.split(b"\r\n\r\n--")[-1]
    assert max(map(len, head.split(b"\r\n"))) <= 78
    (part,) = message_from_bytes(raw, policy=policy.default).iter_attachments()
    assert part.get_filename() == name.strip()
    assert part.get_content_type() == "application/octet-stream"
    assert part.get_payload(decode=True) == b"%PDF"


@pytest.mark.parametrize(("key", "domain"), [("a b", "ecps-workflow"), ("x\r\nBcc: y", "d"),
                                             ("k", "d>\r\nBcc: y"), ("k", "")])
def test_a_key_or_domain_unfit_for_a_message_id_is_refused(key: str, domain: str) -> None:
    """`render` writes the Message-ID from plain identifiers only."""
    with pytest.raises(ValueError, match="plain identifiers"):
        render(FRENCH.replacement_notice("a@b.fr", "J"), sender=sender_address(DEFAULT_SENDER),
               now=NOW, key=key, domain=domain)
