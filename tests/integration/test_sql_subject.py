"""One serial order per identifier over SqlStore (SQLite, PostgreSQL): the request limit, "a new
request supersedes the flow in flight" and "one active credential" hold under concurrency."""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from adapters.memory import MemoryMailer, MemorySms, StaticDirectory
from adapters.sql import SqlStore
from tests.conftest import NID, Driver, fast_settings, people
from workflow import ActivationService, State, WorkflowError
from workflow.definition import DEFINITION
from workflow.domain import MessageKind
from workflow.testing import FakeClock

FORK = multiprocessing.get_context("fork")
REQUESTS = 50


def _service(url: str, clock: FakeClock) -> ActivationService:
    return ActivationService(store=SqlStore(url), mailer=MemoryMailer(), sms=MemorySms(),
                             directory=StaticDirectory(people()), clock=clock, settings=fast_settings())


@pytest.fixture
def svc(url: str, clock: FakeClock) -> Iterator[ActivationService]:
    """A service over a fresh database."""
    service = _service(url, clock)
    yield service
    service.store.close()  # type: ignore[attr-defined]


class InFlightWatch:
    """Reads the identifier's flows in flight over and over while the requests run; the most seen."""

    def __init__(self, svc: ActivationService) -> None:
        self.svc, self.most, self.reads = svc, 0, 0
        self.subject = svc.keys.pseudonym(NID)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch)

    def _watch(self) -> None:
        while not self.stop.is_set() or self.reads == 0:
            seen = len(self.svc.store.find(self.subject, DEFINITION.in_flight))
            self.most, self.reads = max(self.most, seen), self.reads + 1

    def __enter__(self) -> InFlightWatch:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(60)


def _outcome(call: Callable[[], object]) -> str:
    try:
        call()
    except WorkflowError as exc:
        return type(exc).__name__ + (f":{exc}" if type(exc).__name__ == "StorageError" else "")
    return "ok"


def _check_five_accepted(svc: ActivationService, outcomes: list[str]) -> None:
    """5 accepted and 45 refused for the limit; one flow in flight, the others superseded; one QR
    e-mail queued per accepted request; every refusal audited."""
    tally = Counter(outcomes)
    assert tally == {"ok": 5, "TooManyRequests": REQUESTS - 5}, tally
    store, subject = svc.store, svc.keys.pseudonym(NID)
    flows = store.find(subject, set(State))
    assert len(flows) == 5
    assert len(store.find(subject, DEFINITION.in_flight)) == 1
    cancelled = [a for a in flows if a.state == State.CANCELLED]
    assert len(cancelled) == 4
    assert {a.closed_reason for a in cancelled} == {"superseded by a newer request"}
    for a in flows:
        emails = [m for m in store.outbox_of(a.id) if m.kind == MessageKind.ACTIVATION_EMAIL]
        assert len(emails) == 1
    assert store.turn(subject) == 5
    refusals = [e for e in store.audit_trail("") if e.subject == subject]
    assert len(refusals) == REQUESTS - 5


def test_fifty_threads_requesting_for_one_identifier_get_five_flows(svc: ActivationService) -> None:
    """50 threads request for one identifier at once: exactly 5 accepted, never two flows in flight."""
    barrier = threading.Barrier(REQUESTS)
    outcomes = [""] * REQUESTS

    def run(i: int) -> None:
        barrier.wait()
        outcomes[i] = _outcome(lambda: svc.request(NID, device_id=f"phone-{i}"))

    with InFlightWatch(svc) as watch:
        threads = [threading.Thread(target=run, args=(i,)) for i in range(REQUESTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
    assert watch.most == 1
    _check_five_accepted(svc, outcomes)


def _request_in_child(url: str, now: str, threads: int, barrier: Any, out: Any) -> None:
    child = _service(url, FakeClock(datetime.fromisoformat(now)))
    results = [""] * threads

    def run(i: int) -> None:
        results[i] = _outcome(lambda: child.request(NID, device_id=f"phone-{i}"))

    barrier.wait()
    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(300)
    out.put(results)


def test_fifty_requests_from_ten_processes_get_five_flows(svc: ActivationService, url: str,
                                                          clock: FakeClock) -> None:
    """10 processes of 5 threads request for one identifier at once: exactly 5 accepted."""
    processes, per = 10, REQUESTS // 10
    barrier, out = FORK.Barrier(processes), FORK.Queue()
    procs = [FORK.Process(target=_request_in_child, args=(url, clock.now().isoformat(), per, barrier, out))
             for _ in range(processes)]
    for p in procs:  # forked before the watch starts: a child never inherits a held lock
        p.start()
    with InFlightWatch(svc) as watch:
        outcomes = [o for _ in procs for o in out.get(timeout=300)]
        for p in procs:
            p.join(60)
            assert p.exitcode == 0
    assert watch.most == 1
    _check_five_accepted(svc, outcomes)


class BlindStore(SqlStore):
    """Finds no flow of an identifier, as a release without the serial order could miss one."""

    def find(self, subject: str, states: Any) -> list[Any]:
        return []


class MeetingStore(SqlStore):
    """Holds the first two lookups of active credentials until both are made: both confirmations
    read before either commits."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.meeting, self.met = threading.Barrier(2), 0

    def find(self, subject: str, states: Any) -> list[Any]:
        found = super().find(subject, states)
        if set(states) == {State.ACTIVE} and self.met < 2:
            self.met += 1
            self.meeting.wait(30)
        return found


def test_two_flows_confirming_at_once_leave_one_active_credential(url: str, clock: FakeClock) -> None:
    """Two flows of one identifier in `pin_set` (left by a blind release) confirm their PIN at once,
    each reading before either commits: one ends active, the other revoked as replaced, with its
    notice queued."""
    mailer, sms = MemoryMailer(), MemorySms()
    svc = ActivationService(store=MeetingStore(url), mailer=mailer, sms=sms,
                            directory=StaticDirectory(people()), clock=clock, settings=fast_settings())
    first = Driver(svc, mailer, sms).reach("pin_set")
    with BlindStore(url) as blind_store:
        blind = ActivationService(store=blind_store, mailer=mailer, sms=sms,
                                  directory=StaticDirectory(people()), clock=clock, settings=fast_settings())
        second = Driver(blind, mailer, sms).reach("pin_set")
    subject = svc.keys.pseudonym(NID)
    assert len(svc.store.find(subject, {State.PIN_SET})) == 2
    barrier = threading.Barrier(2)
    outcomes = [""] * 2

    def run(i: int, aid: str) -> None:
        barrier.wait()
        outcomes[i] = _outcome(lambda: svc.confirm_pin(aid, "4821"))

    threads = [threading.Thread(target=run, args=(i, aid)) for i, aid in enumerate((first, second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert outcomes == ["ok", "ok"]
    assert len(svc.store.find(subject, {State.ACTIVE})) == 1
    revoked = svc.store.find(subject, {State.REVOKED})
    assert [a.closed_reason for a in revoked] == ["replaced"]
    notices = [m for m in svc.store.outbox_of(revoked[0].id) if m.kind == MessageKind.REPLACEMENT_NOTICE]
    assert len(notices) == 1
    assert svc.store.turn(subject) == 4  # two requests, two confirmations
    svc.store.close()  # type: ignore[attr-defined]
