"""The console's logins over HTTP without a browser: listed with the activations, one login's page,
the operator's cancel behind its confirmation, and never an identifier in clear."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from adapters.api.console import PhoneInbox, PhoneKit
from adapters.api.console.rows import Filters, login_rows
from adapters.memory import MemoryMailer, MemoryPush, MemorySms, MemoryStore, StaticDirectory
from tests.conftest import NID, Driver, fast_settings, people
from tests.e2e.console_client import console_client, csrf_of, sign_in
from workflow import ActivationService
from workflow.testing import FakeClock

LOGIN = re.compile(r'href="/console/logins/(lg-[0-9a-f]{32})"')


@pytest.fixture
def world() -> tuple[ActivationService, Driver, FakeClock]:
    """A memory service with a push gateway, an active e-CPS for NID, and its driver."""
    clock, mailer, sms = FakeClock(), MemoryMailer(), MemorySms()
    svc = ActivationService(store=MemoryStore(), mailer=mailer, sms=sms, push=MemoryPush(),
                            directory=StaticDirectory(people()), clock=clock, settings=fast_settings())
    driver = Driver(svc, mailer, sms)
    driver.reach("active")
    return svc, driver, clock


@pytest.fixture
def console(world: tuple[ActivationService, Driver, FakeClock]) -> Iterator[TestClient]:
    """A client signed in to the console."""
    with console_client(world[0], PhoneKit(PhoneInbox(), world[2])) as c:
        yield sign_in(c)


def _start(svc: ActivationService) -> str:
    return svc.start_login(NID, client_id="portal-1", client_name="Ameli Pro",
                           binding_message="K7-42").login_id


def test_logins_are_listed_with_the_activations_and_filtered(
        console: TestClient, world: tuple[ActivationService, Driver, FakeClock]) -> None:
    """A login is a row of the list (portal and binding message, no identifier); the state filter
    and the identifier search (by pseudonym) find it, another state does not."""
    svc = world[0]
    lid = _start(svc)
    page = console.get("/console").text
    assert LOGIN.findall(page) == [lid]
    assert "Ameli Pro · “K7-42”" in page
    assert NID not in page
    assert LOGIN.findall(console.get("/console/rows?state=requested").text) == [lid]
    assert LOGIN.findall(console.get("/console/rows?state=approved").text) == []
    found = console.post("/console/search", data={"csrf": csrf_of(console, "/console"), "nid": NID})
    assert NID not in found.headers["location"]
    assert LOGIN.findall(console.get(found.headers["location"]).text) == [lid]


def test_login_rows_come_a_page_at_a_time_newest_first(
        world: tuple[ActivationService, Driver, FakeClock]) -> None:
    """Three logins on pages of two: the newest two, then the oldest below the cursor."""
    svc, _, clock = world
    made = []
    for _ in range(3):
        made.append(_start(svc))
        clock.advance(timedelta(seconds=1))
    first = login_rows(svc, Filters(), svc.now(), limit=2)
    assert [r.id for r in first.rows] == made[:0:-1]
    assert first.next is not None
    second = login_rows(svc, Filters(before=first.next), svc.now(), limit=2)
    assert ([r.id for r in second.rows], second.next) == ([made[0]], None)


def test_a_login_page_shows_its_path_portal_outbox_and_trail(
        console: TestClient, world: tuple[ActivationService, Driver, FakeClock]) -> None:
    """After the push and the approval: the path on the diagram, the portal's name and binding
    message, the push sent, the validity's time left and an intact trail."""
    svc = world[0]
    lid = _start(svc)
    svc.dispatch()
    svc.approve_login(lid, "4821")
    page = console.get(f"/console/logins/{lid}").text
    assert 'data-path="requested notified approved"' in page
    assert 'data-state="approved"' in page
    assert "Ameli Pro" in page
    assert "K7-42" in page
    assert re.search(r'<td>login_push</td><td>push</td><td>1</td><td class="status">sent</td>', page)
    assert "2 min 0 s left" in page  # the validity runs while approved, until the portal collects
    assert 'id="audit">Intact' in page
    assert "<svg" in page
    assert NID not in page
    assert "4821" not in page
    assert console.get(f"/console/logins/{lid}/stamp").text != ""


def test_an_operator_cancels_a_pending_login_behind_a_confirmation(
        console: TestClient, world: tuple[ActivationService, Driver, FakeClock]) -> None:
    """The GET only asks; the POST with the CSRF token cancels, recorded as the operator's."""
    svc = world[0]
    lid = _start(svc)
    form = console.get(f"/console/logins/{lid}/cancel")
    assert "Cancel the login now" in form.text
    assert svc.logins.store.get_login(lid).state == "requested"  # type: ignore[union-attr]
    token = csrf_of(console, f"/console/logins/{lid}")
    r = console.post(f"/console/logins/{lid}/cancel", data={"csrf": token})
    assert (r.status_code, r.headers["location"]) == (303, f"/console/logins/{lid}?done=cancelled")
    trail = svc.store.audit_trail(lid)
    assert (trail[-1].action, trail[-1].actor, trail[-1].dest) == ("cancel", "operator", "cancelled")
    assert svc.login_result(lid).closed_reason == "cancelled by the operator"
    assert "cancelled by the operator" in console.get(f"/console/logins/{lid}").text
    csrf = csrf_of(console, f"/console/logins/{lid}")
    again = console.post(f"/console/logins/{lid}/cancel", data={"csrf": csrf})
    assert again.status_code == 409
    assert "cannot be cancelled" in again.text


def test_an_unknown_login_is_a_page_that_echoes_no_text(console: TestClient) -> None:
    """A well-formed unknown id is named; anything else is not printed."""
    known_shape = "lg-" + "0" * 32
    assert known_shape in console.get(f"/console/logins/{known_shape}").text
    odd = console.get("/console/logins/%3Cb%3Ehello")
    assert odd.status_code == 404
    assert "<b>hello" not in odd.text
    assert "no such login" in odd.text


def test_the_simulator_portal_starts_a_login_and_reads_the_assertion_claims(
        console: TestClient, world: tuple[ActivationService, Driver, FakeClock]) -> None:
    """The panel asks for the professional, watches the login without polling too fast, and once
    the phone approved gets the verified claims back, not the signed token."""
    svc = world[0]
    started = console.post("/console/phone/portal/logins", json={
        "national_id": NID, "client_name": "Ameli Pro", "binding_message": "K7-42"})
    assert started.status_code == 201
    lid = started.json()["login_id"]
    assert console.get(f"/console/phone/portal/logins/{lid}").json()["state"] == "requested"
    assert console.get(f"/console/phone/portal/logins/{lid}").json()["state"] == "requested"
    assert 'data-state="requested"' in console.get(f"/console/phone/logins/{lid}/diagram").text
    svc.dispatch()
    svc.approve_login(lid, "4821")
    answer = console.get(f"/console/phone/portal/logins/{lid}")
    body = answer.json()
    assert body["state"] == "completed"
    assert (body["claims"]["aud"], body["claims"]["jti"]) == ("phone-simulator-portal", lid)
    assert body["claims"]["sub"] == svc.keys.pseudonym(NID)
    assert not re.search(r"ey[\w-]+\.ey[\w-]+\.[\w-]+", answer.text)  # no compact JWS
    assert console.get(f"/console/phone/portal/logins/{lid}").json()["state"] == "completed"


def test_the_simulator_portal_refuses_a_professional_without_an_active_e_cps(console: TestClient) -> None:
    """No active credential: the typed refusal, not a login."""
    r = console.post("/console/phone/portal/logins", json={
        "national_id": "810100000008", "client_name": "Ameli Pro", "binding_message": "K7-42"})
    assert r.status_code == 422
    assert "no active e-CPS" in r.text
    assert console.get("/console/phone/portal/logins/lg-nothing").status_code == 404
