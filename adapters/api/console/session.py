"""The console's sign-in: the operator token once, then a signed HttpOnly cookie and a CSRF token.

The cookie holds its issue time, a random nonce and an HMAC keyed with the operator token's
digest, so it dies with the token; the server remembers only the sessions signed out (until
they would have expired, `adapters.api.console.signouts`) and the recent wrong tokens
(`adapters.api.guesses`), in the service's database when it has one. POSTs
carry a CSRF token derived from the cookie and, when the browser sends one, an `Origin` of
this server.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from fastapi import Request

from adapters.api.console.signouts import MemorySignOuts, SignOuts
from adapters.api.guesses import FAILURES, FAILURES_ALL, WINDOW, GuessCounter, Guesses
from adapters.api.settings import HttpSettings, token_digest

__all__ = ["COOKIE", "FAILURES", "FAILURES_ALL", "LIFETIME", "WINDOW", "ConsoleRefused", "Sessions",
           "SignInNeeded", "SignInsHeldOff"]

COOKIE = "ecps_console"
LIFETIME = 8 * 3600  # seconds a sign-in lasts

log = logging.getLogger(__name__)


class SignInNeeded(Exception):
    """The request has no valid console session (the pages redirect to the sign-in form)."""


class ConsoleRefused(Exception):
    """A console or simulator request refused (403) before anything happens; says why."""


class SignInsHeldOff(Exception):
    """Too many failed sign-ins from this address lately: answered 429 with `retry_after`."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed sign-ins from this address: try again in {retry_after} s")
        self.retry_after = retry_after


class Sessions:
    """Makes and checks console sessions for the operator token of `settings`; wrong tokens
    count into `guesses` (by default its own, dated by `clock` in seconds) and signed-out
    sessions are remembered by `signouts` (by default in memory)."""

    def __init__(self, settings: HttpSettings, clock: Callable[[], float] = time.monotonic,
                 guesses: GuessCounter | None = None, signouts: SignOuts | None = None) -> None:
        self.settings = settings
        self.guesses: GuessCounter = guesses if guesses is not None else Guesses(clock)
        self.signouts: SignOuts = signouts if signouts is not None else MemorySignOuts()

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

    def sign_in(self, address: str, token: str) -> bool:
        """Whether `token` is the operator token, tried from `address`; `SignInsHeldOff` (whatever
        the token) while that address, or all together, gave too many wrong tokens lately."""
        wait = self.guesses.guess(address)  # counted as wrong until it proves right
        if wait:
            raise SignInsHeldOff(wait)
        if self.accepts(token):
            self.guesses.right(address)
            return True
        log.warning("console sign-in refused: not the operator token (from @%s)", address)
        return False

    def issue(self, now: float | None = None) -> str:
        """A fresh cookie value: its issue time, a random nonce and their MAC."""
        text = f"{int(time.time() if now is None else now)}.{secrets.token_urlsafe(12)}"
        return f"{text}.{self._mac('session:' + text)}"

    def valid(self, cookie: str | None, now: float | None = None) -> bool:
        """Whether `cookie` is a live session of this token, not signed out."""
        parts = (cookie or "").split(".")
        if not self.open or len(parts) != 3:
            return False
        issued, nonce, mac = parts
        if not issued.isdigit() or not _same(mac, self._mac(f"session:{issued}.{nonce}")):
            return False
        now = time.time() if now is None else now
        return 0 <= now - int(issued) <= LIFETIME and not self.signouts.ended(nonce, now)

    def end(self, cookie: str, now: float | None = None) -> None:
        """Sign `cookie`'s session out: it is refused from now on, even if replayed."""
        issued, nonce, _ = cookie.split(".")
        self.signouts.end(nonce, int(issued) + LIFETIME, time.time() if now is None else now)

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
    try:
        return urlsplit(origin).netloc == request.headers.get("host", "")
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return False


def checked_post(sessions: Sessions, request: Request, form: dict[str, str]) -> None:
    """Refuse (`SignInNeeded` or `ConsoleRefused`) a POST without session, origin or CSRF token."""
    cookie = sessions.require(request)
    if not same_origin(request) or not _same(form.get("csrf", ""), sessions.csrf(cookie)):
        raise ConsoleRefused("the form is stale or from another site: reload the page")


def _same(given: str, expected: str) -> bool:
    """`given == expected` in constant time, whatever characters `given` holds."""
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())
