"""The operator console's routes: sign-in, the list, one activation's page, the operator actions
(a login's pages are in `login_pages`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from adapters.api.console.login_pages import login_routes
from adapters.api.console.rows import Filters, all_rows, cursor_text, lookable, parse_cursor, subject_of
from adapters.api.console.session import (
    COOKIE,
    LIFETIME,
    ConsoleRefused,
    Sessions,
    checked_post,
    form_of,
    same_origin,
)
from adapters.api.console.views import activation_view, stamp
from workflow import ActivationService, State
from workflow.errors import WorkflowError
from workflow.login.definition import LoginState
from workflow.service import REVOKE_REASONS

STATES = list(dict.fromkeys([*map(str, State), *map(str, LoginState)]))  # the state filter's choices
AGES = {"": None, "1": 1, "24": 24, "168": 168}  # the age filter's choices, in hours
DONE = re.compile(r"revoked|cancelled|expired-[0-9]{1,9}")  # what `?done=` may report: nothing else is shown


class Page:
    """Renders a console template with the session's CSRF token and the service's time."""

    def __init__(self, service: ActivationService, sessions: Sessions, pages: Jinja2Templates) -> None:
        self.service, self.sessions, self.pages = service, sessions, pages

    def __call__(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        cookie = request.cookies.get(COOKIE)
        csrf = self.sessions.csrf(cookie) if cookie and self.sessions.valid(cookie) else ""
        return self.pages.TemplateResponse(request, name, {"csrf": csrf, "now": self.service.now(),
                                                           **context}, status_code=status)

    def record_routes(self, r: APIRouter, section: str, view: Callable[[str], object],
                      stamp: Callable[[str], str], template: str, live: str) -> None:
        """Add to `r` one record's page at `/{section}/{id}` (`template` showing `view(id)`), its
        live parts (`live`) and the stamp that tells when they changed."""
        sessions = self.sessions

        @r.get(f"/{section}/{{record_id}}")
        def record(request: Request, record_id: str) -> HTMLResponse:
            sessions.require(request)
            return self(request, template, a=view(record_id), done=reported(request))

        @r.get(f"/{section}/{{record_id}}/live")
        def live_parts(request: Request, record_id: str) -> HTMLResponse:
            sessions.require(request)
            return self(request, live, a=view(record_id))

        @r.get(f"/{section}/{{record_id}}/stamp")
        def changed(request: Request, record_id: str) -> PlainTextResponse:
            sessions.require(request)
            return PlainTextResponse(stamp(record_id))


def console_router(service: ActivationService, sessions: Sessions, pages: Jinja2Templates) -> APIRouter:
    """The console's pages over `service`, signed in with `sessions`."""
    r = APIRouter(prefix="/console", include_in_schema=False)

    page = Page(service, sessions, pages)

    @r.get("/login")
    def login_form(request: Request) -> HTMLResponse:
        return page(request, "login.html", closed=not sessions.open)

    @r.post("/login")
    async def login(request: Request) -> Response:
        return await run_in_threadpool(signed_in, request, await form_of(request))

    def signed_in(request: Request, form: dict[str, str]) -> Response:
        if not same_origin(request):
            raise ConsoleRefused("the sign-in form is from another site")
        address = request.client.host if request.client else ""
        if not sessions.sign_in(address, form.get("token", "")):
            return page(request, "login.html", 401, closed=not sessions.open,
                        error="This is not the server's operator token.")
        done = RedirectResponse("/console", 303)
        done.set_cookie(COOKIE, sessions.issue(), max_age=LIFETIME, path="/console", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")
        return done

    @r.post("/logout")
    async def logout(request: Request) -> Response:
        return await run_in_threadpool(signed_out, request, await form_of(request))

    def signed_out(request: Request, form: dict[str, str]) -> Response:
        checked_post(sessions, request, form)
        sessions.end(sessions.require(request))
        done = RedirectResponse("/console/login", 303)
        done.delete_cookie(COOKIE, path="/console", httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")
        return done

    def listing(request: Request, fragment: bool, error: str = "", status: int = 200) -> HTMLResponse:
        sessions.require(request)
        q = request.query_params
        age = q.get("age", "") if q.get("age", "") in AGES else ""
        f = Filters(state=q.get("state", "") if q.get("state", "") in STATES else "",
                    max_age_hours=AGES[age], subject=q.get("subject", "")[:64],
                    before=parse_cursor(q.get("before", "")))
        found = all_rows(service, f, service.now())
        kept = {k: v for k, v in {"state": f.state, "age": age, "subject": f.subject}.items() if v}
        older = urlencode({**kept, "before": cursor_text(found.next)}) if found.next else None
        return page(request, "rows.html" if fragment else "list.html", status,
                    rows=found.rows, f=f, states=STATES, age=age, error=error,
                    done=reported(request), query=urlencode(kept), newest=urlencode(kept),
                    older=older)

    @r.get("")
    def index(request: Request) -> HTMLResponse:
        return listing(request, fragment=False)

    @r.post("/search")
    async def search(request: Request) -> Response:
        """The identifier comes in a POST body and leaves as its pseudonym: never in a URL or a log."""
        return await run_in_threadpool(searched, request, await form_of(request))

    def searched(request: Request, form: dict[str, str]) -> Response:
        checked_post(sessions, request, form)
        try:
            subject = subject_of(service, form.get("nid", "").strip()) if form.get("nid", "").strip() else ""
        except WorkflowError as exc:
            return listing(request, fragment=False, error=str(exc), status=400)
        query = urlencode({k: v for k, v in {"state": form.get("state", ""), "age": form.get("age", ""),
                                             "subject": subject}.items() if v})
        return RedirectResponse(f"/console?{query}" if query else "/console", 303)

    @r.get("/rows")
    def rows(request: Request) -> HTMLResponse:
        return listing(request, fragment=True)

    page.record_routes(r, "activations", lambda key: activation_view(service, key),
                       lambda key: stamp(service, key), "activation.html", "live.html")
    _action_routes(r, service, page)
    login_routes(r, service, page)
    return r


def _action_routes(r: APIRouter, service: ActivationService, page: Page) -> None:
    """The operator actions, each a confirmation page and its POST."""
    sessions = page.sessions

    @r.get("/activations/{activation_id}/revoke")
    def revoke_form(request: Request, activation_id: str) -> HTMLResponse:
        sessions.require(request)
        return page(request, "revoke.html", a=activation_view(service, activation_id),
                    reasons=sorted(REVOKE_REASONS))

    @r.post("/activations/{activation_id}/revoke")
    async def revoke(request: Request, activation_id: str) -> Response:
        return await run_in_threadpool(revoked, request, activation_id, await form_of(request))

    def revoked(request: Request, activation_id: str, form: dict[str, str]) -> Response:
        checked_post(sessions, request, form)
        try:
            service.revoke(activation_id, form.get("reason", ""), actor="operator")
        except WorkflowError as exc:
            return page(request, "revoke.html", 409, a=activation_view(service, activation_id),
                        reasons=sorted(REVOKE_REASONS), error=str(exc))
        return RedirectResponse(f"/console/activations/{activation_id}?done=revoked", 303)

    @r.get("/expire")
    def expire_form(request: Request) -> HTMLResponse:
        sessions.require(request)
        return page(request, "expire.html", back=request.query_params.get("back", ""))

    @r.post("/expire")
    async def expire(request: Request) -> Response:
        return await run_in_threadpool(expired, request, await form_of(request))

    def expired(request: Request, form: dict[str, str]) -> Response:
        checked_post(sessions, request, form)
        count = service.expire_due()
        back = form.get("back", "")
        known = back and lookable(back) and service.store.get(back)
        target = f"/console/activations/{back}" if known else "/console"
        return RedirectResponse(f"{target}?done=expired-{count}", 303)


def reported(request: Request) -> str:
    """The action a redirect reports as done (`?done=`), or "" for anything else: a link cannot
    make the console print a message of its choosing."""
    said = request.query_params.get("done", "")
    return said if DONE.fullmatch(said) else ""


def when(at: datetime | None) -> str:
    """A time as the console prints it."""
    return at.strftime("%Y-%m-%d %H:%M:%S") if at else "—"
