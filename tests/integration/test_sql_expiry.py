"""`expire_due()` over SqlStore: sweeps every due activation in batches, once, even with two sweepers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest

from adapters.memory import MemoryMailer, MemorySms, StaticDirectory
from adapters.sql import SqlStore
from tests.conftest import fast_settings
from tests.integration.test_sql_concurrency import _cheap_qr_codes, _professionals
from workflow import ActivationService, State
from workflow.testing import FakeClock, payload_from

PEOPLE = _professionals(30)


class Sweep:
    """A service over its own store; `populate` makes 30 flows, the first 10 of them scanned."""

    def __init__(self, url: str, clock: FakeClock) -> None:
        self.store = SqlStore(url)
        self.mail = MemoryMailer()
        self.svc = ActivationService(store=self.store, mailer=self.mail, sms=MemorySms(),
                                     directory=StaticDirectory(PEOPLE), clock=clock,
                                     settings=fast_settings())

    def populate(self) -> tuple[list[str], list[str]]:
        ids = [self.svc.request(p.national_id).activation_id for p in PEOPLE]
        self.svc.dispatch(limit=100)
        for aid in ids[:10]:
            (mail,) = [m for m in self.mail.sent if f"a={aid}&" in m.text]
            self.svc.scan(aid, payload_from(mail))
        return ids[:10], ids[10:]


@pytest.fixture
def sweep(url: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sweep]:
    """A service over a fresh SQL database."""
    _cheap_qr_codes(monkeypatch)
    s = Sweep(url, clock)
    yield s
    s.store.close()


def test_expire_due_sweeps_in_batches_through_every_due_flow(sweep: Sweep, clock: FakeClock) -> None:
    """Flows past their QR token's deadline expire, batch after batch; the others stay."""
    scanned, emailed = sweep.populate()
    clock.advance(fast_settings().qr_token_validity - timedelta(seconds=1))
    assert sweep.svc.expire_due(batch=7) == 0
    clock.advance(timedelta(seconds=1))  # deadlines are exclusive: now == deadline is over
    assert sweep.store.due_for_expiry(clock.now(), 100) != []
    assert sweep.svc.expire_due(batch=7) == 20
    assert sweep.svc.expire_due(batch=7) == 0
    assert {sweep.svc.status(a).state for a in emailed} == {State.EXPIRED}
    assert {sweep.svc.status(a).state for a in scanned} == {State.SCANNED}
    for aid in emailed:
        events = [s.event for s in sweep.svc.status(aid).history]
        assert events.count("expire") == 1
        assert sweep.store.get(aid).due_at() is None  # type: ignore[union-attr]
    assert sweep.store.due_for_expiry(clock.now(), 100) == []


def test_two_sweepers_expire_each_flow_once(url: str, sweep: Sweep, clock: FakeClock) -> None:
    """Two processes sweeping at once expire every due flow exactly once between them."""
    sweep.populate()
    clock.advance(fast_settings().flow_validity)
    other = Sweep(url, clock)
    counts = [0, 0]
    barrier = threading.Barrier(2)

    def run(i: int, s: Sweep) -> None:
        barrier.wait()
        counts[i] = s.svc.expire_due(batch=4)

    threads = [threading.Thread(target=run, args=(i, s)) for i, s in enumerate((sweep, other))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    other.store.close()
    print(f"\n[figures] two sweepers ({sweep.store.dialect_name}): {counts[0]} + {counts[1]}")
    assert sum(counts) == 30
    for a in sweep.store.list_activations():
        assert a.state == State.EXPIRED
        assert [s.event for s in sweep.store.steps(a.id)].count("expire") == 1
