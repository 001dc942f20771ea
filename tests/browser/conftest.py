"""A real server on 127.0.0.1 (uvicorn in a thread, fake clock, SQLite in tmp_path) and Debian's
Chromium driven by Playwright; skipped when no browser can be had, except under CI=true."""

from __future__ import annotations

import os
import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from adapters.api import create_app
from adapters.api.console import PhoneInbox, PhoneKit
from adapters.api.settings import HttpSettings
from adapters.memory import StaticDirectory
from adapters.sql import SqlStore
from tests.conftest import fast_settings, people
from workflow import ActivationService
from workflow.testing import FakeClock

TOKEN = "console-test-token-" + "x" * 16
# The pages poll every 1-2 s; in the tests they poll ten times as often (the same code, paced
# faster), so a step shows up on the console in a tenth of a second rather than in seconds.
FASTER_POLLS = """(() => {
  const later = window.setTimeout.bind(window);
  window.setTimeout = (f, ms, ...args) => later(f, Math.floor((Number(ms) || 0) / 10), ...args);
})();"""
SCREENSHOTS = "ECPS_SCREENSHOTS"
"""A folder to write the pages' screenshots in (`ECPS_SCREENSHOTS=docs` refreshes the docs'
pictures); without it they go to the test's temporary folder, leaving the checkout as it was."""


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where this test writes its screenshots."""
    return Path(os.environ.get(SCREENSHOTS) or tmp_path)


def _chromium() -> str:
    """The system Chromium's path, or a skip (a failure under CI=true) saying what is missing."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = "the playwright package is not installed (pip install '.[test]')"
    else:
        found = (os.environ.get("ECPS_CHROMIUM") or shutil.which("chromium")
                 or shutil.which("chromium-browser"))
        if found:
            return found
        missing = "no Chromium on this machine (apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests cannot run under CI: {missing}")
    pytest.skip(f"browser tests skipped: {missing}")


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One headless Chromium for the browser tests, each with its own context (Playwright's loop
    is gone before other packages' asyncio tests run)."""
    path = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@dataclass
class Server:
    """The running server and what the test may look into."""

    url: str
    service: ActivationService
    clock: FakeClock
    inbox: PhoneInbox
    requests: list[str]


@pytest.fixture
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Server]:
    """The API, the console and the phone simulator on a free loopback port; with the parameter
    `{"dispatcher": False}`, no background dispatcher (the test dispatches)."""
    import uvicorn

    clock, inbox = FakeClock(), PhoneInbox()
    store = SqlStore(f"sqlite:///{tmp_path / 'ecps.db'}")
    service = ActivationService(store=store, mailer=inbox.mailer, sms=inbox.sms, push=inbox.push,
                                directory=StaticDirectory(people()), clock=clock,
                                settings=fast_settings())
    dispatcher = getattr(request, "param", {}).get("dispatcher", True)
    app = create_app(service, dispatch_every=0.2 if dispatcher else None,
                     http=HttpSettings.with_token(TOKEN), phone=PhoneKit(inbox, clock))
    sock = socket.create_server(("127.0.0.1", 0))  # listening now: early connections wait in its backlog
    port = sock.getsockname()[1]
    uv = uvicorn.Server(uvicorn.Config(app, log_level="warning", log_config=None))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, name="console-test-server",
                              daemon=True)
    thread.start()
    try:
        yield Server(f"http://127.0.0.1:{port}", service, clock, inbox, [])
    finally:
        uv.should_exit = True
        thread.join(timeout=20)
        sock.close()
        store.close()


@pytest.fixture
def context(browser: Any, server: Server) -> Iterator[Any]:
    """A browser context that records every request's URL into `server.requests`."""
    from playwright.sync_api import expect

    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    # bounds on waiting, not expectations of speed: a loaded CI machine may take seconds
    ctx.set_default_timeout(90_000)
    expect.set_options(timeout=90_000)
    ctx.on("request", lambda r: server.requests.append(r.url))
    ctx.add_init_script(FASTER_POLLS)
    yield ctx
    ctx.close()


def sign_in(page: Any, server: Server) -> None:
    """Sign in to the console on `page` with the operator token."""
    page.goto(f"{server.url}/console")
    page.get_by_label("Operator token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server.url}/console")
