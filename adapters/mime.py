"""The MIME form of a `workflow.messages.Email`, shared by the SMTP and the file mailers.

Layout: multipart/mixed > multipart/related(multipart/alternative(text, html), inline images by
Content-ID) + every attachment; headers RFC 2047-encoded UTF-8; never a header from data.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from datetime import datetime
from email import policy
from email.headerregistry import Address, AddressHeader, BaseHeader, HeaderRegistry
from email.message import EmailMessage, MIMEPart
from email.policy import EmailPolicy
from email.utils import format_datetime
from typing import Any, cast

from workflow.errors import DeliveryFailed
from workflow.messages import Attachment, Email

MESSAGE_ID_DOMAIN = "ecps-workflow"
DEFAULT_SENDER = "e-CPS <no-reply@ecps.localhost>"
_KEPT_HEADERS = 512  # parsed header values kept (most repeat from one e-mail to the next)


class _KeptHeaders(HeaderRegistry):
    """The header registry, its header classes made once and its recent parses kept.

    Parsing headers is most of the cost of building a message, and most of an e-mail's
    headers (MIME-Version, the parts' Content-Type and Content-Transfer-Encoding, the
    sender, the subject) are the same from one e-mail to the next. A parsed header is an
    immutable `str`, so one parse serves every message that has it.
    """

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}
        self._parsed: dict[tuple[str, str], BaseHeader] = {}
        self._lock = threading.Lock()

    def __getitem__(self, name: str) -> type[BaseHeader]:
        found = self._classes.get(name.lower())
        if found is None:
            found = self._classes[name.lower()] = super().__getitem__(name)
        return found

    def __call__(self, name: str, value: Any) -> BaseHeader:
        if type(value) is not str:
            return super().__call__(name, value)
        with self._lock:
            found = self._parsed.pop((name, value), None)
        if found is None:
            found = super().__call__(name, value)
        with self._lock:
            self._parsed[(name, value)] = found  # last: the most recent are kept
            if len(self._parsed) > _KEPT_HEADERS:
                del self._parsed[next(iter(self._parsed))]
        return found


class _KeptFolds(EmailPolicy):
    """The SMTP policy, each parsed header's folded form kept on it once made.

    A kept header (see `_KeptHeaders`) is one object per name and raw value, and its fold
    depends on that and the policy only, so the same header in the next e-mail is written
    without folding it again.
    """

    def fold_binary(self, name: str, value: Any) -> bytes:
        if not isinstance(value, BaseHeader):
            return super().fold_binary(name, value)
        key = (self.linesep, self.max_line_length, self.utf8, self.cte_type)
        folds: dict[tuple[object, ...], bytes] = value.__dict__.setdefault("_ecps_folds", {})
        found = folds.get(key)
        if found is None:
            found = folds[key] = super().fold_binary(name, value)
        return found


POLICY = _KeptFolds(**policy.SMTP.__dict__ | {"header_factory": _KeptHeaders()})
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
_SAFE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")


def recipient(to: str) -> str:
    """`to` if it is one plain address; anything else is a permanent `DeliveryFailed`."""
    if not isinstance(to, str) or len(to) > 254 or not _ADDRESS.fullmatch(to):
        raise DeliveryFailed("the recipient is not one plain e-mail address", transient=False)
    return to


def sender_address(sender: str) -> Address:
    """The From address of `"Name <addr>"` or `"addr"`; `ValueError` when unusable."""
    if not isinstance(sender, str) or _CONTROL.search(sender):
        raise ValueError("the sender must be one line of text")
    header = policy.default.header_factory("From", sender)
    found = header.addresses if isinstance(header, AddressHeader) else ()
    if header.defects or len(found) != 1 or not _ADDRESS.fullmatch(found[0].addr_spec):
        raise ValueError(f"the sender {sender!r} is not one plain e-mail address")
    return Address(display_name=found[0].display_name, addr_spec=found[0].addr_spec)


def message_key(email: Email) -> str:
    """A file- and header-safe form of `email.message_id` (stable), random when it has none."""
    if _SAFE_ID.fullmatch(email.message_id):
        return email.message_id
    if email.message_id:
        return hashlib.sha256(email.message_id.encode()).hexdigest()[:32]
    return secrets.token_hex(16)


def build(email: Email, *, sender: Address, now: datetime, key: str = "",
          domain: str = MESSAGE_ID_DOMAIN) -> EmailMessage:
    """The MIME message of `email` from `sender` (its display name unless `email.sender_name`);
    `key` is the `message_key`, computed when not given."""
    msg = EmailMessage(policy=POLICY)
    msg["MIME-Version"] = "1.0"
    name = _one_line(email.sender_name)[:120] or sender.display_name
    msg["From"] = Address(display_name=name, addr_spec=sender.addr_spec)
    msg["To"] = Address(addr_spec=recipient(email.to))
    msg["Subject"] = _CONTROL.sub(" ", email.subject).strip()
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = f"<{key or message_key(email)}@{domain}>"
    msg["Auto-Submitted"] = "auto-generated"
    inline = [a for a in email.attachments if a.content_id]
    body = _alternative(email)
    if inline:
        related = _part()
        related.make_related(_boundary())
        related.attach(body)
        for a in inline:
            related.attach(_binary(a, "inline", cid=f"<{_one_line(a.content_id)}>"))
        body = related
    if not email.attachments:
        _adopt(msg, body)
        return msg
    msg.make_mixed(_boundary())
    msg.attach(body)
    for a in email.attachments:
        msg.attach(_binary(a, "attachment"))
    return msg


def _boundary() -> str:
    """A fresh multipart boundary. `=_` never occurs in the quoted-printable and base64 bodies
    this module writes, so the generator need not search them for it (its default does)."""
    return f"=_ecps_{secrets.token_hex(12)}"


def _part() -> EmailMessage:
    """A body part (typeshed's `attach` wants `EmailMessage`; a part has no MIME-Version)."""
    return cast(EmailMessage, MIMEPart(policy=POLICY))


def _alternative(email: Email) -> EmailMessage:
    part = _part()
    part.set_content(email.text, charset="utf-8", cte="quoted-printable")
    if email.html:
        part.make_alternative(_boundary())
        part.add_alternative(email.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return part


def _binary(a: Attachment, disposition: str, cid: str | None = None) -> EmailMessage:
    maintype, _, subtype = a.content_type.partition("/")
    if not (maintype and subtype) or _CONTROL.search(a.content_type):
        maintype, subtype = "application", "octet-stream"
    part = _part()
    part.set_content(a.data, maintype, subtype, disposition=disposition,
                     filename=_one_line(a.filename) or None, cid=cid)
    return part


def _adopt(msg: EmailMessage, part: EmailMessage) -> None:
    """Make `msg` carry `part`'s content (its Content-* headers and payload)."""
    for name, value in part.items():
        msg[name] = value
    msg.set_payload(part.get_payload())


def _one_line(text: str) -> str:
    return _CONTROL.sub("", text).strip()
