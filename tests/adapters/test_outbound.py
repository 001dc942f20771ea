"""The HTTP delivery adapters (event webhook, SMS gateway, push service) read an answer's status
and headers, and of its body no more than a bounded part: an endless or trickling body costs
neither memory nor time, and a body broken after a 2xx still accepts the message."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from adapters import outbound
from adapters.push import HttpPush
from adapters.sms_http import HttpSmsGateway
from adapters.webhook import WebhookSink
from workflow import State
from workflow.errors import DeliveryFailed
from workflow.events import ActivationRequested
from workflow.messages import Push, Sms
from workflow.testing import FakeClock

CHUNK = 64 * 1024
Deliver = Callable[[httpx.MockTransport], None]


def _webhook(transport: httpx.MockTransport) -> None:
    event = ActivationRequested(activation_id="a" * 16, subject="s", seq=1, action="request",
                                outcome="ok", source=None, dest=State.REQUESTED, at=FakeClock().now())
    WebhookSink("http://hooks.example/ecps", "whsec-" + "s" * 32,
                client=httpx.Client(transport=transport)).publish(event)


def _sms(transport: httpx.MockTransport) -> None:
    HttpSmsGateway("http://sms.example/api", "token-1234", transport=transport).send(
        Sms("0612345678", "code 123456", "m-1"))


def _push(transport: httpx.MockTransport) -> None:
    HttpPush("http://push.example/send", "token-1234", transport=transport).send(
        Push("device", "lg-1", "Portail", "A7-3F", "m-1"))


ADAPTERS = pytest.mark.parametrize("deliver", [_webhook, _sms, _push], ids=["webhook", "sms", "push"])


class Body(httpx.SyncByteStream):
    """An answer's body of `chunks` chunks, counting how many were read; `broken` raises a
    read error after the first; `each` runs before every chunk."""

    def __init__(self, chunks: int, broken: bool = False, each: Callable[[], None] = lambda: None) -> None:
        self.chunks, self.broken, self.each, self.read = chunks, broken, each, 0

    def __iter__(self) -> Iterator[bytes]:
        for _ in range(self.chunks):
            if self.broken and self.read:
                raise httpx.ReadError("connection lost mid-body")
            self.each()
            self.read += 1
            yield b"x" * CHUNK


def _answering(status: int, body: Body) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status, stream=body))


@ADAPTERS
@pytest.mark.parametrize("status", [200, 503, 400])
def test_a_huge_answer_is_read_no_further_than_the_limit(deliver: Deliver, status: int) -> None:
    """1000 chunks of 64 KiB (an endless body, for the test's sake): only what the limit needs is
    read, whatever the status, and the status decides as before."""
    body = Body(1000)
    if status == 200:
        deliver(_answering(status, body))
    else:
        with pytest.raises(DeliveryFailed) as failed:
            deliver(_answering(status, body))
        assert failed.value.transient is (status == 503)
    assert body.read <= outbound.ANSWER_LIMIT // CHUNK + 1


@ADAPTERS
def test_a_trickling_answer_is_read_no_longer_than_the_read_timeout(
        deliver: Deliver, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each small chunk arrives 3 s after the last (within the read timeout, which is per read):
    past the client's read timeout in all, the rest is not waited for."""
    now = [0.0]
    monkeypatch.setattr(outbound, "monotonic", lambda: now[0])
    body = Body(1000, each=lambda: now.__setitem__(0, now[0] + 3))
    deliver(_answering(200, body))
    assert body.read <= 10 // 3 + 2


@ADAPTERS
def test_a_body_broken_after_a_2xx_still_accepts_the_message(deliver: Deliver) -> None:
    """The status said accepted: a connection lost in the body does not make the message fail
    (and be sent again)."""
    body = Body(5, broken=True)
    deliver(_answering(202, body))
    assert body.read == 1
