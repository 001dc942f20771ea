"""Push gateways for the login notification: a file per push (the demo) and FCM HTTP v1 over HTTP.

`HttpPush` posts the shape of an FCM HTTP v1 `message` with a bearer token: 429 (with its
Retry-After), 408, 5xx, timeouts and lost connections are transient; other answers outside
2xx are permanent (a Retry-After is kept within the outbox's longest wait). A push holds the
login id, the portal's name and the binding message only.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx

from adapters import outbound
from adapters.sms_http import _retry_after
from workflow.errors import DeliveryFailed
from workflow.messages import Push
from workflow.outbox import MAX_RETRY_AFTER

log = logging.getLogger("ecps.push")


class FilePush:
    """Writes each push as `<dir>/push-<n>-<message id>.json`, numbered in order (the demo's phone
    reads them); a retry of one message overwrites its own file."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)

    def send(self, push: Push) -> None:
        """Write `push` as its own JSON file."""
        ident = push.message_id or push.login_id
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            again = sorted(self.directory.glob(f"push-*-{ident}.json"))
            path = again[0] if again else self.directory / f"push-{len(self._files()) + 1:06d}-{ident}.json"
            path.write_text(json.dumps(fcm_message(push), ensure_ascii=False, indent=2),
                            encoding="utf-8")
        except OSError as exc:
            raise DeliveryFailed(f"cannot write the push file ({type(exc).__name__})") from exc

    @property
    def sent(self) -> list[Push]:
        """The pushes written so far, oldest first."""
        return [push_of(json.loads(p.read_text(encoding="utf-8"))) for p in self._files()]

    def _files(self) -> list[Path]:
        return sorted(self.directory.glob("push-*.json"))


class HttpPush:
    """POSTs `{"message": ...}` (FCM HTTP v1) as JSON to `url` with `Authorization: Bearer`."""

    def __init__(self, url: str, token: str, *, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        if not url.startswith(("https://", "http://")):
            raise ValueError("the push URL must be http(s)")
        if not token or not token.isprintable():
            raise ValueError("the push token must be printable text")
        self.url = url
        self._client = httpx.Client(timeout=timeout, transport=transport, follow_redirects=False,
                                    headers={"Authorization": f"Bearer {token}"})

    def __repr__(self) -> str:
        return f"HttpPush({self.url!r})"

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def send(self, push: Push) -> None:
        """Deliver `push`, or raise `DeliveryFailed` (`retry_after` set from a 429)."""
        try:
            response = outbound.post(self._client, self.url, json=fcm_message(push))
        except httpx.TimeoutException as exc:
            raise self._failed(push, DeliveryFailed("the push service did not answer in time")) from exc
        except httpx.HTTPError as exc:
            raise self._failed(push, DeliveryFailed(
                f"cannot reach the push service ({type(exc).__name__})")) from exc
        status = response.status_code
        if 200 <= status <= 299:
            log.info("push %s for login %s accepted", push.message_id, push.login_id)
            return
        if status == 429:
            raise self._failed(push, DeliveryFailed(
                "the push service asks to slow down (429)", True,
                retry_after=_bounded(_retry_after(response.headers.get("Retry-After")))))
        transient = status == 408 or status >= 500
        kind = "temporarily" if transient else "permanently"
        raise self._failed(push, DeliveryFailed(f"the push service {kind} refused the push ({status})",
                                                transient))

    def _failed(self, push: Push, error: DeliveryFailed) -> DeliveryFailed:
        log.warning("push %s for login %s not sent: %s", push.message_id, push.login_id, error)
        return error


def _bounded(seconds: int | None) -> int | None:
    """A Retry-After kept within the outbox's longest wait (a huge one would not fit a date)."""
    return None if seconds is None else min(seconds, int(MAX_RETRY_AFTER.total_seconds()))


def fcm_message(push: Push) -> dict[str, Any]:
    """The FCM HTTP v1 request body for `push`: a notification and its data, no secret."""
    return {"message": {
        "token": push.to,
        "notification": {"title": push.client_name,
                         "body": f"Demande de connexion e-CPS : {push.binding_message}"},
        "data": {"login_id": push.login_id, "client_name": push.client_name,
                 "binding_message": push.binding_message, "message_id": push.message_id},
    }}


def push_of(body: dict[str, Any]) -> Push:
    """The push an FCM HTTP v1 request body carries."""
    message = body["message"]
    data = message["data"]
    return Push(str(message["token"]), str(data["login_id"]), str(data["client_name"]),
                str(data["binding_message"]), str(data.get("message_id", "")))
