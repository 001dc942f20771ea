"""Broken mailers, SMS gateways and directories, each with one bug a real adapter could have."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import replace

from adapters.memory import MemoryMailer, MemorySms, StaticDirectory
from workflow.messages import DirectoryEntry, Email, Sms


class AttachmentDroppingMailer(MemoryMailer):
    """Sends the text and HTML but drops the attachments (the QR PNG)."""

    def send(self, email: Email) -> None:
        super().send(replace(email, attachments=()))


class DoubleSendingMailer(MemoryMailer):
    """Delivers every accepted e-mail twice (a retry loop that does not stop on success)."""

    def send(self, email: Email) -> None:
        super().send(email)
        super().send(email)


class FreshIdMailer(MemoryMailer):
    """Gives each delivery a new Message-ID, so a receiver cannot spot a retried duplicate."""

    def send(self, email: Email) -> None:
        super().send(replace(email, message_id=secrets.token_hex(16)))


class RepeatDroppingMailer(MemoryMailer):
    """Delivers the first two e-mails and silently drops the later ones (resent e-mails)."""

    def send(self, email: Email) -> None:
        if len(self.sent) < 2:
            super().send(email)


class RawErrorMailer(MemoryMailer):
    """Lets the socket's own error escape instead of raising `DeliveryFailed`."""

    def send(self, email: Email) -> None:
        raise ConnectionRefusedError(f"cannot reach relay for {email.to}")


class SilentSms(MemorySms):
    """Reports success and sends nothing."""

    def send(self, sms: Sms) -> None:
        return None


class RepeatDroppingSms(MemorySms):
    """Delivers only the first SMS to each number and silently drops the later ones (a resent code)."""

    def send(self, sms: Sms) -> None:
        if all(s.to != sms.to for s in self.sent):
            super().send(sms)


class ReferenceAddingSms(MemorySms):
    """Appends a six-digit delivery reference: the code is no longer the only number of its length."""

    def send(self, sms: Sms) -> None:
        super().send(replace(sms, text=f"{sms.text} Ref {secrets.randbelow(900000) + 100000}"))


class WrongPersonDirectory(StaticDirectory):
    """Ignores the Luhn key: a neighbour whose identifier differs only in it gets this entry."""

    def __init__(self, entries: Iterable[DirectoryEntry] = ()) -> None:
        self._all = list(entries)
        super().__init__(self._all)

    def lookup(self, national_id: str) -> DirectoryEntry | None:
        return next((e for e in self._all if e.national_id[:11] == national_id[:11]), None)


class BlankContactDirectory(StaticDirectory):
    """Returns a missing contact as an empty text instead of None."""

    def lookup(self, national_id: str) -> DirectoryEntry | None:
        entry = super().lookup(national_id)
        if entry is None:
            return None
        return replace(entry, email=entry.email or "", phone=entry.phone or "")


class QrReusingMailer(MemoryMailer):
    """Attaches the first e-mail's QR image to every later one (an image cached by its name)."""

    def send(self, email: Email) -> None:
        first = self.sent[0].attachments if self.sent else None
        super().send(email if first is None else replace(email, attachments=first))


class NumberingSms(MemorySms):
    """Numbers each SMS after the first with a six-digit sequence."""

    def send(self, sms: Sms) -> None:
        n = len(self.sent)
        super().send(sms if n == 0 else replace(sms, text=f"{sms.text} #{100000 + n}"))


class StickyRecipientMailer(MemoryMailer):
    """Sends every e-mail to the first address it sent to (a connection reused with its envelope)."""

    def send(self, email: Email) -> None:
        first = self.sent[0].to if self.sent else email.to
        super().send(replace(email, to=first))


class StickyNumberSms(MemorySms):
    """Sends every SMS to the first number it sent to."""

    def send(self, sms: Sms) -> None:
        first = self.sent[0].to if self.sent else sms.to
        super().send(replace(sms, to=first))


class NumericCodeSms(MemorySms):
    """Reads the code as a number: its leading zeros are lost."""

    def send(self, sms: Sms) -> None:
        super().send(replace(sms, text=re.sub(r"(?<!\d)\d{6,8}(?!\d)",
                                              lambda m: str(int(m.group())), sms.text)))


class LastHitDirectory(StaticDirectory):
    """Answers an identifier it does not hold with the last entry it found."""

    def __init__(self, entries: Iterable[DirectoryEntry] = ()) -> None:
        super().__init__(entries)
        self._last: DirectoryEntry | None = None

    def lookup(self, national_id: str) -> DirectoryEntry | None:
        entry = super().lookup(national_id)
        self._last = entry or self._last
        return self._last
