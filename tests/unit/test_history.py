"""The history is append-only: an event writes its own steps, `status()` shows the recent ones,
`history()` pages through all of them."""

from __future__ import annotations

import pytest

from tests.conftest import Driver
from workflow import ActivationService, InvalidInput
from workflow.domain import Step
from workflow.testing.faults import FaultyStore

LOGINS = 150
MAIN_PATH = ["request", "email_sent", "scan", "verify_sms", "set_pin", "confirm_pin"]


def _active_after_logins(driver: Driver, logins: int) -> str:
    aid = driver.reach("active")
    for _ in range(logins):
        driver.service.authenticate(aid, "4821")
    return aid


def _all(service: ActivationService, aid: str, limit: int) -> list[Step]:
    steps: list[Step] = []
    after: int | None = 0
    while after is not None:
        page = service.history(aid, after=after, limit=limit)
        steps += page.steps
        after = page.next_after
    return steps


def test_status_shows_the_hundred_most_recent_steps_and_the_count(driver: Driver) -> None:
    """After 150 logins `status()` holds the newest 100 steps, oldest first, and counts all 156."""
    aid = _active_after_logins(driver, LOGINS)
    status = driver.service.status(aid)
    assert status.history_total == len(MAIN_PATH) + LOGINS
    assert len(status.history) == 100
    assert [s.event for s in status.history] == ["authenticate"] * 100
    times = [s.at for s in status.history]
    assert times == sorted(times)


def test_history_pages_through_every_step_oldest_first(driver: Driver) -> None:
    """Pages of 7 steps, cursor after cursor, give the whole history once and in order."""
    aid = _active_after_logins(driver, 30)
    steps = _all(driver.service, aid, 7)
    assert [s.event for s in steps] == MAIN_PATH + ["authenticate"] * 30
    assert steps == list(driver.service.history(aid, limit=1000).steps)
    last = driver.service.history(aid, after=len(steps))
    assert (last.steps, last.next_after, last.total) == ((), None, len(steps))


@pytest.mark.parametrize(("after", "limit"), [(-1, 10), (0, 0), (0, 1001), ("3", 10), (0, True), (99, 10)])
def test_history_refuses_a_bad_cursor_or_limit(driver: Driver, after: object, limit: object) -> None:
    """A negative, textual or out-of-range cursor, or a limit outside 1-1000, is `InvalidInput`."""
    aid = driver.reach("emailed")
    with pytest.raises(InvalidInput):
        driver.service.history(aid, after=after, limit=limit)


def test_an_event_writes_only_its_own_steps(driver: Driver) -> None:
    """The 150th login commits one audit event and an activation snapshot no bigger than the 10th's."""
    store = FaultyStore(driver.service.store)
    driver.service.store = store
    aid = _active_after_logins(driver, 10)
    store.calls.clear()
    driver.service.authenticate(aid, "4821")
    (early,) = store.committed
    for _ in range(LOGINS):
        driver.service.authenticate(aid, "4821")
    store.calls.clear()
    driver.service.authenticate(aid, "4821")
    (late,) = store.committed
    assert [len(c.audit) for c in (early, late)] == [1, 1]
    assert [e.step for e in late.audit] == [len(MAIN_PATH) + 10 + LOGINS + 2]
    sizes = [len(repr(c.writes[0].activation)) for c in (early, late)]
    assert sizes[1] - sizes[0] <= 8  # only the counters' digits grow


def test_status_reads_at_most_a_hundred_steps(driver: Driver) -> None:
    """`status()` asks the store for the newest 100 steps only, however long the history."""
    store = FaultyStore(driver.service.store)
    driver.service.store = store
    aid = _active_after_logins(driver, LOGINS)
    store.calls.clear()
    driver.service.status(aid)
    (call,) = store.calls_to("steps")
    assert call.args == (aid, len(MAIN_PATH) + LOGINS - 100, 100)


def test_the_cli_pages_through_the_history(tmp_path: object) -> None:
    """`ecps history ID --after N --limit M --json` prints that page and the next cursor."""
    import json
    from pathlib import Path

    from typer.testing import CliRunner

    from adapters.cli.app import app

    state = str(Path(str(tmp_path)) / "state")
    runner = CliRunner()
    started = runner.invoke(app, ["--state-dir", state, "--json", "request", "899700366240"])
    aid = json.loads(started.stdout)["started"]["activation_id"]
    runner.invoke(app, ["--state-dir", state, "dispatch"])
    page = runner.invoke(app, ["--state-dir", state, "--json", "history", aid, "--after", "1",
                               "--limit", "5"])
    assert page.exit_code == 0, page.output
    shown = json.loads(page.stdout)
    assert (shown["after"], shown["total"], shown["next_after"]) == (1, 2, None)
    assert [s["event"] for s in shown["steps"]] == ["email_sent"]


def test_the_http_route_pages_through_the_history(driver: Driver) -> None:
    """GET /activations/{id}/history?after=&limit= answers a page and refuses a bad limit."""
    from fastapi.testclient import TestClient

    from adapters.api import create_app
    from adapters.api.settings import HttpSettings

    aid = _active_after_logins(driver, 3)
    token = "operator-token-for-tests-0123456789"
    client = TestClient(create_app(driver.service, http=HttpSettings.with_token(token)),
                        headers={"Authorization": f"Bearer {token}"})
    assert TestClient(create_app(driver.service)).get(f"/activations/{aid}/history").status_code == 401
    page = client.get(f"/activations/{aid}/history", params={"after": 2, "limit": 4})
    assert page.status_code == 200
    body = page.json()
    assert (body["total"], body["next_after"]) == (9, 6)
    assert [s["event"] for s in body["steps"]] == MAIN_PATH[2:]
    assert client.get(f"/activations/{aid}/history", params={"limit": 0}).status_code in (400, 422)
    assert client.get(f"/activations/{aid}").json()["history_total"] == 9
