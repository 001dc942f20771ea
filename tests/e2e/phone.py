"""A service over the embedded store with a phone that reads what was sent, for the HTTP tests."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

with warnings.catch_warnings():  # Starlette's note about httpx2 is not ours to act on
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from fastapi.testclient import TestClient

from adapters.api import create_app
from adapters.api.settings import HttpSettings
from adapters.bootstrap import build_service
from adapters.memory import MemoryMailer, MemorySms
from tests.conftest import fast_settings
from tests.e2e.http_device import OPERATOR_TOKEN, DeviceClient
from workflow import ActivationService
from workflow.testing import FakeClock, code_from, payload_from

NID = "899700366240"


class Phone:
    """A service on the embedded SQLite store, with a phone that reads what was sent."""

    def __init__(self, folder: Path, database_url: str | None = None, **settings: Any) -> None:
        self.clock = FakeClock()
        self.mail, self.sms = MemoryMailer(), MemorySms()
        self.svc: ActivationService = build_service(
            database_url, state_dir=folder, mailer=self.mail, sms=self.sms, clock=self.clock,
            settings=fast_settings(**settings))

    def payload(self) -> str:
        """The QR payload of the last e-mail, once delivered."""
        self.svc.dispatch()
        return payload_from(self.mail.sent[-1])

    def code(self) -> str:
        """The code of the last SMS, once delivered."""
        self.svc.dispatch()
        return code_from(self.sms.sent[-1])

    def now(self) -> float:
        """The service's time, as a proof's `iat`."""
        return self.clock.now().timestamp()

    def app(self, **kw: Any) -> Any:
        """The API over this service, with the tests' operator token, without dispatcher."""
        return create_app(self.svc, dispatch_every=kw.pop("dispatch_every", None),
                          http=kw.pop("http", HttpSettings.with_token(OPERATOR_TOKEN)), **kw)

    def client(self, app: Any, **kw: Any) -> DeviceClient:
        """A phone-like client of `app` (enter its `http` to run the app's lifespan)."""
        return DeviceClient(TestClient(app, **kw), self.now)
