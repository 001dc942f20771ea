"""An SMTP mailer: plain, STARTTLS or implicit TLS, optional login, errors as `DeliveryFailed`.

4xx replies, timeouts and lost connections are transient; 5xx replies are permanent.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from typing import Literal

from adapters import mime
from workflow.clock import SystemClock
from workflow.errors import DeliveryFailed
from workflow.messages import Email
from workflow.ports import Clock
from workflow.security import mask_email

Security = Literal["none", "starttls", "tls"]
SECURITIES = ("none", "starttls", "tls")
log = logging.getLogger("ecps.smtp")


class SmtpError(DeliveryFailed):
    """The SMTP server refused or could not be reached; `code` is its reply code, if any."""

    def __init__(self, message: str, transient: bool, code: int | None = None) -> None:
        super().__init__(message, transient)
        self.code = code


class SmtpMailer:
    """Sends each e-mail through one SMTP session (a local relay by default)."""

    def __init__(self, host: str, port: int = 25, *, security: Security = "none",
                 username: str | None = None, password: str | None = None,
                 timeout: float = 10, sender: str = mime.DEFAULT_SENDER,
                 ssl_context: ssl.SSLContext | None = None, clock: Clock | None = None) -> None:
        if security not in SECURITIES:
            raise ValueError(f"security must be one of {SECURITIES}, not {security!r}")
        if (username is None) != (password is None):
            raise ValueError("username and password go together")
        if username is not None and security == "none":
            raise ValueError("login needs security='starttls' or 'tls' (no password in clear)")
        if not timeout > 0:
            raise ValueError("timeout must be positive")
        self.host, self.port, self.security, self.timeout = host, port, security, timeout
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
        except (smtplib.SMTPException, OSError) as exc:
            error = _translate(exc)
            log.warning("e-mail %s to %s not sent: %s", key, mask_email(email.to), error)
            if isinstance(exc, smtplib.SMTPException):
                raise error from None  # its text may quote the address or the server's reply
            raise error from exc
        log.info("e-mail %s to %s accepted by %s", key, mask_email(email.to), self.host)

    def _session(self) -> smtplib.SMTP:
        context = self._ssl or ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.security == "tls":
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
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
