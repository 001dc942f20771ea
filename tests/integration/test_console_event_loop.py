"""The console's form posts wait for the database off the server's event loop: while a sign-in
waits (on a busy database, a slow one), every other request is still answered."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from adapters.api import app as api_app
from adapters.api import create_app
from adapters.api.settings import HttpSettings
from tests.conftest import loopback, memory_service
from tests.e2e.console_client import TOKEN
from workflow.testing import FakeClock


class SlowGuesses:
    """Wrong-token counting that waits until released, as a busy database would."""

    def __init__(self) -> None:
        self.entered, self.release = threading.Event(), threading.Event()

    def wait(self, address: str) -> int:
        self.entered.set()
        assert self.release.wait(60)
        return 0

    def failed(self, address: str) -> None:
        return None

    def guess(self, address: str) -> int:
        return self.wait(address)

    def right(self, address: str) -> None:
        return None


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, SlowGuesses]]:
    slow = SlowGuesses()
    monkeypatch.setattr(api_app, "default_guesses", lambda _: slow)
    app = create_app(memory_service(FakeClock()), dispatch_every=None,
                     http=HttpSettings.with_token(TOKEN))
    with loopback(app) as base:
        yield base, slow
        slow.release.set()


def test_a_waiting_sign_in_leaves_the_server_answering(server: tuple[str, SlowGuesses]) -> None:
    base, slow = server
    answers: list[int] = []

    def sign_in() -> None:
        with httpx.Client(base_url=base, timeout=60) as c:
            answers.append(c.post("/console/login", data={"token": "wrong" * 6}).status_code)

    signing = threading.Thread(target=sign_in)
    signing.start()
    assert slow.entered.wait(30), "the sign-in never reached the wrong-token counter"
    with httpx.Client(base_url=base, timeout=10) as c:  # answered while the sign-in waits
        assert c.get("/healthz").status_code == 200
    slow.release.set()
    signing.join(timeout=30)
    assert answers == [401]
