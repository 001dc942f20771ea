"""The SMS contract over the memory fake, the file gateway (the demo's phone) and the HTTP gateway
against a local server, plain and with the auto-fill lines (SMS Retriever hash, WebOTP)."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import ClassVar

import pytest

from adapters.files import FileSms, read_sms
from adapters.memory import MemorySms
from adapters.sms_http import HttpSmsGateway
from tests.integration.sms_http_stub import HttpStub, sms_of
from tests.integration.smtp_stub import free_port
from workflow.errors import DeliveryFailed
from workflow.messages import Sms
from workflow.ports import SmsGateway
from workflow.testing.port_contracts import SmsContract


class TestMemorySms(SmsContract):
    """The fake records `Sms` values."""

    def make_gateway(self) -> SmsGateway:
        return MemorySms()

    def delivered(self, gateway: SmsGateway) -> Sequence[Sms]:
        assert isinstance(gateway, MemorySms)
        return list(gateway.sent)


class TestFileSms(SmsContract):
    """JSON lines in a file, echoed to a console."""

    @pytest.fixture(autouse=True)
    def _file(self, tmp_path: Path) -> None:
        self.path = tmp_path / "sms" / "sms.jsonl"
        self.console = io.StringIO()

    def make_gateway(self) -> SmsGateway:
        return FileSms(self.path, stream=self.console)

    def delivered(self, gateway: SmsGateway) -> Sequence[Sms]:
        return read_sms(self.path)

    def make_unreachable_gateway(self) -> SmsGateway | None:
        blocker = self.path.parent.parent / "not-a-folder"
        blocker.write_text("a file where the SMS folder should be")
        return FileSms(blocker / "sms.jsonl", echo=False)


class TestHttpSmsGateway(SmsContract):
    """JSON POST to a local gateway that accepts everything."""

    app_hash: ClassVar[str | None] = None
    webotp_domain: ClassVar[str | None] = None

    @pytest.fixture(autouse=True)
    def _server(self) -> Iterator[None]:
        self.server = HttpStub().start()
        yield
        self.server.stop()

    def make_gateway(self) -> SmsGateway:
        return HttpSmsGateway(self.server.url + "/sms", "gateway-token", timeout=5,
                              app_hash=self.app_hash, webotp_domain=self.webotp_domain)

    def delivered(self, gateway: SmsGateway) -> Sequence[Sms]:
        return [sms_of(r) for r in self.server.requests]

    def number_as_delivered(self, number: str) -> str:
        return "+33" + number[1:]

    def make_unreachable_gateway(self) -> SmsGateway | None:
        return HttpSmsGateway(f"http://127.0.0.1:{free_port()}/sms", "gateway-token", timeout=2)


class TestHttpSmsGatewayWithAutofill(TestHttpSmsGateway):
    """The same gateway adding the app hash and the WebOTP line (which repeats the code)."""

    app_hash = "FA+9qCX9VSu"
    webotp_domain = "ecps.sante.example.fr"
    code_occurrences = 2


class _IntlLeakingGateway:
    """Names the number, in international form, when the far side is down."""

    def send(self, sms: Sms) -> None:
        raise DeliveryFailed(f"gateway unreachable for +33{sms.to[1:]}", transient=True)


class _IntlContract(TestMemorySms):
    def number_as_delivered(self, number: str) -> str:
        return "+33" + number[1:]

    def make_unreachable_gateway(self) -> SmsGateway | None:
        return _IntlLeakingGateway()


def test_a_failure_naming_the_number_in_another_form_fails_the_contract() -> None:
    """The unreachable test looks for the number as the gateway writes it, not only as sent."""
    with pytest.raises(AssertionError):
        _IntlContract().test_an_unreachable_far_side_is_a_transient_failure()
