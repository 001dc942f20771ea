"""The answers of the HTTP API: error bodies by kind, and POSTs run under an `Idempotency-Key`."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from adapters.api.idempotency import IdempotencyStore, KeyBusy, KeyReused, Saved
from adapters.api.schemas import ErrorDetail, ErrorOut
from adapters.kinds import kind_of
from workflow import ActivationService
from workflow.domain import Answer
from workflow.errors import (
    InvalidInput,
    StorageError,
    TooManyRequests,
    TransitionNotAllowed,
    VerificationFailed,
    WorkflowError,
)

log = logging.getLogger("ecps.http")
T = TypeVar("T")
KEPT_STATUSES = frozenset(range(200, 500)) - {409, 429}  # answers a retry gets back
_KEY_RE = re.compile(r"[\x21-\x7e]{1,255}")


class ModelResponse(JSONResponse):
    """A JSON answer whose body pydantic writes straight from a model (no dict in between)."""

    def __init__(self, model: BaseModel, status_code: int = 200,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(model, status_code, headers=headers)

    def render(self, content: Any) -> bytes:
        # the same bytes as JSONResponse's compact, non-ASCII-escaping json.dumps
        return content.model_dump_json().encode() if isinstance(content, BaseModel) \
            else super().render(content)


def error_response(error: BaseException) -> JSONResponse:
    """The JSON answer for `error` (its kind, status and safe message; no secret)."""
    kind = kind_of(error)
    known = isinstance(error, WorkflowError)
    message = str(error) if known else "internal error"
    if isinstance(error, StorageError):  # names the database: for the server's log, not the client
        log.warning("storage error while answering a request: %s", error)
        message = "the store could not complete the request; the server's log says why"
    detail = ErrorDetail(kind=kind.name, message=message)
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
    return ModelResponse(ErrorOut(error=detail), kind.http_status, headers=headers)


def plain_error(status: int, kind: str, message: str, **headers: str) -> JSONResponse:
    body = ErrorOut(error=ErrorDetail(kind=kind, message=message))
    return ModelResponse(body, status, headers=headers)


class Runner:
    """Runs one POST: answers its error kinds, replays or reserves its `Idempotency-Key`."""

    def __init__(self, service: ActivationService, keys: IdempotencyStore,
                 unit: Callable[[], AbstractContextManager[object]] = nullcontext) -> None:
        self.service = service
        self.keys = keys
        self.unit = unit  # the store's calls of one POST on one connection (and transaction)

    def __call__(self, request: Request, key: str | None, body: BaseModel | None,
                 call: Callable[[], T], present: Callable[[T], BaseModel], status: int = 200,
                 headers: Callable[[BaseModel], dict[str, str]] | None = None, *,
                 event: str = "", activation_id: str = "",
                 still: Callable[[], bool] | None = None) -> Response:
        """The answer of `call` shown by `present` (or the one saved for `key`); under a key, the
        answer is committed with the change it answers. Logs the call's event and outcome.

        `still` tells whether a saved success may be given back now (e.g. a login while the
        credential is active): when it says no, the call runs again and its answer is not saved.
        """
        def render(outcome: object) -> Response:
            if isinstance(outcome, WorkflowError):
                return error_response(outcome)
            out = present(outcome)  # type: ignore[arg-type]
            return ModelResponse(out, status, headers=headers(out) if headers else None)

        def execute() -> Response:
            try:
                with self.unit():
                    outcome = call()
            except WorkflowError as exc:
                _logged(activation_id, event, kind_of(exc).name)
                return render(exc)
            _logged(activation_id or str(getattr(outcome, "activation_id", "")), event, "ok")
            return render(outcome)

        if key is None:
            return execute()
        if not _KEY_RE.fullmatch(key):
            return plain_error(400, "invalid_input",
                                "Idempotency-Key must be 1-255 visible ASCII characters")
        text = json.dumps(body.model_dump(mode="json") if body else None, sort_keys=True)
        fingerprint = self.service.keys.digest("idempotency", request.method, request.url.path,
                                               text)
        now = self.service.now().timestamp()
        try:
            saved = self.keys.reserve(key, fingerprint, now)
        except KeyReused:
            return plain_error(409, "idempotency_key_reused",
                                "this Idempotency-Key was used with another request")
        except KeyBusy:
            return plain_error(409, "idempotency_key_busy",
                                "a request with this Idempotency-Key is still being answered",
                                **{"Retry-After": "1"})
        except WorkflowError as exc:
            return error_response(exc)
        if saved is not None and saved.status < 300 and still is not None and not _holds(still):
            return execute()
        if saved is not None:
            return Response(saved.body, saved.status,
                            headers={**saved.headers, "Idempotent-Replayed": "true"},
                            media_type="application/json")

        def kept(outcome: object) -> Answer | None:
            answer = render(outcome)
            if answer.status_code not in KEPT_STATUSES:
                return None
            return Answer(key, fingerprint, answer.status_code, bytes(answer.body),
                          json.dumps(_kept_headers(answer)), now)

        try:
            with self.service.answering(kept):
                answer = execute()
        except BaseException:
            self.keys.release(key)
            raise
        if answer.status_code in KEPT_STATUSES:  # again, for a call that committed nothing
            self.keys.save(key, Saved(answer.status_code, bytes(answer.body), _kept_headers(answer)))
        else:
            self.keys.release(key)
        return answer


def _holds(still: Callable[[], bool]) -> bool:
    """What `still` says; no when it cannot say (the call, run again, answers the error)."""
    try:
        return still()
    except WorkflowError:
        return False


def _logged(activation_id: str, event: str, outcome: str) -> None:
    """One log line per call: the activation, the event and its outcome (nothing else)."""
    log.info("activation %s %s: %s", activation_id or "-", event, outcome,
             extra={"activation_id": activation_id, "event": event, "outcome": outcome})


def _kept_headers(answer: Response) -> dict[str, str]:
    return {k: v for k, v in answer.headers.items() if k.lower() == "location"}
