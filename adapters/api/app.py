"""The HTTP API over an `ActivationService` (FastAPI): the app, its error handlers, its dispatcher."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext

from anyio import to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from adapters.api.address_rate import MemoryRequestRate, RequestRate, SqlRequestRate
from adapters.api.answers import ModelResponse, Runner, error_response, plain_error
from adapters.api.console import PhoneKit, add_console
from adapters.api.console.signouts import MemorySignOuts, SignOuts, SqlSignOuts
from adapters.api.guard import AccessRefused, Guard
from adapters.api.guesses import GuessCounter, Guesses, SqlGuesses
from adapters.api.idempotency import IdempotencyStore, MemoryIdempotency, SqlIdempotency
from adapters.api.lanes import DEFAULT_PIN_THREADS, Lane, PinLane
from adapters.api.login_routes import add_login_routes
from adapters.api.middleware import BodyLimit, SecurityHeaders
from adapters.api.replay import MemoryReplay, ReplayStore, SqlReplay
from adapters.api.routes import add_docs_routes, add_flow_routes, add_operator_routes, add_read_routes
from adapters.api.schemas import ErrorDetail, ErrorOut
from adapters.api.settings import HttpSettings
from adapters.sql import SqlStore
from workflow import ActivationService
from workflow.errors import WorkflowError
from workflow.outbox import DispatchLoop

log = logging.getLogger("ecps.http")
_HTTP_KINDS = {400: "invalid_input", 404: "not_found", 405: "method_not_allowed"}
"""The kinds of the web framework's own refusals (any other status: `http_error`)."""

DESCRIPTION = """
The activation of a health professional's e-CPS without a CPS card, as an HTTP API.

Main path: `POST /activations` → (the e-mail with the QR code is sent) →
`POST /activations/{id}/scan` → (the SMS code is sent) → `POST /activations/{id}/sms` →
`POST /activations/{id}/pin` → `POST /activations/{id}/pin/confirm` → active; then
`POST /activations/{id}/authenticate` logs in with the PIN.

Every error answers `{"error": {"kind": ..., "message": ...}}` with a stable `kind`
(400 invalid input, 404 unknown activation, 409 not allowed in this state or key reused,
410 expired, 422 refused on its merits (wrong code, not eligible), 423 locked, 429 with
`Retry-After`). Every POST but `/operations/expire` (a sweep, safe to repeat) honours an
`Idempotency-Key` header: the same key with the same
request gets the first answer again (header `Idempotent-Replayed: true`) and has no second
effect (a saved login only while the e-CPS is still active); the same key with another
request is 409.

The flow is bound to the device that asked: `POST /activations` takes the app's public key
(`device_key`, a P-256 or Ed25519 JWK) and every later call on the activation carries a
`DPoP` header, a fresh proof signed with that key (RFC 9449 shape, with an `activation_id`
claim); without a valid one the answer is 401 and nothing happens. Operator routes take
`Authorization: Bearer <token>` (401 without, 403 wrong, 429 to an address after 5 wrong
ones in a minute, or to every address after 100 from all). Bodies over the limit are 413.
""".strip()


def _database(service: ActivationService) -> SqlStore | Engine | None:
    """The store itself when it is a `SqlStore` (its kept connections), else its engine if it
    has one (e.g. a wrapper around one), else None."""
    store = service.store
    if isinstance(store, SqlStore):
        return store
    engine = getattr(store, "engine", None)
    return engine if isinstance(engine, Engine) else None


def default_idempotency(service: ActivationService) -> IdempotencyStore:
    """The answers table in the store's own database when it has one, else memory."""
    database = _database(service)
    return MemoryIdempotency() if database is None else SqlIdempotency(database)


def default_guesses(service: ActivationService) -> GuessCounter:
    """Wrong operator tokens counted in the store's own database when it has one (so that
    every server process counts them together), else in memory."""
    database = _database(service)
    if database is None:
        return Guesses()
    return SqlGuesses(database, digest=lambda address: service.keys.digest("operator-guess", address))


def default_rates(service: ActivationService, http: HttpSettings) -> RequestRate:
    """Activation requests per address counted in the store's own database when it has one
    (so that the limit holds across every server process), else in memory."""
    database = _database(service)
    if database is None:
        return MemoryRequestRate(http.request_rate, http.request_period)
    return SqlRequestRate(database, http.request_rate, http.request_period,
                          digest=lambda address: service.keys.digest("request-address", address))


def default_signouts(service: ActivationService) -> SignOuts:
    """Signed-out console sessions remembered in the store's own database when it has one (so
    that a signed-out cookie is refused by every server process), else in memory."""
    database = _database(service)
    return MemorySignOuts() if database is None else SqlSignOuts(database)


def create_tables(service: ActivationService) -> None:
    """Make the HTTP layer's own tables in the store's database, if it has one (`ecps serve`
    does it once before its worker processes start, each building its app)."""
    default_idempotency(service)
    default_replay(service)
    default_guesses(service)
    default_rates(service, HttpSettings())
    default_signouts(service)


def default_replay(service: ActivationService) -> ReplayStore:
    """The proofs' `jti` table in the store's own database when it has one, else memory."""
    database = _database(service)
    return MemoryReplay() if database is None else SqlReplay(database)


def create_app(service: ActivationService, *, idempotency: IdempotencyStore | None = None,
               dispatch_every: float | None = 1.0, http: HttpSettings | None = None,
               replay: ReplayStore | None = None, threads: int | None = None,
               pin_threads: int = DEFAULT_PIN_THREADS, phone: PhoneKit | None = None) -> FastAPI:
    """The API over `service`.

    `idempotency` keeps the answers replayed for an `Idempotency-Key` (default: a table in
    the store's database, or memory for a store without one); while the app runs, a
    background thread delivers the outbox batch after batch as long as messages are due,
    is woken by each step the service commits, otherwise looks again after a pause growing
    to `dispatch_every` seconds, and expires due activations (None: no thread). `http`
    holds the operator token, proof window, caps and CORS origins (default: none
    configured, the defaults); `replay` remembers the proofs' `jti` (default: chosen as
    for idempotency); `threads` caps the threads that run requests (default: anyio's 40; 0:
    the API's run on the event loop's own thread, the console's pages on one thread), but for
    those that hash or check a PIN, which have `pin_threads` of their own (their sum, 0 counted
    as 2, is what the store's connection pool needs). The web console is at `/console`;
    `phone` (development only) adds its phone simulator.
    """
    keys = idempotency if idempotency is not None else default_idempotency(service)
    http = http if http is not None else HttpSettings()
    if threads is not None and threads < 0:
        raise ValueError("threads: 0 (the event loop's own) or more")
    lane = Lane(inline=threads == 0)
    guard = Guard(service, http, replay if replay is not None else default_replay(service),
                  default_guesses(service), default_rates(service, http), lane)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if threads is not None:
            to_thread.current_default_thread_limiter().total_tokens = max(threads, 1)
        if dispatch_every is None:
            yield
            return
        pump = DispatchLoop(service.dispatch, service.expire_due, longest_pause=dispatch_every)
        wake = service.listeners.add(pump.wake)  # the same bound method, to remove it later
        worker = threading.Thread(target=pump.run, kwargs={"survive": True},
                                  name="ecps-dispatcher", daemon=True)
        worker.start()
        try:
            yield
        finally:
            service.listeners.remove(wake)
            pump.stop()
            worker.join(timeout=10)

    app = FastAPI(title="e-CPS activation", version="1", description=DESCRIPTION,
                  lifespan=lifespan, docs_url=None, redoc_url=None)

    app.state.guard = guard
    _add_handlers(app)
    unit = getattr(service.store, "unit", nullcontext)  # `SqlStore.unit`: one transaction
    pins = PinLane(pin_threads)
    add_flow_routes(app, service, Runner(service, keys, unit), guard, lane, pins)
    add_read_routes(app, service, guard, lane)
    add_operator_routes(app, service, guard, lane)
    add_login_routes(app, service, Runner(service, keys, unit), guard, lane, pins)
    add_docs_routes(app)
    add_console(app, service, http, phone, guard.guesses, default_signouts(service))
    if http.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(http.cors_origins),
                           allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type", "DPoP", "Authorization",
                                          "Idempotency-Key"],
                           expose_headers=["Location", "Retry-After", "Idempotent-Replayed"])
    app.add_middleware(BodyLimit, limit=http.body_limit)
    app.add_middleware(SecurityHeaders)
    return app


def _add_handlers(app: FastAPI) -> None:
    @app.exception_handler(AccessRefused)
    async def refused(_: Request, exc: AccessRefused) -> JSONResponse:
        wait = exc.headers.get("Retry-After")
        body = ErrorOut(error=ErrorDetail(kind=exc.kind, message=exc.message,
                                          retry_after=int(wait) if wait else None))
        return ModelResponse(body, exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        if first.get("type") == "json_invalid":  # its place is a character offset, not a field
            return plain_error(400, "invalid_input", "the request body is not valid JSON")
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        # the pydantic message only: the rejected value (maybe a PIN) is never echoed
        message = f"{where}: {first.get('msg', 'invalid')}" if where else "invalid request body"
        body = ErrorOut(error=ErrorDetail(kind="invalid_input", message=message,
                                          field=where or None))
        return ModelResponse(body, 400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = _HTTP_KINDS.get(exc.status_code, "http_error")
        message = ("the request body cannot be read as JSON" if kind == "invalid_input"
                   else str(exc.detail))
        return plain_error(exc.status_code, kind, message, **(exc.headers or {}))

    @app.exception_handler(WorkflowError)
    async def workflow_error(_: Request, exc: WorkflowError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(Exception)
    async def crash(_: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected %s while answering a request", type(exc).__name__)
        return plain_error(500, "failed", "internal error")

