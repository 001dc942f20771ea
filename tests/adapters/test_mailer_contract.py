"""The mailer contract over the memory fake, the SMTP mailer (plain, STARTTLS + login, implicit
TLS + login, against a local aiosmtpd server) and the file mailer."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from adapters.files import FileMailer
from adapters.memory import MemoryMailer
from adapters.smtp import Security, SmtpMailer
from tests.integration.smtp_stub import SmtpStub, free_port, make_cert
from workflow.errors import DeliveryFailed
from workflow.messages import Email
from workflow.ports import Mailer
from workflow.testing.port_contracts import MailerContract


class TestMemoryMailer(MailerContract):
    """The fake records `Email` values."""

    def make_mailer(self) -> Mailer:
        return MemoryMailer()

    def delivered(self, mailer: Mailer) -> Sequence[Email | bytes]:
        assert isinstance(mailer, MemoryMailer)
        return list(mailer.sent)


class TestSmtpMailer(MailerContract):
    """A local relay: plain SMTP, no login."""

    security: Security = "none"
    login: tuple[str, str] | None = None

    @pytest.fixture(autouse=True)
    def _server(self, tmp_path: Path) -> Iterator[None]:
        cert = make_cert(tmp_path) if self.security != "none" else None
        self.server = SmtpStub(security=self.security, login=self.login, cert=cert).start()
        yield
        self.server.stop()

    def make_mailer(self) -> Mailer:
        username, password = self.login or (None, None)
        return SmtpMailer(self.server.host, self.server.port, security=self.security,
                          username=username, password=password, timeout=5,
                          ssl_context=self.server.client_context)

    def delivered(self, mailer: Mailer) -> Sequence[Email | bytes]:
        return [r.data for r in self.server.received]

    def make_unreachable_mailer(self) -> Mailer | None:
        return SmtpMailer("127.0.0.1", free_port(), timeout=2)


class TestSmtpMailerStarttlsLogin(TestSmtpMailer):
    """A submission server: STARTTLS required, then login."""

    security: Security = "starttls"
    login = ("ecps", "s3cret-Passw0rd")


class TestSmtpMailerImplicitTlsLogin(TestSmtpMailer):
    """A server with implicit TLS (port 465 style), then login."""

    security: Security = "tls"
    login = ("ecps", "s3cret-Passw0rd")


class TestFileMailer(MailerContract):
    """`.eml` files in a folder."""

    @pytest.fixture(autouse=True)
    def _folder(self, tmp_path: Path) -> None:
        self.folder = tmp_path / "mail"

    def make_mailer(self) -> Mailer:
        return FileMailer(self.folder)

    def delivered(self, mailer: Mailer) -> Sequence[Email | bytes]:
        files = sorted(self.folder.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
        return [p.read_bytes() for p in files]

    def make_unreachable_mailer(self) -> Mailer | None:
        blocker = self.folder.parent / "not-a-folder"
        blocker.write_text("a file where the mail folder should be")
        return FileMailer(blocker / "mail")


def test_every_port_contract_test_names_its_requirement() -> None:
    """Each test of the three port contracts carries at least one known requirement id."""
    from workflow.testing import DirectoryContract, SmsContract
    from workflow.testing.requirements import REQUIREMENTS, contract_tests

    for contract in (MailerContract, SmsContract, DirectoryContract):
        tests = list(contract_tests(contract))
        assert len(tests) >= 5
        for name, ids in tests:
            assert ids, f"{contract.__name__}.{name} names no requirement"
            assert set(ids) <= set(REQUIREMENTS)


class _TokenLeakingMailer:
    """Names the QR token alone (not the whole link) when the relay is down."""

    def send(self, email: Email) -> None:
        token = email.text.split("&t=", 1)[1].split()[0]
        raise DeliveryFailed(f"relay down, message with token {token} kept", transient=True)


class _TokenLeakContract(TestMemoryMailer):
    def make_unreachable_mailer(self) -> Mailer | None:
        return _TokenLeakingMailer()


def test_a_failure_naming_the_token_alone_fails_the_contract() -> None:
    """The unreachable test looks for the QR token on its own, not only the whole link."""
    with pytest.raises(AssertionError):
        _TokenLeakContract().test_an_unreachable_far_side_is_a_transient_failure()
