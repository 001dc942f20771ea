"""The login routes: a portal asks and polls (operator credential), the app lists and answers
(a DPoP proof of the credential's device key), anyone reads the JWKS."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Path, Request
from fastapi.responses import Response

from adapters.api.answers import Runner
from adapters.api.guard import Guard, IdPath, Proof
from adapters.api.lanes import Lane, PinLane
from adapters.api.login_schemas import (
    JwksOut,
    LoginBody,
    LoginOut,
    LoginStartedOut,
    PendingLoginOut,
    PendingLoginsOut,
)
from adapters.api.routes import KeyHeader, _error_responses
from adapters.api.schemas import PinBody
from workflow import ActivationService
from workflow.login.service import login_id_arg
from workflow.security import text_arg

LoginPath = Annotated[str, Path(min_length=1, max_length=128, description="the login id")]
PORTAL_ERRORS = _error_responses(400, 401, 403, 404, 409, 410, 413, 422, 423, 429, 503)
APP_ERRORS = _error_responses(400, 401, 404, 409, 410, 413, 422, 423, 429, 503)


def add_login_routes(app: FastAPI, svc: ActivationService, run: Runner, guard: Guard, lane: Lane,
                     pins: PinLane) -> None:
    """Add the login routes to `app`: they run on `lane`, approving a login (a PIN check) on
    `pins`."""
    portal = [Depends(guard.operator)]

    async def login_device(request: Request, login_id: LoginPath, proof: Proof = None) -> None:
        """Refuse (401) an answer without a proof of the key of the login's credential (a login
        that does not exist has no key to prove: any proof is refused); a malformed id is a 400
        before any store reads it."""
        def check() -> None:
            g = svc.logins.store.get_login(login_id_arg(login_id))
            if g is None:  # any proof refused, as for a login of another credential
                guard.check_device(request, login_id, proof, known=False)
            else:
                guard.check_device(request, g.activation_id, proof, vague=True)
        await lane.run(check)

    async def credential_device(request: Request, activation_id: IdPath,
                                proof: Proof = None) -> None:
        """Refuse (401) a call without a proof of the credential's device key; a malformed id
        is a 400 before any store reads it."""
        await lane.run(lambda: guard.check_device(
            request, text_arg(activation_id, "activation_id", max_len=128), proof))

    device = [Depends(login_device)]

    @app.post("/logins", status_code=201, response_model=LoginStartedOut, tags=["login"],
              responses=PORTAL_ERRORS, dependencies=portal,
              summary="A portal asks to log a professional in (the push follows)")
    async def start_login(body: LoginBody, request: Request,
                          idempotency_key: KeyHeader = None) -> Response:
        return await lane.run(lambda: run(
            request, idempotency_key, body,
            lambda: svc.start_login(body.national_id, client_id=body.client_id,
                                    client_name=body.client_name,
                                    binding_message=body.binding_message),
            LoginStartedOut.of, 201,
            headers=lambda out: {"Location": f"/logins/{getattr(out, 'login_id', '')}"},
            event="start_login"))

    @app.get("/logins/{login_id}", response_model=LoginOut, tags=["login"],
             responses=PORTAL_ERRORS, dependencies=portal,
             summary="The portal polls: the state, and the signed assertion once")
    async def poll_login(login_id: LoginPath) -> LoginOut:
        return await lane.run(lambda: LoginOut.of(svc.login_result(login_id)))

    @app.post("/logins/{login_id}/cancel", response_model=LoginOut, tags=["login"],
              responses=PORTAL_ERRORS, dependencies=portal, summary="The portal gives a login up")
    async def cancel_login(login_id: LoginPath, request: Request,
                           idempotency_key: KeyHeader = None) -> Response:
        return await lane.run(lambda: run(request, idempotency_key, None,
                                          lambda: svc.cancel_login(login_id), LoginOut.of,
                                          event="cancel_login"))

    @app.get("/activations/{activation_id}/logins", response_model=PendingLoginsOut,
             tags=["login"], responses=APP_ERRORS, dependencies=[Depends(credential_device)],
             summary="The logins waiting for the professional's answer (the app's list)")
    async def pending_logins(activation_id: IdPath) -> PendingLoginsOut:
        return PendingLoginsOut(logins=[PendingLoginOut.of(p) for p in
                                        await lane.run(lambda: svc.pending_logins(activation_id))])

    @app.post("/logins/{login_id}/approve", response_model=LoginOut, tags=["login"],
              responses=APP_ERRORS, dependencies=device,
              summary="Approve a login with the PIN (a wrong one counts toward locking)")
    async def approve_login(login_id: LoginPath, body: PinBody, request: Request,
                            idempotency_key: KeyHeader = None) -> Response:
        return await pins.run(lambda: run(
            request, idempotency_key, body, lambda: svc.approve_login(login_id, body.pin),
            LoginOut.of, event="approve_login"))

    @app.post("/logins/{login_id}/deny", response_model=LoginOut, tags=["login"],
              responses=APP_ERRORS, dependencies=device, summary="Refuse a login")
    async def deny_login(login_id: LoginPath, request: Request,
                         idempotency_key: KeyHeader = None) -> Response:
        return await lane.run(lambda: run(request, idempotency_key, None,
                                          lambda: svc.deny_login(login_id), LoginOut.of,
                                          event="deny_login"))

    @app.get("/.well-known/jwks.json", response_model=JwksOut, tags=["login"],
             summary="The public keys that verify login assertions")
    def jwks() -> JwksOut:
        return JwksOut.model_validate(svc.jwks())

