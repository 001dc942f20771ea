"""The phone simulator's routes: the page, and what a phone has that a browser lacks.

The page itself is the app: it holds a P-256 key made with WebCrypto and signs a DPoP proof for
every API call, as the real app does. These routes add the messages the mailer and the SMS
gateway handed over, a camera (the QR image decoded with the demo's decoder) and a clock that
skips ahead. Each answers loopback clients only; `ecps serve --dev` refuses any other bind.
"""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.templating import Jinja2Templates

from adapters.api.console.dev import PhoneKit
from adapters.api.console.portal import portal_routes
from adapters.api.console.rows import lookable
from adapters.api.console.session import ConsoleRefused, same_origin
from adapters.api.console.views import activation_view, stamp
from adapters.api.settings import is_loopback
from workflow import ActivationService
from workflow.messages import QR_CONTENT_ID, Email, Sms

SKIPS = {"5m": timedelta(minutes=5), "1h": timedelta(hours=1), "1d": timedelta(days=1)}


def loopback_only(request: Request) -> None:
    """Refuse (403) a simulator call from anywhere but this machine, or from another site; the
    `Host` must name this machine too, so that a site whose name an attacker points at 127.0.0.1
    (DNS rebinding) cannot drive it from the developer's browser."""
    host = request.client.host if request.client else ""
    if not is_loopback(host) or not _loopback_name(request) or not same_origin(request):
        raise ConsoleRefused("the phone simulator answers this machine only")


def _loopback_name(request: Request) -> bool:
    try:
        name = urlsplit("//" + request.headers.get("host", "")).hostname
    except ValueError:
        return False
    return name is not None and is_loopback(name)


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
        ids = {m.id for m in service.store.outbox_of(activation_id)} if lookable(activation_id) else set()
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
            raise ConsoleRefused("this server's clock cannot skip ahead")
        kit.clock.advance(SKIPS[amount])
        service.expire_due()
        return {"now": service.now().timestamp()}

    portal_routes(r, service, pages)  # before the routes below: "logins", "portal" are not ids

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

    @r.get("/{activation_id}/stamp")
    def changed(activation_id: str) -> PlainTextResponse:
        return PlainTextResponse(stamp(service, activation_id))

    @r.get("/{activation_id}/diagram")
    def diagram(request: Request, activation_id: str) -> HTMLResponse:
        return pages.TemplateResponse(request, "diagram.html", {
            "a": activation_view(service, activation_id), "csrf": ""})

    return r

