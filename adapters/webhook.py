"""HTTP webhook sink for the durable event feed, and the signature check its receivers run.

Each event is POSTed as JSON (`DomainEvent.to_json()`). `X-Ecps-Signature: v1=<hex>` is
HMAC-SHA256 with the shared secret over `"{timestamp}.{body}"`, `X-Ecps-Timestamp` the Unix
time of sending (a receiver refuses stale ones: replay), `Idempotency-Key` the event's key
(unsigned: `verify_request` checks it, and `X-Ecps-Event`, against the signed body).
A 2xx answer accepts the event; 5xx, 408, 425, 429, timeouts and connection errors are
transient failures the outbox retries with back-off; any other answer is permanent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx

from adapters import outbound
from workflow.clock import SystemClock
from workflow.errors import DeliveryFailed
from workflow.events import DomainEvent
from workflow.ports import Clock

SIGNATURE_HEADER = "X-Ecps-Signature"
TIMESTAMP_HEADER = "X-Ecps-Timestamp"
EVENT_HEADER = "X-Ecps-Event"
KEY_HEADER = "Idempotency-Key"
TOLERANCE = timedelta(minutes=5)
MIN_SECRET_BYTES = 16
_TRANSIENT_STATUS = frozenset({408, 425, 429})

Secret = str | bytes


def sign(secret: Secret, timestamp: int, body: bytes) -> str:
    """The signature header value of `body` sent at `timestamp` (`v1=<hex>`)."""
    message = str(timestamp).encode() + b"." + body
    return "v1=" + hmac.new(_key(secret), message, hashlib.sha256).hexdigest()


def verify_signature(secret: Secret | Sequence[Secret], body: bytes, timestamp: str | int,
                     signature: str, *, tolerance: timedelta = TOLERANCE,
                     now: datetime | None = None) -> bool:
    """Whether `signature` signs `body` at `timestamp` with a secret, and `timestamp` is fresh.

    `secret` may be a list (current and previous, while rotating); `signature` may hold
    several comma-separated `v1=` values. Compared in constant time; False on any doubt.
    """
    try:
        sent = int(timestamp)
    except (TypeError, ValueError):
        return False
    moment = (now or SystemClock().now()).timestamp()
    if abs(moment - sent) > tolerance.total_seconds():
        return False
    secrets = [secret] if isinstance(secret, (str, bytes)) else list(secret)
    given = [part.strip() for part in str(signature).split(",") if part.strip()]
    expected = [sign(s, sent, body) for s in secrets]
    found = False
    for candidate in given:
        for wanted in expected:
            found |= hmac.compare_digest(candidate.encode(), wanted.encode())
    return found


def verify_request(secret: Secret | Sequence[Secret], headers: Mapping[str, str], body: bytes, *,
                   tolerance: timedelta = TOLERANCE, now: datetime | None = None) -> bool:
    """`verify_signature` with the timestamp and signature taken from HTTP `headers`; and the
    headers the signature does not cover, `Idempotency-Key` and `X-Ecps-Event`, when given, must
    be the signed body's `key` and `type` (else a captured request, replayed within the
    tolerance under another key, would pass a receiver's dedupe on that header)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if not verify_signature(secret, body, lowered.get(TIMESTAMP_HEADER.lower(), ""),
                            lowered.get(SIGNATURE_HEADER.lower(), ""), tolerance=tolerance,
                            now=now):
        return False
    unsigned = {KEY_HEADER.lower(): "key", EVENT_HEADER.lower(): "type"}
    if not unsigned.keys() & lowered.keys():
        return True
    try:
        signed = json.loads(body)
    except ValueError:
        return False
    return isinstance(signed, dict) and all(
        lowered[header] == signed.get(member) for header, member in unsigned.items()
        if header in lowered)


class WebhookSink:
    """Publishes each event to `url` as a signed JSON POST; implements `EventSink`."""

    def __init__(self, url: str, secret: Secret, *, timeout: float = 10.0,
                 clock: Clock | None = None, client: httpx.Client | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("webhook url must be an http:// or https:// URL")
        if len(_key(secret)) < MIN_SECRET_BYTES:
            raise ValueError(f"webhook secret must be at least {MIN_SECRET_BYTES} bytes")
        self.url = url
        self._secret = secret
        self._clock = clock or SystemClock()
        self._client = client or httpx.Client(timeout=timeout, follow_redirects=False)

    def __repr__(self) -> str:
        parts = urlsplit(self.url)  # no credentials, no query: they may hold a secret
        port = f":{parts.port}" if parts.port else ""
        return f"WebhookSink({parts.scheme}://{parts.hostname}{port}{parts.path})"

    def publish(self, event: DomainEvent) -> None:
        """POST `event`; `DeliveryFailed` (transient or not) unless the receiver answers 2xx."""
        body = event.to_json().encode()
        timestamp = int(self._clock.now().timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "ecps-workflow-webhook",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
            EVENT_HEADER: event.kind,
            KEY_HEADER: event.key,
        }
        try:
            response = outbound.post(self._client, self.url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise DeliveryFailed("webhook timed out", transient=True) from exc
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"webhook unreachable ({type(exc).__name__})",
                                 transient=True) from exc
        status = response.status_code
        if 200 <= status < 300:
            return
        transient = status >= 500 or status in _TRANSIENT_STATUS
        raise DeliveryFailed(f"webhook answered HTTP {status}", transient=transient)

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()


def _key(secret: Secret) -> bytes:
    return secret.encode() if isinstance(secret, str) else bytes(secret)
