"""`MailerContract`, `SmsContract`, `DirectoryContract`: the tests every delivery and directory
adapter passes, fake or real; subclass one with your adapter's factory.

    class TestMyMailer(MailerContract):
        def make_mailer(self): return MyMailer(...)
        def delivered(self, mailer): return what_the_far_side_received()  # Email values or MIME bytes
        def make_unreachable_mailer(self): return MyMailer(down)           # optional

Each test names the rule of docs/specification.md it checks (`@requirement`, see `requirements.py`).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from email import message_from_bytes, policy
from email.headerregistry import AddressHeader
from email.message import EmailMessage

import pytest

from workflow import qr
from workflow.errors import DeliveryFailed, DirectoryUnavailable
from workflow.messages import Attachment, DirectoryEntry, Email, Sms
from workflow.ports import Directory, Mailer, SmsGateway
from workflow.templates import FRENCH
from workflow.testing.requirements import requirement

__all__ = ["DirectoryContract", "MailerContract", "SmsContract", "decode_qr", "email_from_mime"]

TO = "jane.doe@domain.fr"
PHONE = "0639980078"
OTHERS = ("marc.dupont@hopital.fr", "lea.martin@cabinet.fr")  # more professionals, more numbers
OTHER_PHONES = ("0612345678", "0700112233")
NID, NID2 = "899700366240", "810100000008"
_INJECTED = "\r\nBcc: intrus@evil.example"
_PNG = b"\x89PNG\r\n\x1a\n"


def decode_qr(png: bytes) -> list[str]:
    """The texts of the QR codes in a PNG image (`workflow.qr.decode`: zxing-cpp, a real decoder)."""
    return qr.decode(png)


def email_from_mime(raw: bytes) -> Email:
    """An `Email` value read back from a MIME message (an inline image that is also attached is
    one `Attachment` with its `content_id`, as in `workflow.messages`)."""
    msg = _parse(raw)
    to_header = msg["To"]
    to = str(to_header)
    if isinstance(to_header, AddressHeader) and len(to_header.addresses) == 1:
        to = to_header.addresses[0].addr_spec
    from_header = msg["From"]
    sender = ""
    if isinstance(from_header, AddressHeader) and from_header.addresses:
        sender = from_header.addresses[0].display_name
    text, html = msg.get_body(("plain",)), msg.get_body(("html",))
    inline: list[Attachment] = []
    attached: list[Attachment] = []
    for part in msg.walk():
        if part.is_multipart() or part is text or part is html:
            continue
        data = part.get_payload(decode=True)
        item = Attachment(part.get_filename() or "", part.get_content_type(),
                          data if isinstance(data, bytes) else b"",
                          str(part.get("Content-ID") or "").strip().strip("<>"))
        (attached if part.get_content_disposition() == "attachment" else inline).append(item)
    merged = [next((replace(a, content_id=i.content_id) for i in inline if i.data == a.data), a)
              for a in attached]
    merged += [i for i in inline if all(i.data != a.data for a in attached)]
    return Email(to, str(msg["Subject"] or ""), _content(text), _content(html), tuple(merged),
                 str(msg["Message-ID"] or "").strip().strip("<>"), sender)


@dataclass(frozen=True, slots=True)
class _Delivered:
    """One delivered e-mail as a value, and its MIME form when the adapter gave bytes."""

    email: Email
    mime: EmailMessage | None
    raw: bytes = b""


def _qr_images(got: _Delivered) -> list[bytes]:
    """The PNG images of a delivered e-mail (its MIME parts when it came as bytes)."""
    if got.mime is not None:
        images = [p.get_payload(decode=True) for p in got.mime.walk()
                  if p.get_content_type() == "image/png"]
        return [i for i in images if isinstance(i, bytes)]
    return [a.data for a in got.email.attachments if a.content_type == "image/png"]


def _parse(raw: bytes) -> EmailMessage:
    return message_from_bytes(raw, policy=policy.default)


def _content(part: object) -> str:
    return str(part.get_content()) if isinstance(part, EmailMessage) else ""


def _lines(text: str) -> str:
    return text.replace("\r\n", "\n").rstrip()


def _refusal(mailer: Mailer, email: Email) -> DeliveryFailed | None:
    """The `DeliveryFailed` that `send` raised, or None when it accepted the e-mail."""
    try:
        mailer.send(email)
    except DeliveryFailed as exc:
        return exc
    return None


def _payload() -> str:
    return f"ecps://activation?a=contract{secrets.token_hex(4)}&t={secrets.token_urlsafe(32)}"


class MailerContract:
    """What the engine relies on from a `Mailer`; pytest runs it in each `Test...` subclass."""

    def make_mailer(self) -> Mailer:
        """A fresh mailer whose far side is up."""
        raise NotImplementedError

    def delivered(self, mailer: Mailer) -> Sequence[Email | bytes]:
        """What the far side received so far, oldest first: `Email` values or raw MIME bytes."""
        raise NotImplementedError

    def make_unreachable_mailer(self) -> Mailer | None:
        """A mailer whose far side is down, or None to skip that test."""
        return None

    def _send(self, email: Email) -> list[_Delivered]:
        mailer = self.make_mailer()
        mailer.send(email)
        return self._received(mailer)

    def _received(self, mailer: Mailer) -> list[_Delivered]:
        out = []
        for item in self.delivered(mailer):
            if isinstance(item, Email):
                out.append(_Delivered(item, None))
            else:
                out.append(_Delivered(email_from_mime(item), _parse(item), item))
        return out

    def _activation(self, message_id: str = "", to: str = TO) -> tuple[Email, str]:
        payload = _payload()
        email = FRENCH.activation_email(to, "Dr Jane Doe", payload, 60)
        return replace(email, message_id=message_id or secrets.token_hex(16)), payload

    @requirement("REQ-4-DELIVERY")
    def test_the_mailer_implements_the_port(self) -> None:
        """The mailer is a `Mailer` (it has `send`)."""
        assert isinstance(self.make_mailer(), Mailer)

    @requirement("REQ-4-DELIVERY")
    def test_an_accepted_email_reaches_its_recipient_once(self) -> None:
        """Once `send` returns, the far side holds that one e-mail, to that address."""
        email, _ = self._activation()
        got = self._send(email)
        assert len(got) == 1
        assert got[0].email.to == TO
        assert got[0].email.subject == email.subject

    @requirement("REQ-4-DELIVERY", "REQ-6-AT-LEAST-ONCE")
    def test_every_accepted_email_arrives_in_order(self) -> None:
        """Several e-mails to one address (an activation e-mail, then resent ones) all arrive, in order."""
        mailer = self.make_mailer()
        sent = [self._activation() for _ in range(4)]
        for email, _ in sent:
            mailer.send(email)
        got = self._received(mailer)
        assert len(got) == len(sent), (f"{len(sent)} e-mails were accepted and {len(got)} arrived: "
                                       "an accepted e-mail was lost")
        assert [payload in _lines(g.email.text).split("\n")
                for g, (_, payload) in zip(got, sent, strict=True)] == [True] * len(sent), \
            "the e-mails arrived in another order than they were sent"
        for n, (g, (_, payload)) in enumerate(zip(got, sent, strict=True), start=1):
            images = _qr_images(g)
            assert images, f"e-mail {n} of {len(sent)} has no QR code"
            assert all(decode_qr(i) == [payload] for i in images), \
                f"e-mail {n} of {len(sent)} does not carry its own QR code"

    @requirement("REQ-4-DELIVERY", "REQ-5-NO-LEAK")
    def test_each_email_reaches_its_own_recipient_with_its_own_qr(self) -> None:
        """E-mails to several professionals, one after the other: each arrives at its own
        address only, with its own QR code (never another's link in someone's mailbox)."""
        mailer = self.make_mailer()
        sent = [self._activation(to=to) for to in (TO, OTHERS[0], TO, OTHERS[1])]
        for email, _ in sent:
            mailer.send(email)
        got = self._received(mailer)
        assert len(got) == len(sent), f"{len(sent)} e-mails were accepted and {len(got)} arrived"
        assert [g.email.to for g in got] == [e.to for e, _ in sent], \
            "an e-mail arrived at another address than the one it was sent to"
        for n, (g, (_, payload)) in enumerate(zip(got, sent, strict=True), start=1):
            assert payload in _lines(g.email.text).split("\n"), f"e-mail {n} carries another's link"
            assert all(decode_qr(i) == [payload] for i in _qr_images(g)), \
                f"e-mail {n} carries another's QR code"

    @requirement("REQ-4-EMAIL-QR")
    def test_the_text_part_carries_the_payload_verbatim(self) -> None:
        """The text part holds the deep link exactly, on a line of its own."""
        email, payload = self._activation()
        (got,) = self._send(email)
        assert payload in _lines(got.email.text).split("\n")

    @requirement("REQ-4-EMAIL-QR")
    def test_the_qr_png_is_attached_and_decodes_to_the_payload(self) -> None:
        """A PNG attachment carries the QR, and every image decodes to exactly the payload."""
        email, payload = self._activation()
        (got,) = self._send(email)
        pngs = [a for a in got.email.attachments if a.content_type == "image/png"]
        assert pngs
        assert all(a.data.startswith(_PNG) and a.filename.endswith(".png") for a in pngs)
        if got.mime is not None:
            parts = [p for p in got.mime.walk() if p.get_content_type() == "image/png"]
            assert any(p.get_content_disposition() == "attachment" for p in parts)
        for image in _qr_images(got):
            assert decode_qr(image) == [payload]

    @requirement("REQ-4-EMAIL-QR")
    def test_the_html_part_shows_the_qr_inline(self) -> None:
        """The HTML's `cid:` image resolves to the QR PNG, in the same multipart/related."""
        email, payload = self._activation()
        (got,) = self._send(email)
        cids = re.findall(r"src=\"cid:([^\"]+)\"", got.email.html)
        assert cids
        shown = [a for a in got.email.attachments if a.content_id in cids]
        assert shown
        assert all(a.content_type == "image/png" and decode_qr(a.data) == [payload] for a in shown)
        if got.mime is not None:
            for related in (p for p in got.mime.walk() if p.get_content_type() == "multipart/related"):
                inside = list(related.walk())
                html = [p for p in inside if p.get_content_type() == "text/html"]
                ids = {str(p.get("Content-ID", "")).strip("<>") for p in inside}
                if html and set(cids) <= ids:
                    break
            else:
                pytest.fail("no multipart/related holds both the HTML and its cid: images")

    @requirement("REQ-1-WORDING")
    def test_french_texts_and_names_arrive_intact(self) -> None:
        """Subject, texts and sender name with accents arrive as sent."""
        email = replace(FRENCH.replacement_notice(TO, "Dr Hélène Lefèvre-Dupré"),
                        message_id=secrets.token_hex(16))
        (got,) = self._send(email)
        assert got.email.subject == email.subject
        assert _lines(got.email.text) == _lines(email.text)
        assert "Hélène Lefèvre-Dupré" in got.email.html
        assert got.email.sender_name == email.sender_name
        assert not [a for a in got.email.attachments if a.content_type.startswith("image/")]

    @requirement("REQ-6-AT-LEAST-ONCE")
    def test_a_retried_message_keeps_its_message_id(self) -> None:
        """Sending one outbox message twice yields copies that share one non-empty id."""
        email, _ = self._activation()
        mailer = self.make_mailer()
        mailer.send(email)
        mailer.send(email)
        ids = {d.email.message_id for d in self._received(mailer)}
        assert len(ids) == 1
        assert "" not in ids
        assert email.message_id in ids.pop()

    @requirement("REQ-6-AT-LEAST-ONCE")
    def test_distinct_messages_have_distinct_ids(self) -> None:
        """Two outbox messages are told apart by their message ids."""
        mailer = self.make_mailer()
        for _ in range(2):
            mailer.send(self._activation()[0])
        got = self._received(mailer)
        assert len({d.email.message_id for d in got}) == len(got) == 2

    @requirement("REQ-5-HEADERS")
    @pytest.mark.parametrize("field", ["to", "subject", "sender_name"])
    def test_contact_data_never_becomes_a_header(self, field: str) -> None:
        """CR/LF in an address, subject or name is refused (permanently) or encoded, never a header."""
        email, _ = self._activation()
        email = replace(email, **{field: getattr(email, field) + _INJECTED})
        mailer = self.make_mailer()
        refused = _refusal(mailer, email)
        if refused is not None:
            assert not refused.transient
            assert TO not in str(refused)
        for got in self._received(mailer):
            if got.mime is None:
                continue
            head = re.sub(rb"\r?\n[ \t]", b" ", re.split(rb"\r?\n\r?\n", got.raw, maxsplit=1)[0])
            names = [line.split(b":", 1)[0].strip().lower() for line in head.splitlines()]
            assert b"bcc" not in names
            assert names.count(b"to") == 1
            to_header = got.mime["To"]
            assert isinstance(to_header, AddressHeader)
            assert len(to_header.addresses) == 1

    @requirement("REQ-5-HEADERS")
    def test_a_list_of_addresses_is_not_one_recipient(self) -> None:
        """An address with a comma and a second address reaches at most one mailbox."""
        email, _ = self._activation()
        mailer = self.make_mailer()
        refused = _refusal(mailer, replace(email, to=f"{TO}, intrus@evil.example"))
        if refused is not None:
            assert not refused.transient
        for got in self._received(mailer):
            if got.mime is not None:
                to_header = got.mime["To"]
                assert isinstance(to_header, AddressHeader)
                assert len(to_header.addresses) <= 1

    @requirement("REQ-4-DELIVERY", "REQ-4-ERRORS", "REQ-5-NO-LEAK")
    def test_an_unreachable_far_side_is_a_transient_failure(self) -> None:
        """A mailer that cannot deliver raises `DeliveryFailed(transient=True)` naming no contact."""
        mailer = self.make_unreachable_mailer()
        if mailer is None:
            pytest.skip("no unreachable mailer given (make_unreachable_mailer)")
        email, payload = self._activation()
        with pytest.raises(DeliveryFailed) as caught:
            mailer.send(email)
        assert caught.value.transient
        for secret in (TO, payload, payload.split("t=")[1]):  # the address, the link, the token alone
            assert secret not in str(caught.value)


class SmsContract:
    """What the engine relies on from an `SmsGateway`; pytest runs it in each `Test...` subclass.

    `code_occurrences` is how often the delivered text carries the code (2 when the gateway adds
    a WebOTP line `@domain #code`); it stays the only number of its length either way.
    """

    code_occurrences = 1

    def make_gateway(self) -> SmsGateway:
        """A fresh gateway whose far side is up."""
        raise NotImplementedError

    def delivered(self, gateway: SmsGateway) -> Sequence[Sms]:
        """The SMS the far side received so far, oldest first, with their message ids."""
        raise NotImplementedError

    def make_unreachable_gateway(self) -> SmsGateway | None:
        """A gateway whose far side is down, or None to skip that test."""
        return None

    def number_as_delivered(self, number: str) -> str:
        """How the far side writes `number` (a gateway may put it in international form)."""
        return number

    def _send(self, digits: int = 6) -> tuple[Sms, Sms]:
        code = "".join(secrets.choice("0123456789") for _ in range(digits))
        sms = Sms(PHONE, FRENCH.sms_text(code, 5), secrets.token_hex(16))
        gateway = self.make_gateway()
        gateway.send(sms)
        got = self.delivered(gateway)
        assert len(got) == 1
        return sms, got[0]

    @requirement("REQ-4-DELIVERY")
    def test_the_gateway_implements_the_port(self) -> None:
        """The gateway is an `SmsGateway` (it has `send`)."""
        assert isinstance(self.make_gateway(), SmsGateway)

    @requirement("REQ-4-DELIVERY", "REQ-6-AT-LEAST-ONCE")
    def test_an_accepted_sms_reaches_its_number_once_with_its_id(self) -> None:
        """Once `send` returns, the far side holds that one SMS, for that number, with its id."""
        sent, got = self._send()
        assert got.to == self.number_as_delivered(sent.to)
        assert got.message_id == sent.message_id

    @requirement("REQ-4-DELIVERY", "REQ-6-AT-LEAST-ONCE")
    def test_every_accepted_sms_arrives_in_order(self) -> None:
        """Several SMS to one number (a code, then resent codes) all arrive, in order, with their ids."""
        gateway = self.make_gateway()
        sent = [Sms(PHONE, FRENCH.sms_text(f"{n}93817", 5), secrets.token_hex(16)) for n in (4, 5, 6)]
        for sms in sent:
            gateway.send(sms)
        got = self.delivered(gateway)
        assert [(s.to, s.message_id) for s in got] == [
            (self.number_as_delivered(s.to), s.message_id) for s in sent]
        for n, (s, first) in enumerate(zip(got, (4, 5, 6), strict=True), start=1):
            runs = re.findall(r"(?<!\d)\d{6}(?!\d)", s.text)
            assert runs == [f"{first}93817"] * self.code_occurrences, \
                f"SMS {n} of 3 does not carry its code as the only number of its length"

    @requirement("REQ-4-DELIVERY", "REQ-5-NO-LEAK")
    def test_each_sms_reaches_its_own_number_with_its_own_code(self) -> None:
        """SMS to several numbers, one after the other: each arrives at its own number only,
        with its own code (never another's code on someone's phone)."""
        gateway = self.make_gateway()
        numbers = (PHONE, OTHER_PHONES[0], PHONE, OTHER_PHONES[1])
        codes = ("493817", "572046", "618390", "730154")
        sent = [Sms(to, FRENCH.sms_text(code, 5), secrets.token_hex(16))
                for to, code in zip(numbers, codes, strict=True)]
        for sms in sent:
            gateway.send(sms)
        got = self.delivered(gateway)
        assert len(got) == len(sent), f"{len(sent)} SMS were accepted and {len(got)} arrived"
        assert [s.to for s in got] == [self.number_as_delivered(s.to) for s in sent], \
            "an SMS arrived at another number than the one it was sent to"
        for n, (s, code) in enumerate(zip(got, codes, strict=True), start=1):
            assert re.findall(r"(?<!\d)\d{6}(?!\d)", s.text) == [code] * self.code_occurrences, \
                f"SMS {n} of {len(sent)} carries another code than its own"

    @requirement("REQ-4-SMS-CODE")
    @pytest.mark.parametrize("code", ["039347", "0000512", "00731948"])
    def test_a_code_that_begins_with_zeros_keeps_them(self, code: str) -> None:
        """A code is text: its leading zeros arrive (a code read as a number would lose them)."""
        gateway = self.make_gateway()
        gateway.send(Sms(PHONE, FRENCH.sms_text(code, 5), secrets.token_hex(16)))
        got = self.delivered(gateway)
        assert len(got) == 1, f"1 SMS was accepted and {len(got)} arrived"
        runs = re.findall(rf"(?<!\d)\d{{{len(code)}}}(?!\d)", got[0].text)
        assert runs == [code] * self.code_occurrences, \
            f"the code {code} arrived as {runs or 'no number of its length'}"

    @requirement("REQ-4-SMS-CODE")
    @pytest.mark.parametrize("digits", [6, 7, 8])
    def test_the_code_is_the_only_number_of_its_length(self, digits: int) -> None:
        """Every number of the code's length in the delivered text is the code."""
        sent, got = self._send(digits)
        code = re.findall(rf"(?<!\d)\d{{{digits}}}(?!\d)", sent.text)[0]
        runs = re.findall(rf"(?<!\d)\d{{{digits}}}(?!\d)", got.text)
        assert runs == [code] * self.code_occurrences

    @requirement("REQ-1-WORDING")
    def test_the_text_arrives_intact(self) -> None:
        """The delivered text starts with the text sent, accents included."""
        code = "493817"
        sms = Sms(PHONE, f"e-CPS : votre code de sécurité est {code}. Ne le donnez à personne.",
                  secrets.token_hex(16))
        gateway = self.make_gateway()
        gateway.send(sms)
        (got,) = self.delivered(gateway)
        assert got.text.startswith(sms.text)

    @requirement("REQ-4-DELIVERY", "REQ-4-ERRORS", "REQ-5-NO-LEAK")
    def test_an_unreachable_far_side_is_a_transient_failure(self) -> None:
        """A gateway that cannot deliver raises `DeliveryFailed(transient=True)` naming no secret."""
        gateway = self.make_unreachable_gateway()
        if gateway is None:
            pytest.skip("no unreachable gateway given (make_unreachable_gateway)")
        sms = Sms(PHONE, FRENCH.sms_text("493817", 5), secrets.token_hex(16))
        with pytest.raises(DeliveryFailed) as caught:
            gateway.send(sms)
        assert caught.value.transient
        for secret in ("493817", PHONE, PHONE[1:], self.number_as_delivered(PHONE)):  # any form of the number
            assert secret not in str(caught.value)


class DirectoryContract:
    """What the engine relies on from a `Directory`; pytest runs it in each `Test...` subclass."""

    def make_directory(self, entries: Sequence[DirectoryEntry]) -> Directory:
        """A fresh directory that holds exactly `entries`."""
        raise NotImplementedError

    def make_unavailable_directory(self) -> Directory | None:
        """A directory that cannot answer (down, broken), or None to skip that test."""
        return None

    PEOPLE = (
        DirectoryEntry(NID, TO, PHONE, "Dr Jane Doe"),
        DirectoryEntry(NID2, "paul.martin@domain.fr", "0639980012", "Paul Martin"),
    )

    @requirement("REQ-4-DIRECTORY")
    def test_the_directory_implements_the_port(self) -> None:
        """The directory is a `Directory` (it has `lookup`)."""
        assert isinstance(self.make_directory(self.PEOPLE), Directory)

    @requirement("REQ-4-DIRECTORY")
    def test_lookup_returns_exactly_the_entry_asked(self) -> None:
        """Each identifier gives its own entry, contacts and name."""
        directory = self.make_directory(self.PEOPLE)
        for entry in self.PEOPLE:
            assert directory.lookup(entry.national_id) == entry

    @requirement("REQ-4-DIRECTORY")
    def test_an_unknown_or_near_identifier_is_none(self) -> None:
        """An identifier it does not hold, even one digit away, a prefix or longer, is None, also
        right after the ones it holds were looked up (a cache keyed on part of the identifier,
        or an answer kept from the previous lookup, would give another person's contacts)."""
        directory = self.make_directory(self.PEOPLE)
        for near in ("810000090125", NID[:-1], NID + "0", NID[:-1] + "1", "0" + NID[1:]):
            assert directory.lookup(near) is None
            for entry in self.PEOPLE:
                assert directory.lookup(entry.national_id) == entry
                assert directory.lookup(near) is None

    @requirement("REQ-4-DIRECTORY")
    def test_missing_contacts_are_none(self) -> None:
        """A contact the directory does not hold is None, not an empty text."""
        people = [DirectoryEntry(NID, None, PHONE, "Dr Anne Sanmail"),
                  DirectoryEntry(NID2, "bruno@domain.fr", None, "Dr Bruno Sansmobile")]
        directory = self.make_directory(people)
        assert directory.lookup(NID) == people[0]
        assert directory.lookup(NID2) == people[1]

    @requirement("REQ-1-WORDING", "REQ-4-DIRECTORY")
    def test_accented_names_arrive_intact(self) -> None:
        """A name with accents and a hyphen comes back as held."""
        entry = DirectoryEntry(NID, TO, PHONE, "Dr Hélène Lefèvre-Dupré")
        assert self.make_directory([entry]).lookup(NID) == entry

    @requirement("REQ-4-DIRECTORY", "REQ-4-ERRORS", "REQ-5-NO-LEAK")
    def test_a_directory_that_cannot_tell_raises_unavailable(self) -> None:
        """A broken or unreachable directory raises `DirectoryUnavailable`, naming no identifier."""
        directory = self.make_unavailable_directory()
        if directory is None:
            pytest.skip("no unavailable directory given (make_unavailable_directory)")
        with pytest.raises(DirectoryUnavailable) as caught:
            directory.lookup(NID)
        assert NID not in str(caught.value)
