"""Helpers of the console's HTTP tests: a test client on the app, signing in, the form's CSRF token."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from adapters.api import create_app
from adapters.api.console import PhoneKit
from adapters.api.settings import HttpSettings
from workflow import ActivationService

TOKEN = "operator-token-" + "o" * 20
BASE = "http://127.0.0.1:8000"


def console_client(svc: ActivationService, kit: PhoneKit | None = None, *, http: HttpSettings | None = None,
                   address: str = "127.0.0.1") -> TestClient:
    """A client of the app over `svc` (the simulator mounted when `kit` is given), calling from
    `address`, with the operator token `TOKEN` unless `http` says otherwise; redirects not followed."""
    app = create_app(svc, dispatch_every=None, http=http or HttpSettings.with_token(TOKEN), phone=kit)
    return TestClient(app, base_url=BASE, client=(address, 40000), follow_redirects=False)


def sign_in(c: TestClient) -> TestClient:
    """`c`, signed in to the console with `TOKEN`."""
    assert c.post("/console/login", data={"token": TOKEN}).status_code == 303
    return c


def csrf_of(c: TestClient, path: str = "/console") -> str:
    """The CSRF token of the form on the page at `path`."""
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', c.get(path).text)
    assert found, "the page has no CSRF field"
    return found.group(1)
