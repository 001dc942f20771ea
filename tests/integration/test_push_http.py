"""The FCM-shaped HTTP push gateway against a local server: 2xx, 429 + Retry-After, 5xx, 4xx."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from adapters.push import HttpPush, push_of
from tests.integration.sms_http_stub import Answer, HttpStub
from tests.integration.smtp_stub import free_port
from workflow.errors import DeliveryFailed
from workflow.messages import Push
from workflow.ports import PushGateway
from workflow.testing import PushContract
from workflow.testing.push_contract import sample_push

TOKEN = "push-token-" + "t" * 24


@pytest.fixture
def server() -> Iterator[HttpStub]:
    """A local push service that answers 200 unless scripted."""
    stub = HttpStub().start()
    yield stub
    stub.stop()


class TestHttpPush(PushContract):
    """`HttpPush` passes the push contract against the local server."""

    @pytest.fixture(autouse=True)
    def _server(self, server: HttpStub) -> None:
        self.server = server

    def make_gateway(self) -> PushGateway:
        return HttpPush(self.server.url + "/v1/projects/ecps/messages:send", TOKEN, timeout=2)

    def delivered(self, gateway: PushGateway) -> Sequence[Push]:
        return [push_of(r.json()) for r in self.server.requests]

    def make_unreachable_gateway(self) -> PushGateway | None:
        return HttpPush(f"http://127.0.0.1:{free_port()}/send", TOKEN, timeout=2)


def _refused(server: HttpStub, answer: Answer) -> DeliveryFailed:
    server.answer(answer)
    push = sample_push()
    with pytest.raises(DeliveryFailed) as caught:
        HttpPush(server.url + "/send", TOKEN, timeout=2).send(push)
    assert TOKEN not in str(caught.value)
    assert push.binding_message not in str(caught.value)
    return caught.value


def test_a_2xx_is_one_bearer_post_of_an_fcm_v1_message(server: HttpStub) -> None:
    """The service gets `{"message": {token, notification, data}}` with the bearer token."""
    push = sample_push()
    HttpPush(server.url + "/send", TOKEN).send(push)
    (request,) = server.requests
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    message = request.json()["message"]
    assert isinstance(message, dict)
    assert message["token"] == push.to
    assert message["data"] == {"login_id": push.login_id, "client_name": push.client_name,
                               "binding_message": push.binding_message,
                               "message_id": push.message_id}
    assert set(message["notification"]) == {"title", "body"}


def test_a_429_is_transient_with_its_retry_after(server: HttpStub) -> None:
    """429 + Retry-After: transient, and the seconds asked for are kept."""
    failed = _refused(server, Answer(429, b"{}", {"Retry-After": "120"}))
    assert failed.transient
    assert failed.retry_after == 120


@pytest.mark.parametrize("status", [500, 503])
def test_a_5xx_is_transient(server: HttpStub, status: int) -> None:
    """A server error may pass: transient."""
    assert _refused(server, Answer(status, b"{}")).transient


@pytest.mark.parametrize("status", [400, 401, 404])
def test_a_4xx_is_permanent(server: HttpStub, status: int) -> None:
    """A refused request (bad token, unknown device) will not pass: permanent."""
    assert not _refused(server, Answer(status, b"{}")).transient
