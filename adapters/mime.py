"""The MIME form of a `workflow.messages.Email`, shared by the SMTP and the file mailers.

`render` writes the message's bytes directly (no `email.message` objects):

- layout: multipart/mixed > multipart/related(multipart/alternative(text/plain, text/html),
  inline images by Content-ID) + every attachment; a level with nothing to add is left out
  (no mixed without attachments, no related without an inline image, no alternative without
  HTML);
- headers: MIME-Version, From, To, Subject, Date, Message-ID, Auto-Submitted; text from data
  loses its control characters (CR and LF among them) first, so it never makes a header or a
  line of its own; what is not plain ASCII is written as RFC 2047 encoded words (UTF-8), a
  display name with specials as a quoted string or encoded words, a filename as a quoted
  string or RFC 2231 (UTF-8, in sections when long); lines are folded at 78 characters;
- bodies: texts quoted-printable UTF-8 (lines of at most 76), binaries base64 (76); CRLF line
  ends throughout, fresh boundaries per message.

The header lines that repeat from one e-mail to the next (the sender, the subject, the
attachments' headers) are kept in small bounded caches (`functools.lru_cache`, thread-safe).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from datetime import datetime
from email import policy
from email.headerregistry import Address, AddressHeader
from email.utils import format_datetime
from functools import lru_cache
from urllib.parse import quote

from workflow.errors import DeliveryFailed
from workflow.messages import Attachment, Email

MESSAGE_ID_DOMAIN = "ecps-workflow"
DEFAULT_SENDER = "e-CPS <no-reply@ecps.localhost>"

_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
_SAFE_ID = re.compile(r"(?=.{1,64}\Z)[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")  # a dot-atom, file-safe
_DOMAIN = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")
_ATEXT = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+")
_WORDS = re.compile(r"[!-~]+( [!-~]+)*")  # printable ASCII words, one space apart
_PRINTABLE = re.compile(r"[ -~]*")
_MEDIA_TYPE = re.compile(r"[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+")
_Q_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")
_ATTRIBUTE_SAFE = "!#$&+-.^_`|~"  # RFC 2231 attribute-char, beside letters and digits
_LINE = 78  # folded header lines are at most this long
_WORD = 66  # an encoded word or a plain word, so that it fits after "Content-ID: "
_CRLF = b"\r\n"
_HEAD = b"MIME-Version: 1.0\r\n"
_TAIL = b"Auto-Submitted: auto-generated\r\n"
_TEXT = {kind: f'Content-Type: text/{kind}; charset="utf-8"\r\n'
               "Content-Transfer-Encoding: quoted-printable\r\n".encode() for kind in ("plain", "html")}

_Part = tuple[bytes, bytes]  # (header lines, each ending in CRLF; body)


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


def render(email: Email, *, sender: Address, now: datetime, key: str = "",
           domain: str = MESSAGE_ID_DOMAIN) -> bytes:
    """The MIME message of `email` from `sender` (its display name unless `email.sender_name`),
    as the bytes to send; `key` is the `message_key`, computed when not given.

    A recipient that is not one plain address is a permanent `DeliveryFailed`; a `key` or
    `domain` unfit for a Message-ID is a `ValueError`.
    """
    to = recipient(email.to)
    key = key or message_key(email)
    if not _SAFE_ID.fullmatch(key) or not _DOMAIN.fullmatch(domain):
        raise ValueError("the message key and domain must be plain identifiers")
    name = _one_line(email.sender_name)[:120] or sender.display_name
    body = _alternative(email)
    inline = [a for a in email.attachments if a.content_id]
    if inline:
        body = _multipart("related", [body, *(_binary(a, "inline", a.content_id) for a in inline)])
    if email.attachments:
        body = _multipart("mixed", [body, *(_binary(a, "attachment", "") for a in email.attachments)])
    return b"".join((
        _HEAD, _from(name, sender.addr_spec), b"To: ", to.encode(), _CRLF,
        _unstructured("Subject", _CONTROL.sub(" ", email.subject).strip()),
        b"Date: ", format_datetime(now).encode(), _CRLF,
        b"Message-ID: <", key.encode(), b"@", domain.encode(), b">\r\n", _TAIL,
        body[0], _CRLF, body[1],
    ))


def _boundary() -> str:
    """A fresh multipart boundary. `=_` never occurs in the quoted-printable and base64 bodies
    this module writes, nor at the start of a header line."""
    return f"=_ecps_{secrets.token_hex(12)}"


def _alternative(email: Email) -> _Part:
    text = (_TEXT["plain"], _quoted_printable(email.text))
    if not email.html:
        return text
    return _multipart("alternative", [text, (_TEXT["html"], _quoted_printable(email.html))])


def _multipart(subtype: str, parts: list[_Part]) -> _Part:
    boundary = _boundary()
    head = _fold("Content-Type", [f"multipart/{subtype};", f'boundary="{boundary}"'])
    start = f"--{boundary}\r\n".encode()
    body = b"".join(b"".join((start, h, _CRLF, b, _CRLF)) for h, b in parts)
    return head, body + f"--{boundary}--\r\n".encode()


def _binary(a: Attachment, disposition: str, content_id: str) -> _Part:
    return _binary_head(a.content_type, disposition, a.filename, content_id), \
        base64.encodebytes(a.data).replace(b"\n", _CRLF)


@lru_cache(maxsize=256)
def _binary_head(content_type: str, disposition: str, filename: str, content_id: str) -> bytes:
    """The header lines of a base64 part; an unusable media type is application/octet-stream."""
    media = content_type.lower() if _MEDIA_TYPE.fullmatch(content_type) else "application/octet-stream"
    name = _one_line(filename)
    lines = [f"Content-Type: {media}\r\nContent-Transfer-Encoding: base64\r\n".encode(),
             _fold("Content-Disposition", [f"{disposition};", *_filename(name)] if name
                   else [disposition])]
    if content_id:
        lines.append(_unstructured("Content-ID", f"<{_one_line(content_id)}>"))
    return b"".join(lines)


def _quoted_printable(text: str) -> bytes:
    """`text` in UTF-8, its line ends (CR, LF, CRLF) made CRLF and one added at its end,
    quoted-printable in lines of at most 76 characters."""
    data = text.encode().replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if not data.endswith(b"\n"):
        data += b"\n"
    return binascii.b2a_qp(data, istext=True).replace(b"\n", _CRLF)


@lru_cache(maxsize=64)
def _from(name: str, addr: str) -> bytes:
    """The From line: `name` as a phrase, or as a quoted string (folded at its spaces) when it
    is printable ASCII with specials; then `<addr>`."""
    if not name:
        return _fold("From", [addr])
    words = _phrase(name)
    if any(w.startswith("=?") for w in words) and "=?" not in name and _PRINTABLE.fullmatch(name):
        words = ('"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"').split(" ")
    return _fold("From", [*words, f"<{addr}>"])


def _phrase(name: str) -> list[str]:
    """`name` as RFC 5322 phrase words: its atoms as they are (a long one unbroken), each run
    of other words (with the spaces inside it) as encoded words.

    A space between an atom and an encoded word is the one space between them in `name`; a
    run of spaces is encoded with its neighbours, as parsers keep one space between words. A
    run too long for one encoded word is split in several, which RFC 2047 reads back joined.
    (Python's `email` parser reads a phrase's encoded words less faithfully: it makes each run
    of spaces in them one space, and puts one between adjacent encoded words.)
    """
    words = name.split(" ")
    plain = [bool(_ATEXT.fullmatch(w)) and "=?" not in w for w in words]
    for i, word in enumerate(words):
        if not word:  # two spaces in a row (or one at an end): encode them with their neighbours
            plain[max(i - 1, 0):i + 2] = [False] * len(plain[max(i - 1, 0):i + 2])
    found: list[str] = []
    run: list[str] = []
    for word, is_plain in zip(words, plain, strict=True):
        if not is_plain:
            run.append(word)
            continue
        if run:
            found += _encoded_words(" ".join(run))
            run = []
        found.append(word)
    if run:
        found += _encoded_words(" ".join(run))
    return found


@lru_cache(maxsize=256)
def _unstructured(name: str, text: str) -> bytes:
    """The header line `name: text`: plain when `text` is short printable ASCII words one space
    apart (and no `=?`), else RFC 2047 encoded words."""
    if not text:
        return f"{name}: \r\n".encode()
    if "=?" not in text and _WORDS.fullmatch(text) and max(map(len, text.split(" "))) <= _WORD:
        return _fold(name, text.split(" "))
    return _fold(name, _encoded_words(text))


def _encoded_words(text: str) -> list[str]:
    """`text` as RFC 2047 Q-encoded UTF-8 words of at most `_WORD` characters, each holding
    whole characters; only letters, digits and `!*+-/` stay as they are (fit for a phrase)."""
    words: list[str] = []
    room = _WORD - len("=?utf-8?q??=")
    current = ""
    for char in text:
        if char in _Q_SAFE:
            q = char
        elif char == " ":
            q = "_"
        else:
            q = "".join(f"={b:02X}" for b in char.encode())
        if len(current) + len(q) > room:
            words.append(f"=?utf-8?q?{current}?=")
            current = ""
        current += q
    words.append(f"=?utf-8?q?{current}?=")
    return words


def _filename(name: str) -> list[str]:
    """The filename parameter: a quoted string when short printable ASCII, else RFC 2231
    (UTF-8, percent-encoded), in numbered sections that each hold whole characters if long."""
    quoted = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if "=?" not in name and _PRINTABLE.fullmatch(name) and len("filename=" + quoted) < _LINE:
        return ["filename=" + quoted]
    encoded = quote(name, safe=_ATTRIBUTE_SAFE)
    if len("filename*=utf-8''" + encoded) < _LINE:
        return ["filename*=utf-8''" + encoded]
    sections: list[str] = []
    current = ""
    for char in name:
        q = quote(char, safe=_ATTRIBUTE_SAFE)
        start = f"filename*{len(sections)}*=" + ("" if sections else "utf-8''")
        if current and len(start + current + q) + 1 >= _LINE:  # + 1: the ";" after it
            sections.append(f"{start}{current};")
            current = ""
        current += q
    sections.append(f"filename*{len(sections)}*=" + ("" if sections else "utf-8''") + current)
    return sections


def _fold(name: str, words: list[str]) -> bytes:
    """`name: words` one space apart, a line break before a word that would pass `_LINE`
    (never before an empty word, so that no line is only spaces)."""
    lines: list[str] = []
    line = name + ":"
    for word in words:
        if word and len(line) + 1 + len(word) > _LINE and line != name + ":":
            lines.append(line)
            line = ""
        line += " " + word
    lines.append(line)
    return ("\r\n".join(lines) + "\r\n").encode()


def _one_line(text: str) -> str:
    return _CONTROL.sub("", text).strip()
