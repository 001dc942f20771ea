"""In-process listeners are told of a login's steps and of the credential's, after the commit."""

from __future__ import annotations

import pytest

from adapters.memory import MemoryPush
from tests.conftest import NID, Driver
from workflow import events as ev
from workflow.errors import VerificationFailed

PORTAL = {"client_id": "portail", "client_name": "Portail", "binding_message": "A7-3F"}


def test_listeners_get_the_login_steps_and_the_credentials_in_order(driver: Driver) -> None:
    """A wrong PIN then the right one: the credential's failure and success come between the
    login's own events, each after its commit; the refused approve itself tells nothing."""
    svc = driver.service
    svc.dispatcher.push = MemoryPush()
    aid = driver.reach("active")
    seen: list[ev.DomainEvent] = []
    svc.listeners.add(seen.append)
    lid = svc.start_login(NID, **PORTAL).login_id
    svc.dispatch()
    with pytest.raises(VerificationFailed):
        svc.approve_login(lid, "1397")
    svc.approve_login(lid, "4821")
    svc.login_result(lid)
    assert [(type(e), e.activation_id) for e in seen] == [
        (ev.LoginRequested, lid), (ev.LoginNotified, lid), (ev.LoginFailed, aid),
        (ev.LoginSucceeded, aid), (ev.LoginApproved, lid), (ev.LoginCompleted, lid)]


def test_listeners_can_ask_for_login_events_only(driver: Driver) -> None:
    """A listener registered for one kind gets only it: a denial before the push was sent is
    recorded after the implied `push_sent`, which this listener does not want."""
    svc = driver.service
    svc.dispatcher.push = MemoryPush()
    driver.reach("active")
    denied: list[ev.DomainEvent] = []
    svc.listeners.add(denied.append, ev.LoginDenied)
    lid = svc.start_login(NID, **PORTAL).login_id
    svc.deny_login(lid)
    assert [(e.kind, e.activation_id, e.source, e.dest) for e in denied] == [
        ("login.denied", lid, "notified", "denied")]
