"""The development phone simulator: what the e-CPS app would see, beside the diagram moving.

The page itself is the app: it holds a P-256 key made with WebCrypto and signs a DPoP proof for
every API call, as the real app does. The server adds only what a phone has and a browser does
not: the messages the mailer and the SMS gateway handed over (a `PhoneInbox` records them), a
camera (the QR image decoded with the demo's decoder) and a clock that can skip ahead. Every
route here answers loopback clients only, and `ecps serve --dev` refuses any other bind.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates

from adapters.api.console.session import same_origin
from adapters.api.console.views import activation_view
from adapters.api.settings import HttpSettings, is_loopback, token_digest
from workflow import ActivationService
from workflow.messages import QR_CONTENT_ID, Email, Sms
from workflow.ports import Mailer, SmsGateway

KEPT = 200  # messages a `PhoneInbox` remembers
SKIPS = {"5m": timedelta(minutes=5), "1h": timedelta(hours=1), "1d": timedelta(days=1)}


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
    """What reached the phone: wraps a mailer and an SMS gateway (or none) and keeps a copy of
    the last messages each accepted (`.mailer` and `.sms` are what the service is given)."""

    def __init__(self, mailer: Mailer | None = None, sms: SmsGateway | None = None) -> None:
        self._kept: deque[Email | Sms] = deque(maxlen=KEPT)
        self.mailer = _Tee(self._kept, mailer)
        self.sms = _Tee(self._kept, sms)

    def received(self, message_ids: set[str]) -> list[Email | Sms]:
        """The messages with these outbox ids, oldest first."""
        return [m for m in list(self._kept) if m.message_id in message_ids]


@dataclass(frozen=True)
class PhoneKit:
    """What the simulator needs besides the service: its inbox and a clock it may skip."""

    inbox: PhoneInbox = field(default_factory=PhoneInbox)
    clock: SkippingClock | None = None


def loopback_only(request: Request) -> None:
    """Refuse (403) a simulator call from anywhere but this machine, or from another site."""
    host = request.client.host if request.client else ""
    if not is_loopback(host) or not same_origin(request):
        raise PermissionError("the phone simulator answers this machine only")


def _mail_html(email: Email, image_url: str) -> str:
    """The body of the e-mail's HTML part, its inline QR image pointed at `image_url`."""
    body = re.search(r"<body[^>]*>(.*)</body>", email.html, re.S)
    inner = body.group(1) if body else ""
    return inner.replace(f"cid:{QR_CONTENT_ID}", image_url)


def _qr(email: Email) -> bytes | None:
    return next((a.data for a in email.attachments if a.content_type == "image/png"), None)


def phone_router(service: ActivationService, kit: PhoneKit, pages: Jinja2Templates) -> APIRouter:
    """The simulator's page and the phone-side helpers it calls."""
    r = APIRouter(prefix="/console/phone", include_in_schema=False, dependencies=[Depends(loopback_only)])

    def messages(activation_id: str) -> list[Email | Sms]:
        ids = {m.id for m in service.store.outbox_of(activation_id)}
        return kit.inbox.received(ids)

    def email(activation_id: str, message_id: str) -> Email | None:
        return next((m for m in messages(activation_id)
                     if isinstance(m, Email) and m.message_id == message_id), None)

    @r.get("")
    def phone(request: Request) -> HTMLResponse:
        return pages.TemplateResponse(request, "phone.html", {
            "csrf": "", "pin_length": service.settings.pin_length,
            "code_digits": service.settings.sms_code_digits, "skips": list(SKIPS),
            "can_skip": kit.clock is not None})

    @r.get("/now")
    def now() -> dict[str, float]:
        return {"now": service.now().timestamp()}

    @r.post("/skip/{amount}")
    def skip(amount: str) -> dict[str, float]:
        if kit.clock is None or amount not in SKIPS:
            raise PermissionError("this server's clock cannot skip ahead")
        kit.clock.advance(SKIPS[amount])
        service.expire_due()
        return {"now": service.now().timestamp()}

    @r.get("/{activation_id}/inbox")
    def inbox(activation_id: str) -> dict[str, list[dict[str, str]]]:
        found: dict[str, list[dict[str, str]]] = {"emails": [], "sms": []}
        for m in messages(activation_id):
            if isinstance(m, Email):
                url = f"/console/phone/{activation_id}/mail/{m.message_id}/qr.png"
                found["emails"].append({"id": m.message_id, "subject": m.subject,
                                        "html": _mail_html(m, url)})
            else:
                found["sms"].append({"id": m.message_id, "text": m.text})
        return found

    @r.get("/{activation_id}/mail/{message_id}/qr.png")
    def qr_image(activation_id: str, message_id: str) -> Response:
        m = email(activation_id, message_id)
        png = _qr(m) if m is not None else None
        if png is None:
            return JSONResponse({"error": "no such e-mail image"}, 404)
        return Response(png, media_type="image/png")

    @r.post("/{activation_id}/mail/{message_id}/scan")
    def scan(activation_id: str, message_id: str) -> JSONResponse:
        from adapters.files import decode_qr  # the demo's decoder (zxing-cpp)

        m = email(activation_id, message_id)
        png = _qr(m) if m is not None else None
        texts = decode_qr(png) if png is not None else []
        if len(texts) != 1:
            return JSONResponse({"error": "the camera found no QR code"}, 422)
        return JSONResponse({"payload": texts[0]})

    @r.get("/{activation_id}/diagram")
    def diagram(request: Request, activation_id: str) -> HTMLResponse:
        return pages.TemplateResponse(request, "diagram.html", {
            "a": activation_view(service, activation_id), "csrf": ""})

    return r


def dev_kit(service: ActivationService) -> PhoneKit:
    """Make `service` a development one for the simulator: its mailer and SMS gateway keep a
    copy of what they deliver for the phone, and its clock becomes a `DevClock`."""
    inbox = PhoneInbox(service.dispatcher.mailer, service.dispatcher.sms)
    service.dispatcher.mailer, service.dispatcher.sms = inbox.mailer, inbox.sms
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
