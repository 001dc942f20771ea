"""Schemathesis against the OpenAPI schema: generated requests never get a 5xx or an off-schema answer.

The calls carry what a real caller has: a valid proof of the activation's device key on app
routes, the operator token on operator routes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from adapters.api.guesses import Guesses
from adapters.device import DeviceKey
from tests.e2e.http_device import OPERATOR_TOKEN
from tests.e2e.phone import Phone

_FOLDER = Path(tempfile.mkdtemp(prefix="ecps-schemathesis-"))
_PHONE = Phone(_FOLDER)
_KEY = DeviceKey.generate()
_AID = _PHONE.svc.request("899700366240", device_key=_KEY.public_jwk).activation_id
APP = _PHONE.app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
_OPERATOR_PATHS = {"/operations/activations", "/operations/expire", "/activations/{activation_id}/audit"}


def _credentials(case: schemathesis.Case[Any]) -> None:
    """Make the credentials the case carries valid: the activation's id with a fresh proof of
    its key, the operator token (a case generated without them stays without). Each case starts
    with no wrong token counted: the auth check sends some on purpose, and past a few the server
    rightly answers 429 instead of 401/403. A query parameter the route does not declare is
    left out: the API ignores those, so a case made negative by one alone would be accepted."""
    APP.state.guard.guesses = Guesses()
    headers = dict(case.headers or {})
    if "Authorization" in headers:
        headers["Authorization"] = f"Bearer {OPERATOR_TOKEN}"
    if case.path_parameters and "activation_id" in case.path_parameters:
        case.path_parameters["activation_id"] = _AID
    if "DPoP" in headers and "activation_id" in (case.path_parameters or {}):
        headers["DPoP"] = _KEY.proof(case.method, f"http://localhost{case.formatted_path}", _AID,
                                     iat=_PHONE.now())
    case.headers = headers
    if case.query:  # unknown query parameters are ignored by design, as by FastAPI: not sent
        known = {p.name for p in case.operation.query}
        case.query = {name: value for name, value in case.query.items() if name in known}


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_generated_requests_get_documented_answers(case: schemathesis.Case[Any]) -> None:
    """Any request the schema allows (or not), with valid credentials, gets a documented,
    non-5xx, well-formed answer.

    Schema-valid input that the workflow refuses on its merits (a wrong code, an unknown
    identifier) is answered 4xx by design, so the positive-data-acceptance check is left out.
    """
    _credentials(case)
    case.call_and_validate(excluded_checks=[positive_data_acceptance])
