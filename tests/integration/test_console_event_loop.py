"""The console's form posts wait for the database off the server's event loop: while a sign-in
waits (on a busy database, a slow one), every other request is still answered."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from adapters.api import app as api_app
from adapters.api import create_app
from adapters.api.settings import HttpSettings
from tests.conftest import memory_service
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


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, SlowGuesses]]:
    slow = SlowGuesses()
    monkeypatch.setattr(api_app, "default_guesses", lambda _: slow)
    app = create_app(memory_service(FakeClock()), dispatch_every=None,
                     http=HttpSettings.with_token(TOKEN))
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not (srv.started and srv.servers):
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    port = srv.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", slow
    slow.release.set()
    srv.should_exit = True
    thread.join(timeout=10)


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
