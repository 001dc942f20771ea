"""The routes of the HTTP API, each one service call."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Header, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from adapters.api.answers import Runner, plain_error
from adapters.api.schemas import (
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
)
from workflow import ActivationService


def _error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"model": ErrorOut, "description": _MEANING[s]} for s in statuses}


_MEANING = {
    400: "Malformed input (identifier, code, PIN, QR payload, body, header)",
    404: "No activation has this id",
    409: "The activation's state does not allow this, or the Idempotency-Key was reused",
    410: "The activation has expired",
    422: "Refused on its merits: wrong QR code, SMS code or PIN, or not eligible",
    423: "Too many wrong attempts locked the activation",
    429: "Rate limit or cooldown; see Retry-After",
    502: "The outside world failed (mailer, SMS gateway)",
    503: "The directory or the database cannot answer",
}
STEP_ERRORS = _error_responses(400, 404, 409, 410, 422, 423, 429, 503)
IdPath = Annotated[str, Path(min_length=1, max_length=128, description="the activation id")]
KeyHeader = Annotated[str | None, Header(
    min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$",
    description="Any text (1-255 visible ASCII characters) unique to this request: "
                "a retry with the same key gets the first answer back.")]


def add_flow_routes(app: FastAPI, svc: ActivationService, run: Runner) -> None:
    @app.post("/activations", status_code=201, response_model=StartedOut, tags=["activation"],
              responses=_error_responses(400, 409, 422, 429, 503),
              summary="Ask for an activation (the e-mail with the QR code follows)")
    def request_activation(body: RequestBody, request: Request,
                           idempotency_key: KeyHeader = None) -> Response:
        return run(request, idempotency_key, body,
                   lambda: svc.request(body.national_id, body.device_id), StartedOut.of, 201,
                   headers=lambda out: {"Location": f"/activations/{_id(out)}"})

    @app.post("/activations/{activation_id}/scan", response_model=StepResultOut,
              responses=STEP_ERRORS, tags=["activation"],
              summary="The app scanned the QR code (the SMS code follows)")
    def scan(activation_id: IdPath, body: ScanBody, request: Request,
             idempotency_key: KeyHeader = None) -> Response:
        return run(request, idempotency_key, body,
                   lambda: svc.scan(activation_id, body.qr_payload), StepResultOut.of)

    @app.post("/activations/{activation_id}/sms", response_model=StepResultOut,
              responses=STEP_ERRORS, tags=["activation"], summary="Submit the SMS code")
    def verify_sms(activation_id: IdPath, body: CodeBody, request: Request,
                   idempotency_key: KeyHeader = None) -> Response:
        return run(request, idempotency_key, body,
                   lambda: svc.verify_sms(activation_id, body.code), StepResultOut.of)

    @app.post("/activations/{activation_id}/sms/resend", response_model=StepResultOut,
              responses=STEP_ERRORS, tags=["activation"], summary="Send a new SMS code")
    def resend_sms(activation_id: IdPath, request: Request,
                   idempotency_key: KeyHeader = None) -> Response:
        return run(request, idempotency_key, None,
                   lambda: svc.resend_sms(activation_id), StepResultOut.of)

    @app.post("/activations/{activation_id}/email/resend", response_model=StepResultOut,
              responses=STEP_ERRORS, tags=["activation"],
              summary="Send the e-mail again with a new QR code")
    def resend_email(activation_id: IdPath, request: Request,
                     idempotency_key: KeyHeader = None) -> Response:
        return run(request, idempotency_key, None,
                   lambda: svc.resend_email(activation_id), StepResultOut.of)

    @app.post("/activations/{activation_id}/pin", response_model=StepResultOut,
              responses=STEP_ERRORS, tags=["activation"], summary="Choose the PIN")
    def set_pin(activation_id: IdPath, body: PinBody, request: Request,
                idempotency_key: KeyHeader = None) -> Response:
        return run(request, idempotency_key, body,
                   lambda: svc.set_pin(activation_id, body.pin), StepResultOut.of)

    @app.post("/activations/{activation_id}/pin/confirm", response_model=StepResultOut,
              responses=STEP_ERRORS, tags=["activation"],
              summary="Confirm the PIN (equal: the e-CPS is active)")
    def confirm_pin(activation_id: IdPath, body: PinBody, request: Request,
                    idempotency_key: KeyHeader = None) -> Response:
        return run(request, idempotency_key, body,
                   lambda: svc.confirm_pin(activation_id, body.pin), StepResultOut.of)

    @app.post("/activations/{activation_id}/authenticate", response_model=AuthenticatedOut,
              responses=STEP_ERRORS, tags=["login"], summary="Log in with the PIN")
    def authenticate(activation_id: IdPath, body: PinBody, request: Request,
                     idempotency_key: KeyHeader = None) -> Response:
        def present(_: object) -> AuthenticatedOut:  # refused logins raise: this one succeeded
            return AuthenticatedOut(activation_id=activation_id, authenticated=True)
        return run(request, idempotency_key, body, lambda: svc.authenticate(activation_id, body.pin),
                   present)

    @app.post("/activations/{activation_id}/cancel", response_model=StepResultOut,
              responses=STEP_ERRORS, tags=["activation"], summary="Abandon an activation")
    def cancel(activation_id: IdPath, request: Request,
               idempotency_key: KeyHeader = None) -> Response:
        return run(request, idempotency_key, None,
                   lambda: svc.cancel(activation_id), StepResultOut.of)

    @app.post("/activations/{activation_id}/revoke", response_model=StepResultOut,
              responses=STEP_ERRORS, tags=["login"], summary="Revoke an active e-CPS")
    def revoke(activation_id: IdPath, body: RevokeBody, request: Request,
               idempotency_key: KeyHeader = None) -> Response:
        return run(request, idempotency_key, body,
                   lambda: svc.revoke(activation_id, body.reason), StepResultOut.of)


def add_read_routes(app: FastAPI, svc: ActivationService) -> None:
    @app.get("/activations/{activation_id}", response_model=StatusOut, tags=["activation"],
             responses=_error_responses(400, 404, 503),
             summary="The activation as it stands: state, history, deadline, attempts left")
    def status(activation_id: IdPath) -> StatusOut:
        return StatusOut.of(svc.status(activation_id))

    @app.get("/activations/{activation_id}/history", response_model=HistoryOut, tags=["activation"],
             responses=_error_responses(400, 404, 503),
             summary="Every step of the activation, oldest first, a page at a time")
    def history(activation_id: IdPath,
                after: Annotated[int, Query(ge=0, description="steps numbered after this")] = 0,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> HistoryOut:
        return HistoryOut.of(svc.history(activation_id, after=after, limit=limit))

    @app.get("/activations/{activation_id}/diagram.svg", tags=["activation"],
             response_class=Response, responses={
                 200: {"content": {"image/svg+xml": {"schema": {"type": "string"}}},
                       "description": "The workflow with this activation's path highlighted"},
                 **_error_responses(400, 404, 503)},
             summary="The diagram of the path this activation took")
    def diagram(activation_id: IdPath) -> Response:
        from adapters.api.diagram import DiagramUnavailable, activation_svg

        try:
            return Response(activation_svg(svc, activation_id), media_type="image/svg+xml")
        except DiagramUnavailable as exc:
            return plain_error(503, "diagram_unavailable", str(exc))

    @app.get("/healthz", response_model=HealthOut, tags=["operations"],
             responses=_error_responses(503), summary="Liveness and database check")
    def healthz() -> HealthOut:
        svc.store.list_activations(1)
        return HealthOut(status="ok", database="ok")


def _id(out: BaseModel) -> str:
    return str(getattr(out, "activation_id", ""))


