"""The console's sign-in: the operator token once, then a signed HttpOnly cookie and a CSRF token.

The cookie holds its issue time and an HMAC keyed with the operator token's digest, so it
dies with the token and needs no server memory; POSTs carry a CSRF token derived from it and,
when the browser sends one, an `Origin` of this server.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import parse_qs, urlsplit

from fastapi import Request

from adapters.api.settings import HttpSettings, token_digest

COOKIE = "ecps_console"
LIFETIME = 8 * 3600  # seconds a sign-in lasts


class SignInNeeded(Exception):
    """The request has no valid console session (the pages redirect to the sign-in form)."""


class ConsoleRefused(Exception):
    """A console or simulator request refused (403) before anything happens; says why."""


class Sessions:
    """Makes and checks console sessions for the operator token of `settings`."""

    def __init__(self, settings: HttpSettings) -> None:
        self.settings = settings

    @property
    def open(self) -> bool:
        """Whether the server has an operator token, without which the console stays closed."""
        return self.settings.has_operator

    def _mac(self, text: str) -> str:
        key = self.settings.operator_token_sha256.encode()
        return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()

    def accepts(self, token: str) -> bool:
        """Whether `token` is the operator token (compared as digests, in constant time)."""
        return self.open and hmac.compare_digest(token_digest(token), self.settings.operator_token_sha256)

    def issue(self, now: float | None = None) -> str:
        """A fresh cookie value."""
        issued = str(int(time.time() if now is None else now))
        return f"{issued}.{self._mac('session:' + issued)}"

    def valid(self, cookie: str | None, now: float | None = None) -> bool:
        """Whether `cookie` is a live session of this token."""
        if not self.open or not cookie or "." not in cookie:
            return False
        issued, mac = cookie.split(".", 1)
        if not issued.isdigit() or not hmac.compare_digest(mac, self._mac("session:" + issued)):
            return False
        age = (time.time() if now is None else now) - int(issued)
        return 0 <= age <= LIFETIME

    def require(self, request: Request) -> str:
        """The session cookie of `request`, or `SignInNeeded`."""
        cookie = request.cookies.get(COOKIE)
        if not self.valid(cookie):
            raise SignInNeeded
        assert cookie is not None
        return cookie

    def csrf(self, cookie: str) -> str:
        """The CSRF token the forms of this session carry."""
        return self._mac("csrf:" + cookie)[:32]


async def form_of(request: Request) -> dict[str, str]:
    """The urlencoded form of a POST (first value of each field)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


def same_origin(request: Request) -> bool:
    """Whether the request's `Origin` (when given) is this server."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


def checked_post(sessions: Sessions, request: Request, form: dict[str, str]) -> None:
    """Refuse (`SignInNeeded` or `ConsoleRefused`) a POST without session, origin or CSRF token."""
    cookie = sessions.require(request)
    if not same_origin(request) or not hmac.compare_digest(form.get("csrf", ""), sessions.csrf(cookie)):
        raise ConsoleRefused("the form is stale or from another site: reload the page")
