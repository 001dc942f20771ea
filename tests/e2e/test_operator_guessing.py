"""Guessing the operator token over the API: wrong tokens are held off per address and overall,
and counted together with the console's failed sign-ins."""

from __future__ import annotations

from fastapi.testclient import TestClient

from adapters.api.guesses import FAILURES, WINDOW
from tests.e2e.console_client import TOKEN, console_client
from workflow import ActivationService

LIST = "/operations/activations"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_wrong_tokens_are_held_off_per_address(svc: ActivationService) -> None:
    """After FAILURES wrong tokens an address gets 429 with Retry-After even for the right
    token, and nothing is listed; another address still gets in."""
    guesser = console_client(svc, address="192.0.2.20")
    for _ in range(FAILURES):
        assert guesser.get(LIST, headers=_bearer("w" * 30)).status_code == 403
    r = guesser.get(LIST, headers=_bearer(TOKEN))
    assert r.status_code == 429
    assert r.json()["error"]["kind"] == "too_many_requests"
    assert 1 <= int(r.headers["retry-after"]) <= WINDOW
    assert TOKEN not in r.text
    assert "activations" not in r.json()
    assert console_client(svc, address="192.0.2.21").get(LIST, headers=_bearer(TOKEN)).status_code == 200


def test_a_missing_token_is_not_a_guess(svc: ActivationService) -> None:
    """401s for no token at all do not count: the address is not held off by them."""
    c = console_client(svc, address="192.0.2.22")
    for _ in range(FAILURES + 1):
        assert c.get(LIST).status_code == 401
    assert c.get(LIST, headers=_bearer(TOKEN)).status_code == 200


def test_api_guesses_and_console_sign_ins_count_together(svc: ActivationService) -> None:
    """Alternating the API and the console's sign-in form gains a guesser nothing."""
    c = console_client(svc, address="192.0.2.23")
    for i in range(FAILURES):
        if i % 2:
            assert c.post("/console/login", data={"token": "w" * 30}).status_code == 401
        else:
            assert c.get(LIST, headers=_bearer("w" * 30)).status_code == 403
    assert c.post("/console/login", data={"token": TOKEN}).status_code == 429
    assert c.get(LIST, headers=_bearer(TOKEN)).status_code == 429


def test_the_operator_still_gets_in_after_others_guessed(svc: ActivationService) -> None:
    """The right token from a clean address works while fewer than FAILURES_ALL guesses stand."""
    for i in range(FAILURES - 1):
        console_client(svc, address=f"192.0.2.{30 + i}").get(LIST, headers=_bearer("w" * 30))
    ok: TestClient = console_client(svc, address="192.0.2.29")
    assert ok.get(LIST, headers=_bearer(TOKEN)).status_code == 200
