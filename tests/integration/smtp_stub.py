"""A local SMTP server for tests: aiosmtpd on a free loopback port, scripted replies (421, 550...),
optional STARTTLS, implicit TLS and login; records what it accepted."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import ssl
import threading
import warnings
from collections import deque
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

Stage = Literal["RCPT", "DATA"]


@dataclass(frozen=True, slots=True)
class Received:
    """One message the server accepted: envelope and raw bytes as they came."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes


@dataclass
class Handler:
    """Accepts everything, except the replies scripted per stage (first in, first answered)."""

    received: list[Received] = field(default_factory=list)
    script: dict[str, deque[str]] = field(default_factory=lambda: {"RCPT": deque(), "DATA": deque()})
    always: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, stage: Stage, *replies: str) -> None:
        """Answer the next calls of `stage` with `replies`, in order."""
        self.script[stage].extend(replies)

    def _scripted(self, stage: Stage) -> str | None:
        with self.lock:
            if self.script[stage]:
                return self.script[stage].popleft()
            return self.always.get(stage)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if reply := self._scripted("RCPT"):
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if reply := self._scripted("DATA"):
            return reply
        with self.lock:
            self.received.append(Received(envelope.mail_from, tuple(envelope.rcpt_tos),
                                          envelope.original_content))
        return "250 Message accepted for delivery"


class _Controller(Controller):
    """A controller that binds port 0 and learns the port the system gave."""

    def _create_server(self) -> Awaitable[asyncio.AbstractServer]:
        created = super()._create_server()

        async def bound() -> asyncio.AbstractServer:
            server = await created
            assert isinstance(server, asyncio.Server)
            self.port = server.sockets[0].getsockname()[1]
            return server

        return bound()

    def factory(self) -> Any:
        with warnings.catch_warnings():  # implicit TLS + login: aiosmtpd cannot see the TLS
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
            return super().factory()  # type: ignore[no-untyped-call]


def make_cert(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1: (cert file, key file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


class SmtpStub:
    """The server: `start()`, then `host`/`port`; `handler` scripts replies and holds messages."""

    host = "127.0.0.1"

    def __init__(self, *, security: Literal["none", "starttls", "tls"] = "none",
                 login: tuple[str, str] | None = None, cert: tuple[Path, Path] | None = None) -> None:
        self.handler = Handler()
        self.login = login
        self.client_context: ssl.SSLContext | None = None
        kwargs: dict[str, Any] = {}
        if security != "none":
            assert cert is not None, "TLS needs a certificate (make_cert)"
            server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            server_context.load_cert_chain(*cert)
            self.client_context = ssl.create_default_context(cafile=str(cert[0]))
            if security == "tls":
                kwargs["ssl_context"] = server_context
            else:
                kwargs.update(tls_context=server_context, require_starttls=True)
        if login:
            kwargs.update(authenticator=self._authenticate, auth_required=True,
                          # aiosmtpd does not see implicit TLS: it only knows STARTTLS
                          auth_require_tls=security == "starttls")
        self.controller = _Controller(self.handler, hostname=self.host, port=0, **kwargs)

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self.controller.port)

    @property
    def received(self) -> list[Received]:
        """What the server accepted so far."""
        return list(self.handler.received)

    def start(self) -> SmtpStub:
        """Start listening."""
        self.controller.start()
        return self

    def stop(self) -> None:
        """Stop listening (idempotent)."""
        if self.controller._thread is not None:
            self.controller.stop()

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and self.login is not None
              and (auth_data.login, auth_data.password) == tuple(s.encode() for s in self.login))
        return AuthResult(success=ok, handled=False)


def free_port() -> int:
    """A loopback TCP port nothing listens on (yet)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
