"""An SMTP mailer: plain, STARTTLS or implicit TLS, optional login, errors as `DeliveryFailed`.

4xx replies, timeouts and lost connections are transient; 5xx replies are permanent. What a
server can make a session read is bounded: `REPLY_LIMIT` bytes per reply, and every reply
read within the session's time.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import time
from typing import Any, BinaryIO, Literal, cast

from adapters import mime
from workflow.clock import SystemClock
from workflow.errors import DeliveryFailed
from workflow.messages import Email
from workflow.ports import Clock
from workflow.security import mask_email

Security = Literal["none", "starttls", "tls"]
SECURITIES = ("none", "starttls", "tls")
log = logging.getLogger("ecps.smtp")
REPLY_LIMIT = 64 * 1024
"""Bytes one reply may take, its lines together (smtplib caps each line at 8 KiB)."""
SESSION_TIMEOUTS = 6
"""A session lasts at most this many `timeout`s by default: every reply is read within it."""


class SmtpError(DeliveryFailed):
    """The SMTP server refused or could not be reached; `code` is its reply code, if any."""

    def __init__(self, message: str, transient: bool, code: int | None = None) -> None:
        super().__init__(message, transient)
        self.code = code


class SmtpMailer:
    """Sends each e-mail through one SMTP session (a local relay by default)."""

    def __init__(self, host: str, port: int = 25, *, security: Security = "none",
                 username: str | None = None, password: str | None = None,
                 timeout: float = 10, session_timeout: float | None = None,
                 sender: str = mime.DEFAULT_SENDER, ssl_context: ssl.SSLContext | None = None,
                 clock: Clock | None = None) -> None:
        if security not in SECURITIES:
            raise ValueError(f"security must be one of {SECURITIES}, not {security!r}")
        if (username is None) != (password is None):
            raise ValueError("username and password go together")
        if username is not None and security == "none":
            raise ValueError("login needs security='starttls' or 'tls' (no password in clear)")
        if not timeout > 0:
            raise ValueError("timeout must be positive")
        if session_timeout is not None and not session_timeout > 0:
            raise ValueError("session_timeout must be positive")
        self.host, self.port, self.security, self.timeout = host, port, security, timeout
        self.session_timeout = SESSION_TIMEOUTS * timeout if session_timeout is None else session_timeout
        self.username = username
        self._password = password
        self.sender = mime.sender_address(sender)
        self._ssl = ssl_context
        self._clock = clock or SystemClock()

    def __repr__(self) -> str:
        return f"SmtpMailer({self.host!r}, {self.port}, security={self.security!r})"

    def send(self, email: Email) -> None:
        """Deliver `email`, or raise `SmtpError` (a `DeliveryFailed`)."""
        key = mime.message_key(email)
        data = mime.render(email, sender=self.sender, now=self._clock.now(), key=key)
        try:
            with self._session() as smtp:
                smtp.sendmail(self.sender.addr_spec, [email.to], data)
        except (smtplib.SMTPException, OSError, _Overrun) as exc:
            error = _translate(exc)
            log.warning("e-mail %s to %s not sent: %s", key, mask_email(email.to), error)
            if isinstance(exc, smtplib.SMTPException | _Overrun):
                raise error from None  # its text may quote the address or the server's reply
            raise error from exc
        log.info("e-mail %s to %s accepted by %s", key, mask_email(email.to), self.host)

    def _session(self) -> smtplib.SMTP:
        context = self._ssl or ssl.create_default_context()
        deadline = time.monotonic() + self.session_timeout
        smtp: smtplib.SMTP
        if self.security == "tls":
            smtp = _TlsSession(deadline, self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = _Session(deadline, self.host, self.port, timeout=self.timeout)
        try:
            smtp.ehlo()
            if self.security == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if self.username is not None and self._password is not None:
                smtp.login(self.username, self._password)
        except BaseException:
            smtp.close()
            raise
        return smtp


class _Overrun(Exception):  # not an `OSError`, which `SMTP.getreply` would wrap
    """The server's replies ran past a bound: the size of one, or the session's time."""


class _Replies:
    """The server's side of a session, read a line at a time: none after `deadline`
    (`time.monotonic`), at most `REPLY_LIMIT` bytes per reply (`next_reply` starts one)."""

    def __init__(self, file: BinaryIO, deadline: float) -> None:
        self._file, self._deadline, self._left = file, deadline, REPLY_LIMIT

    def next_reply(self) -> None:
        self._left = REPLY_LIMIT

    def readline(self, limit: int = -1) -> bytes:
        if time.monotonic() > self._deadline:
            raise _Overrun("the SMTP server's replies took longer than a session may last")
        line = self._file.readline(limit)
        self._left -= len(line)
        if self._left < 0:
            raise _Overrun(f"a reply of the SMTP server ran past {REPLY_LIMIT // 1024} KiB")
        return line

    def close(self) -> None:
        self._file.close()


class _Session(smtplib.SMTP):
    """An SMTP session whose replies are `_Replies` (from the greeting on): a server that
    talks on and on is cut off, the connection closed."""

    def __init__(self, deadline: float, *args: Any, **kwargs: Any) -> None:
        self._deadline = deadline  # before `SMTP.__init__`: it connects and reads the greeting
        super().__init__(*args, **kwargs)

    def getreply(self) -> tuple[int, bytes]:
        if self.file is None and self.sock is not None:  # new, or a new TLS layer (STARTTLS)
            self.file = cast(BinaryIO, _Replies(self.sock.makefile("rb"), self._deadline))
        if isinstance(self.file, _Replies):
            self.file.next_reply()
        try:
            return super().getreply()
        except _Overrun:
            self.close()  # QUIT, when the session ends, is not even tried on it
            raise


class _TlsSession(_Session, smtplib.SMTP_SSL):
    """`_Session` over implicit TLS."""


_REFUSALS: tuple[tuple[type[smtplib.SMTPResponseException], str], ...] = (
    (smtplib.SMTPAuthenticationError, "refused the login"),
    (smtplib.SMTPSenderRefused, "refused the sender"),
    (smtplib.SMTPDataError, "refused the message"),
    (smtplib.SMTPConnectError, "refused the connection"),
    (smtplib.SMTPHeloError, "refused the greeting"),
)


def _translate(exc: Exception) -> SmtpError:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return _by_code(codes[0] if codes else -1, "refused the recipient")
    if isinstance(exc, smtplib.SMTPResponseException):
        what = next((w for kind, w in _REFUSALS if isinstance(exc, kind)), "refused a command")
        return _by_code(exc.smtp_code, what)
    if isinstance(exc, _Overrun):
        return SmtpError(str(exc), True)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return SmtpError("the SMTP server lacks a required extension (STARTTLS or AUTH)", False)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return SmtpError("the SMTP server's certificate is not trusted", False)
    if isinstance(exc, TimeoutError):
        return SmtpError("the SMTP server did not answer in time", True)
    return SmtpError(f"cannot talk to the SMTP server ({type(exc).__name__})", True)


def _by_code(code: int, what: str) -> SmtpError:
    transient = not 500 <= code <= 599
    kind = "temporarily" if transient else "permanently"
    return SmtpError(f"the SMTP server {kind} {what} ({code})", transient, code)
