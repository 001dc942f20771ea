"""The console's login pages: one login's page, its live parts, and the operator's cancel."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from adapters.api.console.login_views import login_stamp, login_view
from adapters.api.console.session import checked_post, form_of
from workflow import ActivationService
from workflow.errors import WorkflowError

if TYPE_CHECKING:
    from adapters.api.console.pages import Page


def login_routes(r: APIRouter, service: ActivationService, page: Page) -> None:
    """Add a login's page, its live parts and the cancel confirmation to the console's `r`."""
    sessions = page.sessions

    page.record_routes(r, "logins", lambda key: login_view(service, key),
                       lambda key: login_stamp(service, key), "push_login.html", "push_login_live.html")

    @r.get("/logins/{login_id}/cancel")
    def cancel_form(request: Request, login_id: str) -> HTMLResponse:
        sessions.require(request)
        return page(request, "cancel_login.html", a=login_view(service, login_id))

    @r.post("/logins/{login_id}/cancel")
    async def cancel(request: Request, login_id: str) -> Response:
        return await run_in_threadpool(cancelled, request, login_id, await form_of(request))

    def cancelled(request: Request, login_id: str, form: dict[str, str]) -> Response:
        checked_post(sessions, request, form)
        view = login_view(service, login_id)  # an unknown id is not found before anything is tried
        try:
            service.cancel_login(view.id, actor="operator")
        except WorkflowError as exc:
            return page(request, "cancel_login.html", 409, a=login_view(service, login_id),
                        error=str(exc))
        return RedirectResponse(f"/console/logins/{view.id}?done=cancelled", 303)
