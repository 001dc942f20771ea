"""The kit's recording fakes, in one place: an inbox for e-mails and SMS, a line that can go down,
a fixed directory, and `close_store`, the clean-up every harness entry point runs on what it opened."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from workflow.errors import DeliveryFailed
from workflow.messages import DirectoryEntry, Email, Sms


class Sender(Protocol):
    """Anything with a `send` (a mailer, an SMS gateway, an `Inbox`)."""

    def send(self, message: Any, /) -> None:
        """Deliver `message`."""


class Inbox:
    """A mailer and an SMS gateway in one: records every message it accepts, in order."""

    def __init__(self) -> None:
        self.sent: list[Email | Sms] = []

    def send(self, message: Email | Sms) -> None:
        """Accept and record `message`."""
        self.sent.append(message)

    @property
    def emails(self) -> list[Email]:
        """The e-mails accepted, oldest first."""
        return [m for m in self.sent if isinstance(m, Email)]

    @property
    def sms(self) -> list[Sms]:
        """The SMS accepted, oldest first."""
        return [m for m in self.sent if isinstance(m, Sms)]

    def newest_email(self) -> Email:
        """The last e-mail accepted; an `AssertionError` that says so when there is none."""
        if not self.emails:
            raise AssertionError("no e-mail was delivered: did the store keep the outbox rows?")
        return self.emails[-1]

    def newest_sms(self) -> Sms:
        """The last SMS accepted; an `AssertionError` that says so when there is none."""
        if not self.sms:
            raise AssertionError("no SMS was delivered: did the store keep the outbox rows?")
        return self.sms[-1]


class Line:
    """Wraps a mailer or SMS gateway: can be switched down, records what got through."""

    def __init__(self, inner: Sender) -> None:
        self.inner = inner
        self.down = False
        self.delivered: list[Email | Sms] = []

    def send(self, message: Email | Sms) -> None:
        """Pass `message` on, or fail as a transient outage while the line is down."""
        if self.down:
            raise DeliveryFailed("line down (injected fault)", transient=True)
        self.inner.send(message)
        self.delivered.append(message)


class FixedDirectory:
    """A directory that knows exactly the given entries."""

    def __init__(self, entries: Iterable[DirectoryEntry]) -> None:
        self.entries = {e.national_id: e for e in entries}

    def lookup(self, national_id: str) -> DirectoryEntry | None:
        """The entry of `national_id`, or None."""
        return self.entries.get(national_id)


def close_store(store: object) -> None:
    """Release what a store holds (connections, files) when it has a `close()`; else nothing."""
    close = getattr(store, "close", None)
    if callable(close):
        close()
