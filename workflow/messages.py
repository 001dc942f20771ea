"""The messages a professional receives, as plain values, and how they are built.

Texts are the default templates' (`workflow.templates.FRENCH`, the wording of the e-CPS
activation leaflet).
"""

from __future__ import annotations

from dataclasses import dataclass

from workflow import qr
from workflow.security import mask_email, mask_phone

QR_CONTENT_ID = "qr-activation"


def _sized(text: str) -> str:
    return f"<{len(text)} characters>"


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file carried by an e-mail; `content_id` set means it is also shown inline."""

    filename: str
    content_type: str
    data: bytes
    content_id: str = ""


@dataclass(frozen=True, slots=True)
class Email:
    """An e-mail to send; `message_id` identifies the outbox message across retries.

    `sender_name` is the display name a mailer puts in the From header ("" for its own).
    """

    to: str
    subject: str
    text: str
    html: str
    attachments: tuple[Attachment, ...] = ()
    message_id: str = ""
    sender_name: str = ""

    def __repr__(self) -> str:
        """The recipient masked and the texts by their length: the texts hold the QR token."""
        return (f"Email(to={mask_email(self.to)!r}, subject={self.subject!r}, text={_sized(self.text)}, "
                f"html={_sized(self.html)}, attachments=<{len(self.attachments)}>, "
                f"message_id={self.message_id!r}, sender_name={self.sender_name!r})")


@dataclass(frozen=True, slots=True)
class Sms:
    """An SMS to send."""

    to: str
    text: str
    message_id: str = ""

    def __repr__(self) -> str:
        """The number masked and the text by its length: the text holds the code."""
        return f"Sms(to={mask_phone(self.to)!r}, text={_sized(self.text)}, message_id={self.message_id!r})"


@dataclass(frozen=True, slots=True)
class Push:
    """A login notification to the app on device `to` (its push registration, not a person).

    It holds only the login id, the portal's display name and the binding message: no
    identifier, contact or secret; `message_id` identifies the outbox message across retries.
    """

    to: str
    login_id: str
    client_name: str
    binding_message: str
    message_id: str = ""


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """The directory's record of a professional; None for a contact it does not hold."""

    national_id: str
    email: str | None
    phone: str | None
    name: str = ""

    def __repr__(self) -> str:
        """The identifier and the contacts masked (a log line holds no full identifier or contact)."""
        nid = f"{self.national_id[:2]}****{self.national_id[-2:]}" if len(self.national_id) > 6 else "****"
        email = None if self.email is None else mask_email(self.email)
        phone = None if self.phone is None else mask_phone(self.phone)
        return f"DirectoryEntry(national_id={nid!r}, email={email!r}, phone={phone!r}, name={self.name!r})"


def qr_png(payload: str) -> bytes:
    """The QR code of `payload` as PNG bytes (drawn by `workflow.qr`)."""
    return qr.qr_png(payload)


def activation_email(to: str, name: str, payload: str, valid_minutes: int) -> Email:
    """The e-mail with the QR code to scan, and the same payload as a deep link (the French
    default texts, `workflow.templates.FRENCH`)."""
    from workflow.templates import FRENCH  # the templates build on this module's values

    return FRENCH.activation_email(to, name, payload, valid_minutes)


def sms_code_text(code: str, valid_minutes: int) -> str:
    """The SMS that carries the code, the only number of its length in the text (French)."""
    from workflow.templates import FRENCH

    return FRENCH.sms_text(code, valid_minutes)


def replacement_notice(to: str, name: str) -> Email:
    """The notice that a newly activated e-CPS replaced (revoked) the previous one (French)."""
    from workflow.templates import FRENCH

    return FRENCH.replacement_notice(to, name)
