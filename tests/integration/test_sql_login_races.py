"""Logins raced over SqlStore (SQLite, PostgreSQL): approve, deny, cancel and polls at once."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from functools import partial

import pytest

from adapters.memory import MemoryMailer, MemoryPush, MemorySms, StaticDirectory
from adapters.sql import SqlStore
from tests.conftest import NID, Driver, fast_settings, people
from workflow import ActivationService, WorkflowError
from workflow.errors import AlreadyUsed, SlowDown, TransitionNotAllowed
from workflow.login import LoginState
from workflow.login.results import LoginResult
from workflow.testing import FakeClock
from workflow.verification import verify_trails

PIN = "4821"
PORTAL = {"client_id": "portail-paca", "client_name": "Portail de santé PACA", "binding_message": "A7-3F"}


@pytest.fixture
def svc(url: str, clock: FakeClock) -> Iterator[ActivationService]:
    """A service with a push gateway over a fresh SQL database, its credential active."""
    store = SqlStore(url)
    service = ActivationService(store=store, mailer=MemoryMailer(), sms=MemorySms(),
                                push=MemoryPush(), directory=StaticDirectory(people()),
                                clock=clock, settings=fast_settings())
    mailer, sms = service.dispatcher.mailer, service.dispatcher.sms
    assert isinstance(mailer, MemoryMailer)
    assert isinstance(sms, MemorySms)
    Driver(service, mailer, sms).reach("active", pin=PIN)
    yield service
    store.close()


def _race(calls: dict[str, Callable[[], LoginResult]]) -> dict[str, LoginResult | WorkflowError]:
    """Run every call at once (released together); what each returned or raised."""
    outcome: dict[str, LoginResult | WorkflowError] = {}
    start = threading.Barrier(len(calls))

    def run(name: str, call: Callable[[], LoginResult]) -> None:
        start.wait()
        try:
            outcome[name] = call()
        except WorkflowError as refused:
            outcome[name] = refused

    threads = [threading.Thread(target=run, args=item) for item in calls.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcome


def test_approve_deny_cancel_and_polls_raced_end_one_way_with_one_assertion_at_most(
        svc: ActivationService, clock: FakeClock) -> None:
    """Two approvals, a denial, a cancel and two polls at once: one of the answers wins (the
    denial may also withdraw an approval no poll collected yet), the others are refused with
    a typed error; one assertion at most, and only if approved and not withdrawn."""
    for _ in range(4):
        lid = svc.start_login(NID, **PORTAL).login_id
        svc.dispatch()
        got = _race({"approve1": partial(svc.approve_login, lid, PIN),
                     "approve2": partial(svc.approve_login, lid, PIN),
                     "deny": partial(svc.deny_login, lid), "cancel": partial(svc.cancel_login, lid),
                     "poll1": partial(svc.login_result, lid), "poll2": partial(svc.login_result, lid)})
        answers = {k for k in ("approve1", "approve2", "deny", "cancel")
                   if isinstance(got[k], LoginResult)}
        assert answers in ({"approve1"}, {"approve2"}, {"deny"}, {"cancel"},
                           {"approve1", "deny"}, {"approve2", "deny"}), got
        assert all(isinstance(got[k], TransitionNotAllowed) for k in got
                   if k not in answers and not k.startswith("poll"))
        polls = [got["poll1"], got["poll2"]]
        assert all(isinstance(p, LoginResult | SlowDown | AlreadyUsed) for p in polls), polls
        given = [p.assertion for p in polls if isinstance(p, LoginResult) and p.assertion]
        clock.advance(svc.settings.login_poll_interval)
        try:
            last = svc.login_result(lid)
            given += [last.assertion] if last.assertion else []
            final = last.state
        except AlreadyUsed:
            final = LoginState.COMPLETED
        ended = "deny" if "deny" in answers else "cancel" if "cancel" in answers else "approve"
        assert len(given) == (1 if ended == "approve" else 0)
        assert final == {"deny": LoginState.DENIED, "cancel": LoginState.CANCELLED}.get(
            ended, LoginState.COMPLETED)
        clock.advance(timedelta(minutes=3))
    assert verify_trails(svc.store, svc.keys, svc.engine).intact
