"""The browser tests say why they cannot run: a skip outside CI, a failure under CI=true."""

from __future__ import annotations

import pytest

from tests.browser import conftest


@pytest.fixture
def no_browser(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without any Chromium."""
    monkeypatch.delenv("ECPS_CHROMIUM", raising=False)
    monkeypatch.setattr(conftest.shutil, "which", lambda _: None)


@pytest.mark.usefixtures("no_browser")
def test_no_browser_skips_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside CI the tests are skipped, saying what to install."""
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        conftest._chromium()


@pytest.mark.usefixtures("no_browser")
def test_no_browser_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under CI=true a missing browser is a failure, not a skip."""
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="cannot run under CI"):
        conftest._chromium()
