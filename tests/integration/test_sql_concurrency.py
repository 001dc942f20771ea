"""Concurrent events on one activation, and concurrent dispatchers, over SqlStore (SQLite, PostgreSQL).

Threads share nothing but the database URL when they stand for processes; each test prints
its conflict figures (run with `-s` to read them).
"""

from __future__ import annotations

import functools
import itertools
import multiprocessing
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from adapters.memory import MemoryMailer, MemorySms, StaticDirectory
from adapters.sql import SqlStore
from tests.conftest import Driver, fast_settings, people
from tests.integration.threads import at_once
from workflow import ActivationService, State, WorkflowError, messages
from workflow.audit import verify
from workflow.definition import Event
from workflow.domain import Change, Delivery, Write
from workflow.errors import ActivationLocked, ConcurrencyConflict
from workflow.messages import DirectoryEntry
from workflow.security import luhn_ok
from workflow.testing import FakeClock
from workflow.testing.faults import FaultyStore
from workflow.testing.store_contract import sample_activation

FORK = multiprocessing.get_context("fork")


class Node:
    """One service over its own SqlStore (as one process would have), counting conflicts."""

    def __init__(self, url: str, clock: FakeClock, mailer: MemoryMailer | None = None,
                 directory: list[DirectoryEntry] | None = None) -> None:
        self.sql = SqlStore(url)
        self.store = FaultyStore(self.sql)
        self.mailer, self.sms = mailer or MemoryMailer(), MemorySms()
        self.service = ActivationService(
            store=self.store, mailer=self.mailer, sms=self.sms,
            directory=StaticDirectory(directory or people()), clock=clock, settings=fast_settings())

    @property
    def conflicts(self) -> int:
        """Commits the store refused with `ConcurrencyConflict` (the service retried them)."""
        return sum(isinstance(c.error, ConcurrencyConflict) for c in self.store.calls_to("commit"))


@pytest.fixture
def node(url: str, clock: FakeClock) -> Iterator[Node]:
    """A service over a fresh SQL database."""
    n = Node(url, clock)
    yield n
    n.sql.close()


def _consistent(node: Node, aid: str) -> list[tuple[str, State]]:
    """The history as (event, dest), after checking it chains and the audit trail verifies."""
    status = node.service.status(aid)
    history = list(status.history)
    for before, after in itertools.pairwise(history):
        assert after.source == before.dest
    assert history[-1].dest == status.state
    stored = node.store.get(aid)
    assert stored is not None
    trail = node.store.audit_trail(aid)
    assert verify(node.service.keys, trail) == []
    assert len(trail) == stored.audit_seq
    return [(s.event, s.dest) for s in history]


def _wrong_codes(right: str, count: int) -> list[str]:
    codes = [f"{(int(right) + 7919 * (i + 1)) % 1_000_000:06d}" for i in range(count)]
    assert right not in codes
    assert len(set(codes)) == count
    return codes


# -- the same right code, many times at once -------------------------------------------------


def test_sixteen_threads_with_the_right_code_verify_once(node: Node) -> None:
    """16 threads submit the right SMS code together: one succeeds, the others are refused."""
    driver = Driver(node.service, node.mailer, node.sms)
    aid = driver.reach("scanned")
    code = driver.code()
    outcomes = at_once(16, lambda _: node.service.verify_sms(aid, code))
    tally = Counter(outcomes)
    print(f"\n[figures] 16 threads, right code ({node.sql.dialect_name}): {dict(tally)}, "
          f"conflicts retried by the service: {node.conflicts}")
    assert tally["ok"] == 1
    assert set(tally) - {"ok"} <= {"TransitionNotAllowed", "ConcurrencyConflict"}
    history = _consistent(node, aid)
    assert history.count(("verify_sms", State.SMS_VERIFIED)) == 1
    assert node.service.status(aid).state == State.SMS_VERIFIED
    stored = node.store.get(aid)
    assert stored is not None
    assert stored.sms_attempts == 0


def _verify_in_child(url: str, aid: str, code: str, now: str, barrier: Any, out: Any) -> None:
    child = Node(url, FakeClock(datetime.fromisoformat(now)))
    barrier.wait()
    try:
        child.service.verify_sms(aid, code)
        outcome = "ok"
    except WorkflowError as exc:
        outcome = type(exc).__name__
    out.put((outcome, child.conflicts))


def _in_processes(count: int, target: Callable[..., None], args: Callable[[int], tuple[Any, ...]]
                  ) -> list[tuple[str, int]]:
    barrier, out = FORK.Barrier(count), FORK.Queue()
    procs = [FORK.Process(target=target, args=(*args(i), barrier, out)) for i in range(count)]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    return results


def test_four_processes_with_the_right_code_verify_once(node: Node, url: str,
                                                        clock: FakeClock) -> None:
    """4 processes submit the right SMS code together: one succeeds, the others are refused."""
    driver = Driver(node.service, node.mailer, node.sms)
    aid = driver.reach("scanned")
    code = driver.code()
    results = _in_processes(4, _verify_in_child,
                            lambda _: (url, aid, code, clock.now().isoformat()))
    tally = Counter(outcome for outcome, _ in results)
    print(f"\n[figures] 4 processes, right code ({node.sql.dialect_name}): {dict(tally)}, "
          f"conflicts: {sum(c for _, c in results)}")
    assert tally["ok"] == 1
    assert set(tally) - {"ok"} <= {"TransitionNotAllowed", "ConcurrencyConflict"}
    assert _consistent(node, aid).count(("verify_sms", State.SMS_VERIFIED)) == 1


# -- many wrong codes at once --------------------------------------------------------------------


def _check_locked_after_wrong_codes(node: Node, aid: str, right: str, outcomes: list[str]) -> None:
    bound = node.service.settings.max_sms_attempts
    tally = Counter(outcomes)
    assert set(tally) <= {"VerificationFailed", "ActivationLocked"}
    assert tally["VerificationFailed"] == bound - 1
    history = _consistent(node, aid)
    compared = [step for step in history if step[0] == "verify_sms"]
    assert compared == [("verify_sms", State.SCANNED)] * (bound - 1) + [("verify_sms", State.LOCKED)]
    stored = node.store.get(aid)
    assert stored is not None
    assert (stored.state, stored.sms_attempts) == (State.LOCKED, bound)
    with pytest.raises(ActivationLocked):
        node.service.verify_sms(aid, right)
    assert node.service.status(aid).state == State.LOCKED


def test_fifty_concurrent_wrong_codes_lock_after_the_maximum(node: Node) -> None:
    """50 threads send wrong codes at once: exactly the maximum is counted, then it is locked."""
    driver = Driver(node.service, node.mailer, node.sms)
    aid = driver.reach("scanned")
    right = driver.code()
    wrong = _wrong_codes(right, 50)
    outcomes = at_once(50, lambda i: node.service.verify_sms(aid, wrong[i]))
    print(f"\n[figures] 50 threads, wrong codes ({node.sql.dialect_name}): {dict(Counter(outcomes))}, "
          f"conflicts retried by the service: {node.conflicts}")
    refusals = [e for e in node.store.audit_trail(aid) if e.outcome == "refused"]
    assert len(refusals) == 50 - node.service.settings.max_sms_attempts
    _check_locked_after_wrong_codes(node, aid, right, outcomes)


def _wrong_in_child(url: str, aid: str, codes: list[str], now: str, barrier: Any,
                    out: Any) -> None:
    child = Node(url, FakeClock(datetime.fromisoformat(now)))
    barrier.wait()
    outcomes = []
    for code in codes:
        try:
            child.service.verify_sms(aid, code)
            outcomes.append("ok")
        except WorkflowError as exc:
            outcomes.append(type(exc).__name__)
    out.put((",".join(outcomes), child.conflicts))


def test_wrong_codes_from_four_processes_lock_after_the_maximum(node: Node, url: str,
                                                               clock: FakeClock) -> None:
    """4 processes send 5 wrong codes each at once: the maximum is counted, never more."""
    driver = Driver(node.service, node.mailer, node.sms)
    aid = driver.reach("scanned")
    right = driver.code()
    wrong = _wrong_codes(right, 20)
    results = _in_processes(4, _wrong_in_child,
                            lambda i: (url, aid, wrong[5 * i:5 * i + 5], clock.now().isoformat()))
    outcomes = [o for joined, _ in results for o in joined.split(",")]
    print(f"\n[figures] 4 processes x 5 wrong codes ({node.sql.dialect_name}): "
          f"{dict(Counter(outcomes))}, conflicts: {sum(c for _, c in results)}")
    _check_locked_after_wrong_codes(node, aid, right, outcomes)


# -- two dispatchers, one outbox ----------------------------------------------------------------


def _professionals(count: int) -> list[DirectoryEntry]:
    entries = []
    for n in range(count):
        rpps10 = f"{1_000_000_000 + n:010d}"
        key = next(d for d in "0123456789" if luhn_ok(rpps10 + d))
        entries.append(DirectoryEntry(f"8{rpps10}{key}", f"pro{n}@clinique.fr",
                                      f"06{n:08d}", f"Dr Pro {n}"))
    return entries


def _cheap_qr_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stand in for the QR rendering (about 12 ms each), which is not what these tests measure."""
    real = messages.qr_png
    for name, module in list(sys.modules.items()):
        if name.startswith("workflow") and getattr(module, "qr_png", None) is real:
            monkeypatch.setattr(module, "qr_png", lambda payload: b"\x89PNG stand-in")


def test_two_dispatchers_deliver_each_of_500_messages_once(url: str, clock: FakeClock,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Two dispatchers draining 500 queued activation e-mails deliver each exactly once."""
    _cheap_qr_codes(monkeypatch)
    directory = _professionals(500)
    mailer = MemoryMailer()
    nodes = [Node(url, clock, mailer, directory) for _ in range(2)]
    try:
        ids: list[str] = []

        def request(i: int) -> None:  # four clients at once: quicker, and a test of its own
            ids.extend(nodes[0].service.request(e.national_id).activation_id
                       for e in directory[i::4])

        assert at_once(4, request) == ["ok"] * 4
        assert len(ids) == 500
        sent = [0, 0]

        def drain(i: int) -> None:
            while n := nodes[i].service.dispatch(limit=25):
                sent[i] += n

        outcomes = at_once(2, drain)
        assert outcomes == ["ok", "ok"]
        delivered = Counter(m.message_id for m in mailer.sent)
        print(f"\n[figures] 2 dispatchers, 500 e-mails ({nodes[0].sql.dialect_name}): "
              f"sent {sent[0]} + {sent[1]}, conflicts {nodes[0].conflicts} + {nodes[1].conflicts}")
        assert len(delivered) == 500
        assert set(delivered.values()) == {1}
        assert sum(sent) == 500
        for aid in ids:
            (message,) = nodes[0].store.outbox_of(aid)
            assert (message.status, message.attempts, message.payload) == (Delivery.SENT, 1, b"")
            assert message.id in delivered
            assert nodes[0].service.status(aid).state == State.EMAILED
    finally:
        for n in nodes:
            n.sql.close()


def test_a_cancel_racing_a_scan_never_loses_either(node: Node) -> None:
    """A cancel and a scan sent together: the flow ends cancelled, and a scan that won is kept."""
    driver = Driver(node.service, node.mailer, node.sms)
    for _ in range(5):
        aid = driver.reach("emailed")
        payload = driver.payload(aid)
        cancel = functools.partial(node.service.cancel, aid)
        scan = functools.partial(node.service.scan, aid, payload)
        outcomes = at_once(2, lambda i, calls=(cancel, scan): calls[i]())  # type: ignore[misc]
        events = [event for event, _ in _consistent(node, aid)]
        assert outcomes[0] == "ok"
        assert node.service.status(aid).state == State.CANCELLED
        if outcomes[1] == "ok":
            assert events[-2:] == [Event.SCAN, Event.CANCEL]
        else:
            assert outcomes[1] == "TransitionNotAllowed"
            assert Event.SCAN not in events


def _commit_in_child(store: SqlStore, aid: str) -> None:
    store.commit(Change((Write(sample_activation(aid), None),)))
    assert store.get(aid) is not None


def test_a_forked_child_uses_its_own_connections(node: Node) -> None:
    """A store used before a fork keeps working in the parent and in the child."""
    store = node.sql
    store.commit(Change((Write(sample_activation("parent-1"), None),)))
    children = [FORK.Process(target=_commit_in_child, args=(store, f"child-{i}")) for i in range(3)]
    for child in children:
        child.start()
    store.commit(Change((Write(sample_activation("parent-2"), None),)))
    for child in children:
        child.join(60)
        assert child.exitcode == 0
    assert {a.id for a in store.list_activations()} == {"parent-1", "parent-2", "child-0",
                                                         "child-1", "child-2"}
