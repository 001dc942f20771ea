"""The HTTP SMS gateway against a local server (127.0.0.1) answering 200, 500, 429 + Retry-After,
4xx and too slowly: each answer is classified as the dispatcher needs, the body carries the code
exactly once, and a flow goes on, or fails, accordingly."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from adapters.memory import MemoryMailer, MemoryStore, StaticDirectory
from adapters.sms_http import HttpSmsGateway, SmsGatewayError
from tests.conftest import NID, fast_settings
from tests.integration.sms_http_stub import Answer, HttpStub, sms_of
from tests.integration.smtp_stub import free_port
from workflow import ActivationService, State
from workflow.domain import Delivery
from workflow.messages import DirectoryEntry, Sms
from workflow.templates import FRENCH
from workflow.testing import FakeClock, code_from, payload_from

TOKEN = "gw-token-" + "t" * 24
PHONE = "0639980078"
CODE = "493817"


@pytest.fixture
def server() -> Iterator[HttpStub]:
    """A local gateway that answers 200 unless scripted."""
    stub = HttpStub().start()
    yield stub
    stub.stop()


def _gateway(server: HttpStub, **options: object) -> HttpSmsGateway:
    return HttpSmsGateway(server.url + "/v1/sms", TOKEN, timeout=0.5, **options)  # type: ignore[arg-type]


def _sms() -> Sms:
    return Sms(PHONE, FRENCH.sms_text(CODE, 5), "0123456789abcdef")


def _refusal(gateway: HttpSmsGateway) -> SmsGatewayError:
    with pytest.raises(SmsGatewayError) as caught:
        gateway.send(_sms())
    assert CODE not in str(caught.value)
    assert PHONE not in str(caught.value)
    assert TOKEN not in str(caught.value)
    return caught.value


def test_a_200_delivers_one_authenticated_json_post_carrying_the_code_once(server: HttpStub) -> None:
    """The gateway gets a bearer-authenticated JSON POST: number in E.164, code exactly once, id."""
    _gateway(server).send(_sms())
    (request,) = server.requests
    assert (request.method, request.path) == ("POST", "/v1/sms")
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Idempotency-Key"] == "0123456789abcdef"
    sms = sms_of(request)
    assert sms.to == "+33639980078"
    assert sms.text == _sms().text
    assert sms.text.count(CODE) == 1
    assert sms.message_id == "0123456789abcdef"


@pytest.mark.parametrize("status", [201, 202, 204])
def test_any_2xx_is_accepted(server: HttpStub, status: int) -> None:
    """Every 2xx answer means the gateway took the SMS."""
    server.answer(Answer(status, b""))
    _gateway(server).send(_sms())
    assert len(server.requests) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_a_5xx_or_408_is_transient(server: HttpStub, status: int) -> None:
    """A server error is transient and carries the status."""
    server.answer(Answer(status, b"oops"))
    error = _refusal(_gateway(server))
    assert (error.transient, error.status, error.retry_after) == (True, status, None)


def test_a_429_is_transient_and_exposes_retry_after_seconds(server: HttpStub) -> None:
    """429 with `Retry-After: 7` is transient with `retry_after == 7`."""
    server.answer(Answer(429, b"", {"Retry-After": "7"}))
    error = _refusal(_gateway(server))
    assert (error.transient, error.status, error.retry_after) == (True, 429, 7)


def test_a_429_with_an_http_date_gives_the_seconds_until_then(server: HttpStub) -> None:
    """`Retry-After` as an HTTP date becomes the whole seconds left until it."""
    when = datetime.now(UTC) + timedelta(seconds=120)
    server.answer(Answer(429, b"", {"Retry-After": format_datetime(when, usegmt=True)}))
    error = _refusal(_gateway(server))
    assert error.retry_after is not None
    assert 100 <= error.retry_after <= 121


def test_a_429_without_a_readable_retry_after_is_still_transient(server: HttpStub) -> None:
    """A missing or garbled `Retry-After` leaves `retry_after` None."""
    server.answer(Answer(429, b"", {"Retry-After": "soon"}))
    error = _refusal(_gateway(server))
    assert error.transient
    assert error.retry_after is None


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422, 301])
def test_other_answers_are_permanent(server: HttpStub, status: int) -> None:
    """A client error (bad number, bad token) or a redirect is not retried."""
    server.answer(Answer(status, b'{"error": "nope"}', {"Location": "http://127.0.0.1:1/"}))
    error = _refusal(_gateway(server))
    assert (error.transient, error.status) == (False, status)


def test_a_gateway_that_answers_too_slowly_is_transient(server: HttpStub) -> None:
    """No answer within the timeout is a transient failure."""
    server.answer(Answer(delay=1.5))
    error = _refusal(_gateway(server))
    assert error.transient
    assert error.status is None
    assert "time" in str(error)


def test_a_gateway_that_is_down_is_transient() -> None:
    """Connection refused is a transient failure."""
    gateway = HttpSmsGateway(f"http://127.0.0.1:{free_port()}/sms", TOKEN, timeout=1)
    assert _refusal(gateway).transient


def test_autofill_lines_follow_the_retriever_and_webotp_formats(server: HttpStub) -> None:
    """The app hash, then `@domain #code` as the last line; the code stays the only 6-digit number."""
    _gateway(server, app_hash="FA+9qCX9VSu", webotp_domain="ecps.sante.example.fr").send(_sms())
    text = sms_of(server.requests[0]).text
    lines = text.split("\n")
    assert text.startswith(_sms().text + "\n\n")
    assert lines[-2:] == ["FA+9qCX9VSu", f"@ecps.sante.example.fr #{CODE}"]
    assert code_from(Sms(PHONE, text.replace(f"#{CODE}", ""))) == CODE
    assert text.count(CODE) == 2


def test_without_exactly_one_code_no_webotp_line_is_added(server: HttpStub) -> None:
    """A text with no code, or with two different candidates, goes out unchanged."""
    gateway = _gateway(server, webotp_domain="ecps.sante.example.fr")
    for text in ("Votre e-CPS est active.", "Codes 123456 et 654321"):
        gateway.send(Sms(PHONE, text, "m"))
    assert [sms_of(r).text for r in server.requests] == ["Votre e-CPS est active.",
                                                        "Codes 123456 et 654321"]


@pytest.mark.parametrize("options", [
    {"app_hash": "short"}, {"app_hash": "A1234567xyz"}, {"webotp_domain": "Bad Domain"},
    {"webotp_domain": "123456.example.fr"},
])
def test_autofill_settings_that_could_break_the_code_are_refused(options: dict[str, str]) -> None:
    """A malformed hash or domain, or one holding a code-like number, is a `ValueError`."""
    with pytest.raises(ValueError):
        HttpSmsGateway("https://sms.example.fr/v1", TOKEN, **options)  # type: ignore[arg-type]


def test_other_settings_are_checked() -> None:
    """A non-HTTP URL or an unprintable token is a `ValueError`; the token never shows in repr."""
    with pytest.raises(ValueError):
        HttpSmsGateway("ftp://sms.example.fr", TOKEN)
    with pytest.raises(ValueError):
        HttpSmsGateway("https://sms.example.fr", "tok\r\nX-Evil: 1")
    assert TOKEN not in repr(HttpSmsGateway("https://sms.example.fr", TOKEN))


@pytest.mark.parametrize(("given", "sent"), [
    ("0639980078", "+33639980078"), ("06 39 98 00 78", "+33639980078"),
    ("+33639980078", "+33639980078"), ("0033639980078", "+33639980078"),
])
def test_numbers_go_out_in_international_form(given: str, sent: str) -> None:
    """French national numbers get the +33 prefix; international ones stay."""
    assert HttpSmsGateway("https://sms.example.fr", TOKEN).number(given) == sent


class Flow:
    """A service whose SMS go through the HTTP gateway."""

    def __init__(self, server: HttpStub) -> None:
        self.clock, self.store, self.mailer = FakeClock(), MemoryStore(), MemoryMailer()
        self.svc = ActivationService(
            store=self.store, mailer=self.mailer, sms=_gateway(server), clock=self.clock,
            directory=StaticDirectory([DirectoryEntry(NID, "jane.doe@domain.fr", PHONE, "Dr J")]),
            settings=fast_settings())

    def scanned(self) -> str:
        aid = self.svc.request(NID).activation_id
        self.svc.dispatch()
        self.svc.scan(aid, payload_from(self.mailer.sent[-1]))
        return aid


def test_through_the_service_a_500_is_retried_and_the_code_then_verifies(
        server: HttpStub, caplog: pytest.LogCaptureFixture) -> None:
    """500 then 200: the SMS goes out once after the back-off and its code completes the step."""
    caplog.set_level(logging.DEBUG)
    flow = Flow(server)
    server.answer(Answer(500))
    aid = flow.scanned()
    assert flow.svc.dispatch() == 0
    flow.clock.advance(timedelta(seconds=11))
    assert flow.svc.dispatch() == 1
    assert len(server.requests) == 2
    code = code_from(sms_of(server.requests[-1]))
    assert flow.svc.verify_sms(aid, code).state == State.SMS_VERIFIED
    assert code not in caplog.text
    assert TOKEN not in caplog.text


def test_through_the_service_a_400_fails_the_flow(server: HttpStub) -> None:
    """A permanent refusal abandons the SMS and the flow is `failed`."""
    flow = Flow(server)
    server.answer(Answer(400))
    aid = flow.scanned()
    assert flow.svc.dispatch() == 0
    assert flow.svc.status(aid).state == State.FAILED
    assert [m.status for m in flow.store.outbox_of(aid)][-1] == Delivery.ABANDONED
