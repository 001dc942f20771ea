"""What `ecps serve --dev` adds for the phone simulator: a clock that skips ahead, an inbox that
keeps what the mailer and the SMS gateway delivered, and an operator token of its own."""

from __future__ import annotations

import secrets
import threading
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from adapters.api.settings import HttpSettings, is_loopback, token_digest
from workflow import ActivationService
from workflow.errors import InvalidInput
from workflow.messages import Email, Sms
from workflow.ports import Mailer, PushGateway, SmsGateway

KEPT = 200  # messages a `PhoneInbox` remembers


class SkippingClock(Protocol):
    """A clock the simulator can move forward (`DevClock`, or the test kit's `FakeClock`)."""

    def now(self) -> datetime:
        """The current time (aware UTC)."""

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by `delta`; the new time."""


class DevClock:
    """The system time plus an offset that only grows: `ecps serve --dev`'s "skip ahead"."""

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The system time, moved forward by every skip so far."""
        with self._lock:
            return datetime.now(UTC) + self._offset

    def advance(self, delta: timedelta) -> datetime:
        """Skip `delta` ahead (never back)."""
        if delta < timedelta(0):
            raise ValueError("time only moves forward")
        with self._lock:
            self._offset += delta
        return self.now()


class _Tee:
    def __init__(self, kept: deque[Email | Sms], inner: Any) -> None:
        self._kept, self._inner = kept, inner

    def send(self, message: Any) -> None:
        if self._inner is not None:
            self._inner.send(message)  # a failure is the gateway's: the phone never got it
        self._kept.append(message)


class PhoneInbox:
    """What reached the phone: wraps a mailer, an SMS gateway and a push gateway (or none) and
    keeps a copy of the last messages each accepted (`.mailer`, `.sms` and `.push` are what the
    service is given; the app reads its logins from the API, as after a notification)."""

    def __init__(self, mailer: Mailer | None = None, sms: SmsGateway | None = None,
                 push: PushGateway | None = None) -> None:
        self._kept: deque[Email | Sms] = deque(maxlen=KEPT)
        self.mailer = _Tee(self._kept, mailer)
        self.sms = _Tee(self._kept, sms)
        self.notifications: deque[Any] = deque(maxlen=KEPT)
        self.push = _Tee(self.notifications, push)

    def received(self, message_ids: set[str]) -> list[Email | Sms]:
        """The messages with these outbox ids, oldest first."""
        return [m for m in list(self._kept) if m.message_id in message_ids]


@dataclass(frozen=True)
class PhoneKit:
    """What the simulator needs besides the service: its inbox and a clock it may skip."""

    inbox: PhoneInbox = field(default_factory=PhoneInbox)
    clock: SkippingClock | None = None


def dev_kit(service: ActivationService) -> PhoneKit:
    """Make `service` a development one for the simulator: its mailer, SMS and push gateways
    keep a copy of what they deliver for the phone (the push needs none configured), and its
    clock becomes a `DevClock`."""
    d = service.dispatcher
    inbox = PhoneInbox(d.mailer, d.sms, d.push)
    d.mailer, d.sms, d.push = inbox.mailer, inbox.sms, inbox.push
    clock = DevClock()
    service.clock = clock
    return PhoneKit(inbox, clock)


def dev_operator(http: HttpSettings, folder: Path) -> tuple[HttpSettings, Path]:
    """`http` with an operator token: its own, or one kept in `folder`/operator.token (made once,
    readable by the owner only); and the file to read it from."""
    path = folder / "operator.token"
    if http.has_operator:
        return http, path
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32) + "\n", encoding="utf-8")
    token = path.read_text(encoding="utf-8").strip()
    return replace(http, operator_token_sha256=token_digest(token)), path


def refuse_off_loopback(host: str) -> None:
    """`InvalidInput` unless `host` is a loopback address: the simulator is for this machine."""
    if not is_loopback(host):
        raise InvalidInput("--dev serves the phone simulator: listen on 127.0.0.1 only", "host")


def dev_server(service: ActivationService, http: HttpSettings,
               folder: Path) -> tuple[PhoneKit, HttpSettings, str]:
    """What `ecps serve --dev` runs with: the kit, settings with an operator token, a note."""
    kit = dev_kit(service)
    http, token_file = dev_operator(http, folder)
    return kit, http, (f"development: phone simulator at /console/phone; console sign-in token "
                       f"in {token_file} unless one is configured")
