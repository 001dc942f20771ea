"""A push service's Retry-After, however large or odd, never breaks the dispatcher."""

from __future__ import annotations

import httpx
import pytest

from adapters.memory import MemoryMailer, MemorySms, MemoryStore, StaticDirectory
from adapters.push import HttpPush
from tests.conftest import NID, Driver, people
from workflow import ActivationService, Settings
from workflow.errors import DeliveryFailed
from workflow.login import LoginState
from workflow.outbox import MAX_RETRY_AFTER
from workflow.testing import FakeClock
from workflow.testing.push_contract import sample_push

PORTAL = {"client_id": "portail-paca", "client_name": "Portail de santé PACA", "binding_message": "A7-3F"}
HUGE = "9" * 30


def _answering(retry_after: str) -> HttpPush:
    """A gateway whose service answers 429 with this Retry-After."""
    transport = httpx.MockTransport(lambda _: httpx.Response(429, headers={"Retry-After": retry_after}))
    return HttpPush("https://push.example/send", "push-token", transport=transport)


@pytest.mark.parametrize("value", [HUGE, "-5", "1e9", "Fri, 31 Dec 9999 23:59:59 GMT"])
def test_a_retry_after_is_kept_within_the_longest_wait(value: str) -> None:
    """Read as whole seconds from 0 to the outbox's longest wait, or dropped when unreadable."""
    with pytest.raises(DeliveryFailed) as caught:
        _answering(value).send(sample_push())
    assert caught.value.transient
    asked = caught.value.retry_after
    assert asked is None or 0 <= asked <= MAX_RETRY_AFTER.total_seconds()


def test_a_huge_retry_after_leaves_the_login_waiting_and_the_dispatcher_running(
        store: MemoryStore, mailer: MemoryMailer, sms: MemorySms, clock: FakeClock,
        settings: Settings) -> None:
    """The push is put back for later; the login is still `requested`, nothing raised."""
    svc = ActivationService(store=store, mailer=mailer, sms=sms, push=_answering(HUGE),
                            directory=StaticDirectory(people()), clock=clock, settings=settings)
    Driver(svc, mailer, sms).reach("active")
    login = svc.start_login(NID, **PORTAL)
    assert svc.dispatch() == 0
    assert svc.login_result(login.login_id).state == LoginState.REQUESTED
    (row,) = store.outbox_of(login.login_id)
    assert (row.attempts, row.status) == (1, "pending")
