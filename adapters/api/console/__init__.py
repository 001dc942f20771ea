"""The web console of `ecps serve`: operators watch every activation's and login's path;
developers walk a flow.

`add_console(app, service, http)` mounts `/console` (behind the operator token, signed in once
with a cookie) and, given a `PhoneKit`, the development phone simulator at `/console/phone`.
Pages are Jinja2 templates and a little plain JavaScript, all served from this package.
"""

from __future__ import annotations

import re
from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from adapters.api.answers import error_response
from adapters.api.console.dev import (
    DevClock,
    PhoneInbox,
    PhoneKit,
    dev_kit,
    dev_operator,
    dev_server,
    refuse_off_loopback,
)
from adapters.api.console.pages import console_router, when
from adapters.api.console.phone import phone_router
from adapters.api.console.session import ConsoleRefused, Sessions, SignInNeeded, SignInsHeldOff
from adapters.api.console.signouts import SignOuts
from adapters.api.guesses import GuessCounter
from adapters.api.settings import HttpSettings
from workflow import ActivationService
from workflow.errors import ActivationNotFound, LoginNotFound

__all__ = ["DevClock", "PhoneInbox", "PhoneKit", "add_console", "dev_kit", "dev_operator", "dev_server",
           "refuse_off_loopback"]

HERE = files("adapters.api.console")
ACTIVATION_ID = re.compile(r"[a-z2-7]{16}")  # the shape of an id: only such a text is echoed back
LOGIN_ID = re.compile(r"lg-[0-9a-f]{32}")
STATIC_PATH = "/console/static"


def add_console(app: FastAPI, service: ActivationService, http: HttpSettings,
                phone: PhoneKit | None = None, guesses: GuessCounter | None = None,
                signouts: SignOuts | None = None) -> None:
    """Mount the console on `app`; the phone simulator too when `phone` is given (development).
    Wrong tokens at its sign-in count into `guesses` (the API's, when given); signed-out
    sessions are remembered by `signouts` (default: in memory)."""
    pages = Jinja2Templates(directory=str(HERE / "templates"))
    pages.env.filters["when"] = when
    sessions = Sessions(http, guesses=guesses, signouts=signouts)
    app.mount(STATIC_PATH, StaticFiles(directory=str(HERE / "static")), name="console-static")
    if phone is not None:  # first: its paths are more specific than the console's
        app.include_router(phone_router(service, phone, pages))
    app.include_router(console_router(service, sessions, pages))

    @app.exception_handler(SignInNeeded)
    async def sign_in(_: Request, __: SignInNeeded) -> Response:
        return RedirectResponse("/console/login", 303)

    @app.exception_handler(ActivationNotFound)
    async def unknown(request: Request, exc: ActivationNotFound) -> Response:
        if not request.url.path.startswith("/console"):
            return error_response(exc)
        if isinstance(exc, LoginNotFound):
            message = str(exc) if LOGIN_ID.fullmatch(exc.login_id) else "no such login"
        else:
            message = str(exc) if ACTIVATION_ID.fullmatch(exc.activation_id) else "no such activation"
        return pages.TemplateResponse(request, "refused.html", {
            "message": message, "csrf": "", "title": "Not found"}, status_code=404)

    @app.exception_handler(SignInsHeldOff)
    async def held_off(request: Request, exc: SignInsHeldOff) -> Response:
        return pages.TemplateResponse(request, "login.html", {"error": str(exc), "csrf": ""},
                                      status_code=429, headers={"Retry-After": str(exc.retry_after)})

    @app.exception_handler(ConsoleRefused)
    async def refused(request: Request, exc: ConsoleRefused) -> Response:
        return pages.TemplateResponse(request, "refused.html", {"message": str(exc), "csrf": ""},
                                      status_code=403)

