"""The demo's delivery: e-mails as `.eml` files in a folder, SMS appended to a file (only).

Also the small readers the demo's stand-in phone uses: the latest e-mail, its QR code, the codes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import stat
import threading
import time
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import TextIO, TypeVar

from PIL import Image

from adapters import mime
from workflow import qr
from workflow.clock import SystemClock
from workflow.errors import DeliveryFailed, StorageError
from workflow.messages import Email, Sms
from workflow.ports import Clock

T = TypeVar("T")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


class FileMailer:
    """Writes each e-mail as `<message_id>.eml` in `folder`, its attachments beside it."""

    def __init__(self, folder: str | os.PathLike[str], *, sender: str = mime.DEFAULT_SENDER,
                 clock: Clock | None = None) -> None:
        self.folder = Path(folder)
        self.sender = mime.sender_address(sender)
        self._clock = clock or SystemClock()

    def send(self, email: Email) -> None:
        """Write `email` (the same message id overwrites its earlier copy)."""
        key = mime.message_key(email)
        data = mime.render(email, sender=self.sender, now=self._clock.now(), key=key)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for a in email.attachments:
                name = _UNSAFE.sub("_", a.filename).strip("._") or "attachment"
                _write(self.folder / f"{key}-{name}", a.data)
            _write(self.folder / f"{key}.eml", data)  # last: a present .eml is complete
        except OSError as exc:
            raise DeliveryFailed(f"cannot write the e-mail file ({type(exc).__name__})") from exc


class FileSms:
    """Appends each SMS to `path` (mode 0600) as a JSON line; nothing else is written anywhere.

    The file is the stand-in phone: `read_sms_codes` reads it. An SMS holds a code, so it
    is never shown on a console or a log; `echo` and `stream` are accepted for older
    callers and have no effect.
    """

    def __init__(self, path: str | os.PathLike[str], echo: bool = False,
                 stream: TextIO | None = None, clock: Clock | None = None) -> None:
        del echo, stream  # the console never shows an SMS (it holds a code)
        self.path = Path(path)
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()

    def send(self, sms: Sms) -> None:
        """Append `sms` to the file."""
        line = json.dumps({"id": sms.message_id, "at": self._clock.now().isoformat(),
                           "to": sms.to, "text": sms.text}, ensure_ascii=False) + "\n"
        try:
            with self._lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                with open(fd, "a", encoding="utf-8") as out:
                    out.write(line)
        except OSError as exc:
            raise DeliveryFailed(f"cannot write the SMS file ({type(exc).__name__})") from exc


def wait_for(read: Callable[[], T | None], timeout: float = 30.0, every: float = 0.05) -> T:
    """The first value of `read()` that is not None (or empty), polled until `timeout` seconds.

    For stand-in phones waiting for the dispatcher: `wait_for(lambda: latest_eml(folder))`.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"nothing arrived within {timeout:g} s")
        time.sleep(every)


def read_sms(path: str | os.PathLike[str]) -> list[Sms]:
    """Every SMS `FileSms` wrote to `path`, oldest first (none if the file does not exist)."""
    damaged = StorageError(f"{path}: not an SMS file written by ecps (one JSON object a line)")
    try:
        lines = [line for line in read_capped(path).decode("utf-8").splitlines() if line.strip()]
        records = [json.loads(line) for line in lines]
        sms = [Sms(r["to"], r["text"], r.get("id", "")) for r in records]
    except FileNotFoundError:
        return []
    except (ValueError, TypeError, KeyError, AttributeError):  # not text, not JSON, not an SMS
        raise damaged from None
    if not all(isinstance(m.to, str) and isinstance(m.text, str) for m in sms):
        raise damaged
    return sms


def code_in(text: str, digits: int = 6) -> str | None:
    """The one number of `digits` digits in `text`, or None when there is none or several."""
    found = set(re.findall(rf"(?<![0-9]){'[0-9]' * digits}(?![0-9])", text))
    return found.pop() if len(found) == 1 else None


def read_sms_codes(path: str | os.PathLike[str], digits: int = 6) -> list[str]:
    """The codes of the SMS in `path`, oldest first."""
    return [code for sms in read_sms(path) if (code := code_in(sms.text, digits))]


def latest_eml(folder: str | os.PathLike[str]) -> Path | None:
    """The most recently written `.eml` file in `folder`, or None."""
    files = list(Path(folder).glob("*.eml")) if Path(folder).is_dir() else []
    return max(files, key=lambda p: (p.stat().st_mtime_ns, p.name), default=None)


MAX_READ = 16 * 1024 * 1024
"""Bytes of an image or an e-mail read from a file at most (an activation e-mail: some KiB)."""


def read_capped(path: str | os.PathLike[str], limit: int = MAX_READ) -> bytes:
    """The bytes of the regular file at `path`: `ValueError` if it is something else (a
    device, a pipe: never waited on) or holds more than `limit` bytes; `OSError` as `open`."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("it is not a regular file")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"it holds more than {limit // 2**20} MiB")
    return data


def read_eml(path: str | os.PathLike[str]) -> EmailMessage:
    """The parsed e-mail in `path` (`read_capped`)."""
    return message_from_bytes(read_capped(path), policy=policy.default)


def decode_qr(png: bytes) -> list[str]:
    """The texts of the QR codes in an image (`workflow.qr.decode`)."""
    return qr.decode(png)


def qr_payload(message: EmailMessage) -> str | None:
    """The text of the first QR code found in the e-mail's images (those that can be read),
    or None."""
    for part in message.walk():
        if part.get_content_type().startswith("image/"):
            data = part.get_payload(decode=True)
            if not isinstance(data, bytes):
                continue
            try:
                texts = decode_qr(data)
            except (OSError, Image.DecompressionBombError):  # not an image, or far too large
                continue
            if texts:
                return str(texts[0])
    return None


def _write(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically, readable by the owner only (mode 0600).

    A temporary file of a random name beside `path` is written, then renamed over `path`;
    it is removed if anything fails.
    """
    tmp = path.parent / f".tmp-{secrets.token_hex(8)}"
    fd = os.open(tmp, _NEW_FILE, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
