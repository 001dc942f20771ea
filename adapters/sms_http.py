"""An HTTP SMS gateway: JSON POST with a bearer token, errors as `DeliveryFailed`.

429 (with its Retry-After), 408, 5xx, timeouts and lost connections are transient; other
answers outside 2xx are permanent. Optional auto-fill formats: Android SMS Retriever app hash
and the WebOTP last line `@domain #code`.
"""

from __future__ import annotations

import logging
import math
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from adapters import outbound
from workflow.errors import DeliveryFailed
from workflow.messages import Sms
from workflow.security import mask_phone

log = logging.getLogger("ecps.sms")
_APP_HASH = re.compile(r"[A-Za-z0-9+/]{11}")
_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_CODE = re.compile(r"(?<![0-9])[0-9]{6,8}(?![0-9])")
_LONG_DIGITS = re.compile(r"[0-9]{6,}")


class SmsGatewayError(DeliveryFailed):
    """The gateway refused or could not be reached; `status` and `retry_after` (s) if known."""

    def __init__(self, message: str, transient: bool, status: int | None = None,
                 retry_after: int | None = None) -> None:
        super().__init__(message, transient)
        self.status = status
        self.retry_after = retry_after


class HttpSmsGateway:
    """POSTs `{"to", "text", "id"}` (plus `extra`) as JSON to `url` with `Authorization: Bearer`."""

    def __init__(self, url: str, token: str, *, timeout: float = 10.0,
                 app_hash: str | None = None, webotp_domain: str | None = None,
                 country_prefix: str | None = "+33", extra: dict[str, str] | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        if not url.startswith(("https://", "http://")):
            raise ValueError("the gateway URL must be http(s)")
        if not token or not token.isprintable():
            raise ValueError("the gateway token must be printable text")
        if app_hash is not None and not (_APP_HASH.fullmatch(app_hash)
                                         and not _LONG_DIGITS.search(app_hash)):
            raise ValueError("app_hash must be the 11-character SMS Retriever hash of the app")
        if webotp_domain is not None and not (_DOMAIN.fullmatch(webotp_domain)
                                              and not _LONG_DIGITS.search(webotp_domain)):
            raise ValueError("webotp_domain must be a lower-case host name, e.g. ecps.example.fr")
        self.url, self.app_hash, self.webotp_domain = url, app_hash, webotp_domain
        self.country_prefix, self.extra = country_prefix, dict(extra or {})
        self._client = httpx.Client(timeout=timeout, transport=transport, follow_redirects=False,
                                    headers={"Authorization": f"Bearer {token}"})

    def __repr__(self) -> str:
        return f"HttpSmsGateway({self.url!r})"

    def __enter__(self) -> HttpSmsGateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def text(self, text: str) -> str:
        """`text` with the configured auto-fill lines (the code stays the only number of its
        length: the WebOTP line repeats the same code)."""
        lines = [self.app_hash] if self.app_hash else []
        codes = set(_CODE.findall(text))
        if self.webotp_domain and len(codes) == 1:
            lines.append(f"@{self.webotp_domain} #{codes.pop()}")
        return "\n\n".join([text, "\n".join(lines)]) if lines else text

    def number(self, to: str) -> str:
        """`to` in international form when it is a national number and a prefix is set."""
        compact = re.sub(r"[ .()-]", "", to)
        if self.country_prefix and re.fullmatch(r"0[1-9][0-9]{8}", compact):
            return self.country_prefix + compact[1:]
        if compact.startswith("00"):
            return "+" + compact[2:]
        return compact

    def send(self, sms: Sms) -> None:
        """Deliver `sms`, or raise `SmsGatewayError` (a `DeliveryFailed`)."""
        body: dict[str, Any] = {**self.extra, "to": self.number(sms.to),
                                "text": self.text(sms.text), "id": sms.message_id}
        headers = {"Idempotency-Key": sms.message_id} if sms.message_id else {}
        try:
            response = outbound.post(self._client, self.url, json=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise self._failed(sms, SmsGatewayError(
                "the SMS gateway did not answer in time", True)) from exc
        except httpx.HTTPError as exc:
            raise self._failed(sms, SmsGatewayError(
                f"cannot reach the SMS gateway ({type(exc).__name__})", True)) from exc
        status = response.status_code
        if 200 <= status <= 299:
            log.info("SMS %s to %s accepted by the gateway", sms.message_id, mask_phone(sms.to))
            return
        if status == 429:
            wait = _retry_after(response.headers.get("Retry-After"))
            raise self._failed(sms, SmsGatewayError(
                "the SMS gateway asks to slow down (429)", True, status, wait))
        transient = status == 408 or status >= 500
        kind = "temporarily" if transient else "permanently"
        raise self._failed(sms, SmsGatewayError(
            f"the SMS gateway {kind} refused the SMS ({status})", transient, status))

    def _failed(self, sms: Sms, error: SmsGatewayError) -> SmsGatewayError:
        log.warning("SMS %s to %s not sent: %s", sms.message_id, mask_phone(sms.to), error)
        return error


def _retry_after(value: str | None) -> int | None:
    """Whole seconds from a Retry-After header (seconds or an HTTP date), None if unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return int(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0, math.ceil((when - datetime.now(UTC)).total_seconds()))
