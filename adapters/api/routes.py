"""The routes of the HTTP API, each one service call."""

from __future__ import annotations

from importlib.resources import files
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from adapters.api.answers import Runner, plain_error
from adapters.api.guard import AccessRefused, Guard, IdPath, caller_of
from adapters.api.lanes import Lane, PinLane
from adapters.api.middleware import ASSETS_PATH
from adapters.api.schemas import (
    ActivationsOut,
    AuditOut,
    AuthenticatedOut,
    CodeBody,
    ErrorOut,
    HealthOut,
    HistoryOut,
    PinBody,
    RequestBody,
    RevokeBody,
    ScanBody,
    StartedOut,
    StatusOut,
    StepResultOut,
    SummaryOut,
)
from workflow import ActivationService, State
from workflow.verification import verify_activation


def _error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"model": ErrorOut, "description": _MEANING[s]} for s in statuses}


_MEANING = {
    400: "Malformed input (identifier, code, PIN, QR payload, body, header)",
    401: "No valid credential: the device's DPoP proof (missing, malformed, another key's, "
         "stale or replayed) or the operator's bearer token",
    403: "A wrong operator token, or a device asking what only an operator may do",
    413: "The request body is over the server's limit",
    404: "No activation has this id",
    409: "The activation's state does not allow this, or the Idempotency-Key was reused",
    410: "The activation has expired",
    422: "Refused on its merits: wrong QR code, SMS code or PIN, or not eligible",
    423: "Too many wrong attempts locked the activation",
    429: "Rate limit, cooldown, or too many wrong operator tokens from this address; see "
         "Retry-After",
    502: "The outside world failed (mailer, SMS gateway)",
    503: "The directory or the database cannot answer",
}
STEP_ERRORS = _error_responses(400, 401, 404, 409, 410, 413, 422, 423, 429, 503)
OPERATOR_ERRORS = _error_responses(400, 401, 403, 404, 429, 503)
KeyHeader = Annotated[str | None, Header(
    min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$",
    description="Any text (1-255 visible ASCII characters) unique to this request: "
                "a retry with the same key gets the first answer back.")]


def add_flow_routes(app: FastAPI, svc: ActivationService, run: Runner, guard: Guard, lane: Lane,
                    pins: PinLane) -> None:
    """Add the activation's routes to `app`: they run on `lane`, those that hash or check a PIN
    on `pins`."""
    device = [Depends(guard.device)]

    @app.post("/activations", status_code=201, response_model=StartedOut, tags=["activation"],
              responses=_error_responses(400, 409, 413, 422, 429, 503),
              summary="Ask for an activation (the e-mail with the QR code follows)")
    async def request_activation(body: RequestBody, request: Request,
                                 idempotency_key: KeyHeader = None) -> Response:
        def counted() -> Response:
            with guard.counting(request):  # on the request's thread, in its transaction
                return run(request, idempotency_key, body,
                           lambda: svc.request(body.national_id, body.device_id,
                                               device_key=body.device_key),
                           StartedOut.of, 201,
                           headers=lambda out: {"Location": f"/activations/{_id(out)}"},
                           event="request")
        return await lane.run(counted)

    @app.post("/activations/{activation_id}/scan", response_model=StepResultOut,
              responses=STEP_ERRORS, tags=["activation"], dependencies=device,
              summary="The app scanned the QR code (the SMS code follows)")
    async def scan(activation_id: IdPath, body: ScanBody, request: Request,
                   idempotency_key: KeyHeader = None) -> Response:
        return await lane.run(lambda: run(request, idempotency_key, body,
                                          lambda: svc.scan(activation_id, body.qr_payload), StepResultOut.of,
                                          event="scan", activation_id=activation_id))

    @app.post("/activations/{activation_id}/sms", response_model=StepResultOut,
              responses=STEP_ERRORS, tags=["activation"], dependencies=device,
              summary="Submit the SMS code")
    async def verify_sms(activation_id: IdPath, body: CodeBody, request: Request,
                         idempotency_key: KeyHeader = None) -> Response:
        return await lane.run(lambda: run(request, idempotency_key, body,
                                          lambda: svc.verify_sms(activation_id, body.code), StepResultOut.of,
                                          event="verify_sms", activation_id=activation_id))

    @app.post("/activations/{activation_id}/sms/resend", response_model=StepResultOut,
              responses=STEP_ERRORS, tags=["activation"], dependencies=device,
              summary="Send a new SMS code")
    async def resend_sms(activation_id: IdPath, request: Request,
                         idempotency_key: KeyHeader = None) -> Response:
        return await lane.run(lambda: run(request, idempotency_key, None,
                                          lambda: svc.resend_sms(activation_id), StepResultOut.of,
                                          event="resend_sms", activation_id=activation_id))

    @app.post("/activations/{activation_id}/email/resend", response_model=StepResultOut,
              responses=STEP_ERRORS, tags=["activation"], dependencies=device,
              summary="Send the e-mail again with a new QR code")
    async def resend_email(activation_id: IdPath, request: Request,
                           idempotency_key: KeyHeader = None) -> Response:
        return await lane.run(lambda: run(request, idempotency_key, None,
                                          lambda: svc.resend_email(activation_id), StepResultOut.of,
                                          event="resend_email", activation_id=activation_id))

    @app.post("/activations/{activation_id}/pin", response_model=StepResultOut,
              responses=STEP_ERRORS, tags=["activation"], dependencies=device,
              summary="Choose the PIN")
    async def set_pin(activation_id: IdPath, body: PinBody, request: Request,
                      idempotency_key: KeyHeader = None) -> Response:
        return await pins.run(lambda: run(request, idempotency_key, body,
                                          lambda: svc.set_pin(activation_id, body.pin), StepResultOut.of,
                                          event="set_pin", activation_id=activation_id))

    @app.post("/activations/{activation_id}/pin/confirm", response_model=StepResultOut,
              responses=STEP_ERRORS, tags=["activation"], dependencies=device,
              summary="Confirm the PIN (equal: the e-CPS is active)")
    async def confirm_pin(activation_id: IdPath, body: PinBody, request: Request,
                          idempotency_key: KeyHeader = None) -> Response:
        return await pins.run(lambda: run(request, idempotency_key, body,
                                          lambda: svc.confirm_pin(activation_id, body.pin), StepResultOut.of,
                                          event="confirm_pin", activation_id=activation_id))

    @app.post("/activations/{activation_id}/authenticate", response_model=AuthenticatedOut,
              responses=STEP_ERRORS, tags=["login"], dependencies=device,
              summary="Log in with the PIN")
    async def authenticate(activation_id: IdPath, body: PinBody, request: Request,
                           idempotency_key: KeyHeader = None) -> Response:
        def present(_: object) -> AuthenticatedOut:  # refused logins raise: this one succeeded
            return AuthenticatedOut(activation_id=activation_id, authenticated=True)
        def active() -> bool:  # a saved "authenticated" is given back only while it still holds
            return svc.status(activation_id).state == State.ACTIVE
        return await pins.run(lambda: run(
            request, idempotency_key, body, lambda: svc.authenticate(activation_id, body.pin),
            present, event="authenticate", activation_id=activation_id, still=active))

    @app.post("/activations/{activation_id}/cancel", response_model=StepResultOut,
              responses=STEP_ERRORS, tags=["activation"], dependencies=device,
              summary="Abandon an activation")
    async def cancel(activation_id: IdPath, request: Request,
                     idempotency_key: KeyHeader = None) -> Response:
        return await lane.run(lambda: run(request, idempotency_key, None,
                                          lambda: svc.cancel(activation_id), StepResultOut.of,
                                          event="cancel", activation_id=activation_id))

    @app.post("/activations/{activation_id}/revoke", response_model=StepResultOut,
              responses={**STEP_ERRORS, **_error_responses(403)}, tags=["login"],
              dependencies=[Depends(guard.device_or_operator)],
              summary="Revoke an active e-CPS (the device: reason `deleted` only; else the operator)")
    async def revoke(activation_id: IdPath, body: RevokeBody, request: Request,
                     idempotency_key: KeyHeader = None) -> Response:
        if caller_of(request) == "device" and body.reason != "deleted":
            raise AccessRefused(403, "forbidden", "the device revokes its own e-CPS with reason "
                                "`deleted` only; other reasons are the operator's")
        return await lane.run(lambda: run(request, idempotency_key, body,
                                          lambda: svc.revoke(activation_id, body.reason),
                                          StepResultOut.of, event="revoke",
                                          activation_id=activation_id))


def add_read_routes(app: FastAPI, svc: ActivationService, guard: Guard, lane: Lane) -> None:
    """Add the reads of an activation to `app`, run on `lane` (its diagram on the app's threads)."""
    either = [Depends(guard.device_or_operator)]

    @app.get("/activations/{activation_id}", response_model=StatusOut, tags=["activation"],
             responses=_error_responses(400, 401, 403, 404, 429, 503), dependencies=either,
             summary="The activation as it stands: state, history, deadline, attempts left")
    async def status(activation_id: IdPath) -> StatusOut:
        return await lane.run(lambda: StatusOut.of(svc.status(activation_id)))

    @app.get("/activations/{activation_id}/history", response_model=HistoryOut, tags=["activation"],
             responses=_error_responses(400, 401, 403, 404, 429, 503), dependencies=either,
             summary="Every step of the activation, oldest first, a page at a time")
    async def history(activation_id: IdPath,
                      after: Annotated[int, Query(ge=0, description="steps numbered after this")] = 0,
                      limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> HistoryOut:
        return await lane.run(lambda: HistoryOut.of(svc.history(activation_id, after=after,
                                                                limit=limit)))

    @app.get("/activations/{activation_id}/diagram.svg", tags=["activation"],
             response_class=Response, responses={
                 200: {"content": {"image/svg+xml": {"schema": {"type": "string"}}},
                       "description": "The workflow with this activation's path highlighted"},
                 **_error_responses(400, 401, 403, 404, 429, 503)}, dependencies=either,
             summary="The diagram of the path this activation took")
    def diagram(activation_id: IdPath) -> Response:
        from adapters.api.diagram import DiagramUnavailable, activation_svg

        try:
            return Response(activation_svg(svc, activation_id), media_type="image/svg+xml")
        except DiagramUnavailable as exc:
            return plain_error(503, "diagram_unavailable", str(exc))

    @app.get("/healthz", response_model=HealthOut, tags=["operations"],
             responses=_error_responses(503), summary="Liveness and database check")
    async def healthz() -> HealthOut:
        await lane.run(lambda: svc.store.list_activations(1))
        return HealthOut(status="ok", database="ok")


def add_operator_routes(app: FastAPI, svc: ActivationService, guard: Guard, lane: Lane) -> None:
    """Add the operator's routes to `app`, run on `lane`."""
    operator = [Depends(guard.operator)]

    @app.get("/operations/activations", response_model=ActivationsOut, tags=["operations"],
             responses=OPERATOR_ERRORS, dependencies=operator,
             summary="The most recent activations (operator)")
    async def list_activations(limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> ActivationsOut:
        return ActivationsOut(activations=[SummaryOut.of(a) for a in
                                           await lane.run(lambda: svc.store.list_activations(limit))])

    @app.post("/operations/expire", response_model=dict[str, int], tags=["operations"],
              responses=OPERATOR_ERRORS, dependencies=operator,
              summary="Expire every activation past its deadline now (operator; safe to repeat)")
    async def expire() -> dict[str, int]:
        return {"expired": await lane.run(svc.expire_due)}

    @app.get("/activations/{activation_id}/audit", response_model=AuditOut, tags=["operations"],
             responses=OPERATOR_ERRORS, dependencies=operator,
             summary="Verify an activation's tamper-evident audit trail (operator)")
    async def audit_trail(activation_id: IdPath) -> AuditOut:
        def verified() -> AuditOut:  # the row as stored: an edited one is what this explains
            found = verify_activation(svc.store, svc.keys, svc.engine, activation_id)
            return AuditOut(activation_id=activation_id, events=found.events,
                            intact=found.intact, problems=[f.problem for f in found.findings])
        return await lane.run(verified)


def add_docs_routes(app: FastAPI) -> None:
    """`/docs` (Swagger UI) and `/redoc` with their assets served from the installed package."""
    app.mount(ASSETS_PATH, StaticFiles(directory=str(files("fastapi_offline") / "static")),
              name="docs-assets")
    title = f"{app.title} - docs"

    @app.get("/docs", include_in_schema=False)
    def swagger() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=title,
                                   swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
                                   swagger_favicon_url=f"{ASSETS_PATH}/favicon.png")

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title=title,
                              redoc_js_url=f"{ASSETS_PATH}/redoc.standalone.js",
                              redoc_favicon_url=f"{ASSETS_PATH}/favicon.png",
                              with_google_fonts=False)


def _id(out: BaseModel) -> str:
    return str(getattr(out, "activation_id", ""))


