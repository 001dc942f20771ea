"""The simulator's portal panel and the login beside the phone (development only).

A portal asks to log the simulator's professional in and polls the answer; the panel shows the
assertion's claims as verified against the server's JWKS, never the signed token itself.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.templating import Jinja2Templates
from joserfc import jwt
from joserfc.jwk import KeySet
from starlette.concurrency import run_in_threadpool

from adapters.api.answers import error_response
from adapters.api.console.login_views import login_stamp, login_view
from adapters.api.console.rows import lookable
from workflow import ActivationService
from workflow.errors import InvalidInput, LoginNotFound, WorkflowError
from workflow.login.assertion import ALGORITHM
from workflow.login.definition import LoginState

PORTAL_ID = "phone-simulator-portal"  # the client id the panel asks as


def portal_routes(r: APIRouter, service: ActivationService, pages: Jinja2Templates) -> None:
    """Add the portal panel's calls and a login's diagram to the simulator's router `r`."""

    @r.post("/portal/logins")
    async def start(request: Request) -> JSONResponse:
        """Ask to log in the professional whose identifier the phone holds (a request body, never
        a URL, and never logged)."""
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return error_response(InvalidInput("a JSON object is expected", "body"))
        try:
            started = await run_in_threadpool(
                service.start_login, body.get("national_id"), client_id=PORTAL_ID,
                client_name=body.get("client_name"), binding_message=body.get("binding_message"))
        except WorkflowError as exc:
            return error_response(exc)
        return JSONResponse({"login_id": started.login_id, "state": str(started.state)}, 201)

    @r.get("/portal/logins/{login_id}")
    def poll(login_id: str) -> JSONResponse:
        """The login's state as the portal sees it; once approved, the portal collects the
        assertion and gets its claims back, checked against the JWKS."""
        g = service.logins.store.get_login(login_id) if lookable(login_id) else None
        if g is None:
            return error_response(LoginNotFound(login_id if lookable(login_id) else "?"))
        if service.logins.engine.is_due(g, service.now()):
            return JSONResponse({"state": str(LoginState.EXPIRED), "closed_reason": "validity passed"})
        if g.state != LoginState.APPROVED:
            return JSONResponse({"state": str(g.state), "closed_reason": g.closed_reason})
        try:
            result = service.login_result(g.id)
        except WorkflowError as exc:
            return error_response(exc)
        answer: dict[str, Any] = {"state": str(result.state), "closed_reason": result.closed_reason}
        if result.assertion is not None:
            keys = KeySet.import_key_set(service.jwks())  # type: ignore[arg-type]
            answer["claims"] = jwt.decode(result.assertion, keys, algorithms=[ALGORITHM]).claims
        return JSONResponse(answer)

    @r.get("/logins/{login_id}/stamp")
    def changed(login_id: str) -> PlainTextResponse:
        return PlainTextResponse(login_stamp(service, login_id))

    @r.get("/logins/{login_id}/diagram")
    def diagram(request: Request, login_id: str) -> HTMLResponse:
        return pages.TemplateResponse(request, "diagram.html", {"a": login_view(service, login_id),
                                                               "csrf": ""})
