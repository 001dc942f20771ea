"""The HTTP API over an `ActivationService` (FastAPI): routes, error answers, idempotency."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI, Header, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from adapters.api.idempotency import (
    IdempotencyStore,
    KeyBusy,
    KeyReused,
    MemoryIdempotency,
    Saved,
    SqlIdempotency,
)
from adapters.api.schemas import (
    AuthenticatedOut,
    CodeBody,
    ErrorDetail,
    ErrorOut,
    HealthOut,
    PinBody,
    RequestBody,
    RevokeBody,
    ScanBody,
    StartedOut,
    StatusOut,
    StepResultOut,
)
from adapters.kinds import kind_of
from workflow import ActivationService
from workflow.errors import (
    InvalidInput,
    TooManyRequests,
    TransitionNotAllowed,
    VerificationFailed,
    WorkflowError,
)

log = logging.getLogger("ecps.http")
KEPT_STATUSES = frozenset(range(200, 500)) - {409, 429}  # answers a retry gets back
_KEY_RE = re.compile(r"[\x21-\x7e]{1,255}")

DESCRIPTION = """
The activation of a health professional's e-CPS without a CPS card, as an HTTP API.

Main path: `POST /activations` → (the e-mail with the QR code is sent) →
`POST /activations/{id}/scan` → (the SMS code is sent) → `POST /activations/{id}/sms` →
`POST /activations/{id}/pin` → `POST /activations/{id}/pin/confirm` → active; then
`POST /activations/{id}/authenticate` logs in with the PIN.

Every error answers `{"error": {"kind": ..., "message": ...}}` with a stable `kind`
(400 invalid input, 404 unknown activation, 409 not allowed in this state or key reused,
410 expired, 422 refused on its merits (wrong code, not eligible), 423 locked, 429 with
`Retry-After`). Every POST honours an `Idempotency-Key` header: the same key with the same
request gets the first answer again (header `Idempotent-Replayed: true`) and has no second
effect; the same key with another request is 409.
""".strip()


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


def error_response(error: BaseException) -> JSONResponse:
    """The JSON answer for `error` (its kind, status and safe message; no secret)."""
    kind = kind_of(error)
    known = isinstance(error, WorkflowError)
    detail = ErrorDetail(kind=kind.name, message=str(error) if known else "internal error")
    headers = {}
    if isinstance(error, InvalidInput):
        detail.field = error.field or None
    if isinstance(error, VerificationFailed):
        detail.attempts_left = error.attempts_left
    if isinstance(error, TransitionNotAllowed):
        detail.state, detail.event = error.state, error.event
    if isinstance(error, TooManyRequests):
        detail.retry_after = error.retry_after
        headers["Retry-After"] = str(error.retry_after)
    return JSONResponse(ErrorOut(error=detail).model_dump(mode="json"), kind.http_status,
                        headers=headers)


def _plain_error(status: int, kind: str, message: str, **headers: str) -> JSONResponse:
    body = ErrorOut(error=ErrorDetail(kind=kind, message=message))
    return JSONResponse(body.model_dump(mode="json"), status, headers=headers)


class Runner:
    """Runs one POST: answers its error kinds, replays or reserves its `Idempotency-Key`."""

    def __init__(self, service: ActivationService, keys: IdempotencyStore) -> None:
        self.service = service
        self.keys = keys

    def __call__(self, request: Request, key: str | None, body: BaseModel | None,
                 call: Callable[[], BaseModel], status: int = 200,
                 headers: Callable[[BaseModel], dict[str, str]] | None = None) -> Response:
        """The answer of `call` (or the one saved for `key`)."""
        def execute() -> Response:
            try:
                out = call()
            except WorkflowError as exc:
                return error_response(exc)
            return JSONResponse(out.model_dump(mode="json"), status,
                                headers=headers(out) if headers else None)

        if key is None:
            return execute()
        if not _KEY_RE.fullmatch(key):
            return _plain_error(400, "invalid_input",
                                "Idempotency-Key must be 1-255 visible ASCII characters")
        text = json.dumps(body.model_dump(mode="json") if body else None, sort_keys=True)
        fingerprint = self.service.keys.digest("idempotency", request.method, request.url.path,
                                               text)
        try:
            saved = self.keys.reserve(key, fingerprint, self.service.now().timestamp())
        except KeyReused:
            return _plain_error(409, "idempotency_key_reused",
                                "this Idempotency-Key was used with another request")
        except KeyBusy:
            return _plain_error(409, "idempotency_key_busy",
                                "a request with this Idempotency-Key is still being answered",
                                **{"Retry-After": "1"})
        except WorkflowError as exc:
            return error_response(exc)
        if saved is not None:
            return Response(saved.body, saved.status,
                            headers={**saved.headers, "Idempotent-Replayed": "true"},
                            media_type="application/json")
        try:
            answer = execute()
        except BaseException:
            self.keys.release(key)
            raise
        if answer.status_code in KEPT_STATUSES:
            kept = {k: v for k, v in answer.headers.items() if k.lower() == "location"}
            self.keys.save(key, Saved(answer.status_code, bytes(answer.body), kept))
        else:
            self.keys.release(key)
        return answer


def default_idempotency(service: ActivationService) -> IdempotencyStore:
    """The answers table in the store's own database when it has one, else memory."""
    engine = getattr(service.store, "engine", None)
    if isinstance(engine, Engine):
        return SqlIdempotency(engine)
    return MemoryIdempotency()


def create_app(service: ActivationService, *, idempotency: IdempotencyStore | None = None,
               dispatch_every: float | None = 1.0) -> FastAPI:
    """The API over `service`.

    `idempotency` keeps the answers replayed for an `Idempotency-Key` (default: a table in
    the store's database, or memory for a store without one); a background thread
    dispatches the outbox and expires due activations every `dispatch_every` seconds while
    the app runs (None: no thread).
    """
    keys = idempotency if idempotency is not None else default_idempotency(service)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        worker = None
        if dispatch_every is not None:
            worker = threading.Thread(target=_background, args=(service, stop, dispatch_every),
                                      name="ecps-dispatcher", daemon=True)
            worker.start()
        yield
        stop.set()
        if worker is not None:
            worker.join(timeout=10)

    app = FastAPI(title="e-CPS activation", version="1", description=DESCRIPTION,
                  lifespan=lifespan)

    _add_handlers(app)
    _add_flow_routes(app, service, Runner(service, keys))
    _add_read_routes(app, service)
    return app


def _add_flow_routes(app: FastAPI, svc: ActivationService, run: Runner) -> None:
    @app.post("/activations", status_code=201, response_model=StartedOut, tags=["activation"],
              responses=_error_responses(400, 409, 422, 429, 503),
              summary="Ask for an activation (the e-mail with the QR code follows)")
    def request_activation(body: RequestBody, request: Request,
                           idempotency_key: KeyHeader = None) -> Response:
        return run(request, idempotency_key, body,
                   lambda: StartedOut.of(svc.request(body.national_id, body.device_id)), 201,
                   headers=lambda out: {"Location": f"/activations/{_id(out)}"})

    @app.post("/activations/{activation_id}/scan", response_model=StepResultOut,
              responses=STEP_ERRORS, tags=["activation"],
              summary="The app scanned the QR code (the SMS code follows)")
    def scan(activation_id: IdPath, body: ScanBody, request: Request,
             idempotency_key: KeyHeader = None) -> Response:
        return run(request, idempotency_key, body,
                   lambda: StepResultOut.of(svc.scan(activation_id, body.qr_payload)))

    @app.post("/activations/{activation_id}/sms", response_model=StepResultOut,
              responses=STEP_ERRORS, tags=["activation"], summary="Submit the SMS code")
    def verify_sms(activation_id: IdPath, body: CodeBody, request: Request,
                   idempotency_key: KeyHeader = None) -> Response:
        return run(request, idempotency_key, body,
                   lambda: StepResultOut.of(svc.verify_sms(activation_id, body.code)))

    @app.post("/activations/{activation_id}/sms/resend", response_model=StepResultOut,
              responses=STEP_ERRORS, tags=["activation"], summary="Send a new SMS code")
    def resend_sms(activation_id: IdPath, request: Request,
                   idempotency_key: KeyHeader = None) -> Response:
        return run(request, idempotency_key, None,
                   lambda: StepResultOut.of(svc.resend_sms(activation_id)))

    @app.post("/activations/{activation_id}/email/resend", response_model=StepResultOut,
              responses=STEP_ERRORS, tags=["activation"],
              summary="Send the e-mail again with a new QR code")
    def resend_email(activation_id: IdPath, request: Request,
                     idempotency_key: KeyHeader = None) -> Response:
        return run(request, idempotency_key, None,
                   lambda: StepResultOut.of(svc.resend_email(activation_id)))

    @app.post("/activations/{activation_id}/pin", response_model=StepResultOut,
              responses=STEP_ERRORS, tags=["activation"], summary="Choose the PIN")
    def set_pin(activation_id: IdPath, body: PinBody, request: Request,
                idempotency_key: KeyHeader = None) -> Response:
        return run(request, idempotency_key, body,
                   lambda: StepResultOut.of(svc.set_pin(activation_id, body.pin)))

    @app.post("/activations/{activation_id}/pin/confirm", response_model=StepResultOut,
              responses=STEP_ERRORS, tags=["activation"],
              summary="Confirm the PIN (equal: the e-CPS is active)")
    def confirm_pin(activation_id: IdPath, body: PinBody, request: Request,
                    idempotency_key: KeyHeader = None) -> Response:
        return run(request, idempotency_key, body,
                   lambda: StepResultOut.of(svc.confirm_pin(activation_id, body.pin)))

    @app.post("/activations/{activation_id}/authenticate", response_model=AuthenticatedOut,
              responses=STEP_ERRORS, tags=["login"], summary="Log in with the PIN")
    def authenticate(activation_id: IdPath, body: PinBody, request: Request,
                     idempotency_key: KeyHeader = None) -> Response:
        def call() -> AuthenticatedOut:
            return AuthenticatedOut(activation_id=activation_id,
                                    authenticated=svc.authenticate(activation_id, body.pin))
        return run(request, idempotency_key, body, call)

    @app.post("/activations/{activation_id}/cancel", response_model=StepResultOut,
              responses=STEP_ERRORS, tags=["activation"], summary="Abandon an activation")
    def cancel(activation_id: IdPath, request: Request,
               idempotency_key: KeyHeader = None) -> Response:
        return run(request, idempotency_key, None,
                   lambda: StepResultOut.of(svc.cancel(activation_id)))

    @app.post("/activations/{activation_id}/revoke", response_model=StepResultOut,
              responses=STEP_ERRORS, tags=["login"], summary="Revoke an active e-CPS")
    def revoke(activation_id: IdPath, body: RevokeBody, request: Request,
               idempotency_key: KeyHeader = None) -> Response:
        return run(request, idempotency_key, body,
                   lambda: StepResultOut.of(svc.revoke(activation_id, body.reason)))


def _add_read_routes(app: FastAPI, svc: ActivationService) -> None:
    @app.get("/activations/{activation_id}", response_model=StatusOut, tags=["activation"],
             responses=_error_responses(400, 404, 503),
             summary="The activation as it stands: state, history, deadline, attempts left")
    def status(activation_id: IdPath) -> StatusOut:
        return StatusOut.of(svc.status(activation_id))

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
            return _plain_error(503, "diagram_unavailable", str(exc))

    @app.get("/healthz", response_model=HealthOut, tags=["operations"],
             responses=_error_responses(503), summary="Liveness and database check")
    def healthz() -> HealthOut:
        svc.store.list_activations(1)
        return HealthOut(status="ok", database="ok")


def _add_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        # the pydantic message only: the rejected value (maybe a PIN) is never echoed
        message = f"{where}: {first.get('msg', 'invalid')}" if where else "invalid request body"
        body = ErrorOut(error=ErrorDetail(kind="invalid_input", message=message,
                                          field=where or None))
        return JSONResponse(body.model_dump(mode="json"), 400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "not_found" if exc.status_code == 404 else "http_error"
        return _plain_error(exc.status_code, kind, str(exc.detail), **(exc.headers or {}))

    @app.exception_handler(WorkflowError)
    async def workflow_error(_: Request, exc: WorkflowError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(Exception)
    async def crash(_: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected %s while answering a request", type(exc).__name__)
        return _plain_error(500, "failed", "internal error")


def _id(out: BaseModel) -> str:
    return str(getattr(out, "activation_id", ""))


def _background(service: ActivationService, stop: threading.Event, every: float) -> None:
    """Deliver the outbox and expire due activations until `stop` is set."""
    while not stop.is_set():
        try:
            service.dispatch()
            service.expire_due()
        except Exception:  # keep the server's dispatcher alive; the next tick retries
            log.exception("background dispatch failed")
        stop.wait(every)
