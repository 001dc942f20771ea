"""End to end through a real SMTP server (aiosmtpd on a free loopback port): the e-mail arrives,
its QR decodes to the payload the service accepts, failures are retried or abandoned as the SMTP
reply says, and nothing secret reaches the logs."""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from adapters.files import FileSms, read_sms_codes
from adapters.memory import MemoryStore, StaticDirectory
from adapters.smtp import Security, SmtpError, SmtpMailer
from tests.conftest import NID, fast_settings
from tests.integration.smtp_stub import SmtpStub, free_port, make_cert
from workflow import ActivationService, State
from workflow.domain import Delivery
from workflow.errors import DeliveryFailed, InvalidInput, VerificationFailed
from workflow.messages import DirectoryEntry
from workflow.templates import FRENCH
from workflow.testing import FakeClock
from workflow.testing.port_contracts import decode_qr

EMAIL, PHONE = "jane.doe@domain.fr", "0639980078"
PASSWORD = "s3cret-Passw0rd"
LINK = re.compile(r"ecps://\S+")


@pytest.fixture
def server() -> Iterator[SmtpStub]:
    """A plain local SMTP server that accepts everything unless scripted."""
    stub = SmtpStub().start()
    yield stub
    stub.stop()


class World:
    """A service whose mailer talks SMTP to `server`; SMS go to a file."""

    def __init__(self, mailer: SmtpMailer, tmp_path: Path) -> None:
        self.clock = FakeClock()
        self.store = MemoryStore()
        self.sms_file = tmp_path / "sms.jsonl"
        self.svc = ActivationService(
            store=self.store, mailer=mailer, sms=FileSms(self.sms_file, echo=False),
            directory=StaticDirectory([DirectoryEntry(NID, EMAIL, PHONE, "Dr Jane Doe")]),
            clock=self.clock, settings=fast_settings())

    def outbox(self, aid: str) -> list[Delivery]:
        """The delivery status of each outbox message of `aid`."""
        return [m.status for m in self.store.outbox_of(aid)]


def _world(server: SmtpStub, tmp_path: Path) -> World:
    return World(SmtpMailer(server.host, server.port, timeout=5), tmp_path)


def _parse(data: bytes) -> EmailMessage:
    return message_from_bytes(data, policy=policy.default)


def _qr_of(message: EmailMessage) -> list[str]:
    """The texts of the QR codes in the PNG attachment (the part with a file name)."""
    pngs = [p for p in message.iter_attachments() if p.get_content_type() == "image/png"]
    assert len(pngs) == 1
    data = pngs[0].get_payload(decode=True)
    assert isinstance(data, bytes)
    return decode_qr(data)


def test_the_activation_completes_through_a_real_smtp_server(server: SmtpStub, tmp_path: Path) -> None:
    """request → dispatch → SMTP → decoded QR → scan → SMS → PIN: the flow ends `active`."""
    w = _world(server, tmp_path)
    aid = w.svc.request(NID, device_id="phone-1").activation_id
    assert w.svc.dispatch() == 1
    (received,) = server.received
    assert received.rcpt_tos == (EMAIL,)
    message = _parse(received.data)
    assert message["To"].addresses[0].addr_spec == EMAIL
    assert str(message["Subject"]) == "Activation de votre e-CPS"
    (outbox_id,) = [m.id for m in w.store.outbox_of(aid)]
    assert str(message["Message-ID"]) == f"<{outbox_id}@ecps-workflow>"
    (payload,) = _qr_of(message)
    text = message.get_body(("plain",))
    assert isinstance(text, EmailMessage)
    assert LINK.findall(text.get_content()) == [payload]
    assert w.svc.status(aid).state == State.EMAILED
    w.svc.scan(aid, payload)
    assert w.svc.dispatch() == 1
    (code,) = read_sms_codes(w.sms_file)
    w.svc.verify_sms(aid, code)
    w.svc.set_pin(aid, "4821")
    w.svc.confirm_pin(aid, "4821")
    assert w.svc.status(aid).state == State.ACTIVE
    assert w.svc.authenticate(aid, "4821") is True


def test_scan_accepts_exactly_the_decoded_payload(server: SmtpStub, tmp_path: Path) -> None:
    """A payload one character off is refused; the decoded one is accepted."""
    w = _world(server, tmp_path)
    aid = w.svc.request(NID).activation_id
    w.svc.dispatch()
    (payload,) = _qr_of(_parse(server.received[0].data))
    last = "A" if payload[-1] != "A" else "B"
    for wrong in (payload[:-1] + last, payload + "x", payload.replace("ecps://", "https://")):
        with pytest.raises((VerificationFailed, InvalidInput)):
            w.svc.scan(aid, wrong)
    assert w.svc.scan(aid, payload).state == State.SCANNED


@pytest.mark.parametrize("stage", ["RCPT", "DATA"])
def test_a_421_is_retried_after_the_backoff_and_delivered_once(
        server: SmtpStub, tmp_path: Path, stage: str) -> None:
    """421 then 250: nothing sent before the back-off, then exactly one message, flow `emailed`."""
    w = _world(server, tmp_path)
    server.handler.answer(stage, "421 4.3.2 Service not available, try later")  # type: ignore[arg-type]
    aid = w.svc.request(NID).activation_id
    assert w.svc.dispatch() == 0
    assert w.svc.status(aid).state == State.REQUESTED
    assert w.outbox(aid) == [Delivery.PENDING]
    w.clock.advance(timedelta(seconds=5))
    assert w.svc.dispatch() == 0
    w.clock.advance(timedelta(seconds=6))
    assert w.svc.dispatch() == 1
    w.clock.advance(timedelta(minutes=10))
    assert w.svc.dispatch() == 0
    assert len(server.received) == 1
    assert w.svc.status(aid).state == State.EMAILED
    assert w.outbox(aid) == [Delivery.SENT]


@pytest.mark.parametrize("stage", ["RCPT", "DATA"])
def test_a_550_is_abandoned_and_the_flow_fails(server: SmtpStub, tmp_path: Path, stage: str) -> None:
    """A permanent refusal is not retried: the message is abandoned and the flow is `failed`."""
    w = _world(server, tmp_path)
    server.handler.always[stage] = "550 5.1.1 Mailbox unavailable"
    aid = w.svc.request(NID).activation_id
    assert w.svc.dispatch() == 0
    assert w.svc.status(aid).state == State.FAILED
    assert w.outbox(aid) == [Delivery.ABANDONED]
    w.clock.advance(timedelta(hours=1))
    assert w.svc.dispatch() == 0
    assert server.received == []
    assert [s.event for s in w.svc.status(aid).history][-1] == "delivery_failed"


def test_a_server_that_is_down_is_a_transient_failure(tmp_path: Path) -> None:
    """Connection refused is `DeliveryFailed(transient=True)` naming neither address nor host secret."""
    mailer = SmtpMailer("127.0.0.1", free_port(), timeout=2)
    w = World(mailer, tmp_path)
    aid = w.svc.request(NID).activation_id
    email = FRENCH.activation_email(EMAIL, "Dr Jane Doe", "ecps://activation?a=x&t=y", 60)
    with pytest.raises(DeliveryFailed) as caught:
        mailer.send(email)
    assert caught.value.transient
    assert EMAIL not in str(caught.value)
    assert w.svc.dispatch() == 0
    assert w.svc.status(aid).state == State.REQUESTED
    for wait in (10, 20, 40, 80):
        w.clock.advance(timedelta(seconds=wait))
        w.svc.dispatch()
    assert w.svc.status(aid).state == State.FAILED
    assert [m.attempts for m in w.store.outbox_of(aid)] == [5]


def test_a_server_that_never_answers_is_a_transient_timeout() -> None:
    """A listener that accepts but never greets times out as a transient failure."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        mailer = SmtpMailer("127.0.0.1", silent.getsockname()[1], timeout=0.3)
        email = FRENCH.replacement_notice(EMAIL, "")
        with pytest.raises(SmtpError) as caught:
            mailer.send(email)
    assert caught.value.transient
    assert caught.value.code is None


def test_starttls_with_login_delivers(tmp_path: Path) -> None:
    """STARTTLS then login: the server receives the message over TLS, authenticated."""
    stub = SmtpStub(security="starttls", login=("ecps", PASSWORD), cert=make_cert(tmp_path)).start()
    try:
        w = World(SmtpMailer(stub.host, stub.port, security="starttls", username="ecps",
                             password=PASSWORD, ssl_context=stub.client_context, timeout=5), tmp_path)
        w.svc.request(NID)
        assert w.svc.dispatch() == 1
        assert len(stub.received) == 1
    finally:
        stub.stop()


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_a_wrong_password_or_an_untrusted_certificate_is_permanent(
        tmp_path: Path, security: Security) -> None:
    """A refused login (535) and an untrusted certificate are not retried; no password in the error."""
    stub = SmtpStub(security=security, login=("ecps", PASSWORD), cert=make_cert(tmp_path)).start()
    email = FRENCH.replacement_notice(EMAIL, "")
    try:
        wrong = SmtpMailer(stub.host, stub.port, security=security, username="ecps",
                           password="not-" + PASSWORD, ssl_context=stub.client_context, timeout=5)
        with pytest.raises(SmtpError) as refused:
            wrong.send(email)
        assert (refused.value.transient, refused.value.code) == (False, 535)
        assert PASSWORD not in str(refused.value)
        untrusted = SmtpMailer(stub.host, stub.port, security=security, timeout=5)
        with pytest.raises(SmtpError) as distrusted:
            untrusted.send(email)
        assert not distrusted.value.transient
        assert stub.received == []
    finally:
        stub.stop()


def test_settings_that_would_leak_a_password_are_refused() -> None:
    """A login without TLS, a half login or an unknown security mode is a `ValueError`."""
    with pytest.raises(ValueError, match="starttls"):
        SmtpMailer("127.0.0.1", username="ecps", password=PASSWORD)
    with pytest.raises(ValueError, match="together"):
        SmtpMailer("127.0.0.1", security="tls", username="ecps")
    with pytest.raises(ValueError, match="security"):
        SmtpMailer("127.0.0.1", security="ssl")  # type: ignore[arg-type]
    assert PASSWORD not in repr(SmtpMailer("h", security="tls", username="u", password=PASSWORD))


def test_no_secret_reaches_the_logs(server: SmtpStub, tmp_path: Path,
                                    caplog: pytest.LogCaptureFixture) -> None:
    """Through failures and success, logs hold no payload, token, code, password or full address."""
    caplog.set_level(logging.DEBUG)
    w = _world(server, tmp_path)
    server.handler.answer("RCPT", "421 4.7.0 <jane.doe@domain.fr> greylisted")
    aid = w.svc.request(NID).activation_id
    w.svc.dispatch()
    w.clock.advance(timedelta(seconds=11))
    w.svc.dispatch()
    (payload,) = _qr_of(_parse(server.received[0].data))
    w.svc.scan(aid, payload)
    w.svc.dispatch()
    (code,) = read_sms_codes(w.sms_file)
    token = payload.rsplit("t=", 1)[1]
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name != "mail.log")  # not the server's
    for secret in (payload, token, code, EMAIL, PHONE, NID):
        assert secret not in ours
    assert "ja****@domain.fr" in ours
