"""Crash safety: a process SIGKILLed at any point of a flow loses nothing it committed.

A child process runs request → dispatch → scan → dispatch → wrong code → verify → PIN → login
over SqlStore and kills itself with SIGKILL at the N-th "point" (Hypothesis picks N): each SQL
statement (inside transactions too), each commit, each store call's return and each message
handed to the mailer or SMS gateway. A restarted service then dispatches, and the database
must hold every step the child saw committed, a consistent history, a verifying audit chain and
an outbox with nothing lost.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import signal
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event

from adapters.memory import MemoryMailer, MemorySms, StaticDirectory
from adapters.sql import SqlStore
from tests.conftest import NID, fast_settings, people
from workflow import ActivationService, State, VerificationFailed
from workflow.audit import verify
from workflow.definition import DEFINITION
from workflow.domain import Activation, Delivery, MessageKind, Step
from workflow.messages import Email, Sms
from workflow.testing import FakeClock, code_from, payload_from

FORK = multiprocessing.get_context("fork")
MAIN_PATH = ["request", "email_sent", "scan", "verify_sms", "set_pin", "confirm_pin"]
EDGES = {(e.source, e.event, e.dest) for e in DEFINITION.edges}
_TOTALS: dict[str, int] = {}


# -- the child --------------------------------------------------------------------------------


class Points:
    """Counts the child's crash points and SIGKILLs the process at the chosen one (0: never)."""

    def __init__(self, kill_at: int) -> None:
        self.kill_at, self.seen = kill_at, 0

    def __call__(self, *_: object) -> None:
        self.seen += 1
        if self.seen == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)


def _hook(store: SqlStore, points: Points) -> None:
    """Make every statement and every commit of `store`'s connections a crash point."""

    @event.listens_for(store.engine, "connect")
    def _watch(dbapi_connection: Any, _record: Any) -> None:
        if store.dialect_name == "sqlite":
            dbapi_connection.set_trace_callback(points)  # BEGIN, each statement, COMMIT
            return
        import psycopg

        class Watched(psycopg.Cursor[Any]):
            def execute(self, *args: Any, **kwargs: Any) -> Any:
                points()
                return super().execute(*args, **kwargs)

            def executemany(self, *args: Any, **kwargs: Any) -> Any:
                points()
                return super().executemany(*args, **kwargs)

        commit = dbapi_connection.commit

        def watched_commit() -> None:
            points()
            commit()
            points()

        dbapi_connection.cursor_factory = Watched
        dbapi_connection.commit = watched_commit


class PointedStore:
    """Passes every call to the store; each return is a crash point (committed, not yet used)."""

    def __init__(self, inner: SqlStore, points: Points) -> None:
        self.inner, self.points = inner, points

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.inner, name)

        def call(*args: Any) -> Any:
            result = method(*args)
            self.points()
            return result

        return call


class FileLine:
    """A mailer / SMS gateway that appends what it accepts to a file, unbuffered."""

    def __init__(self, path: Path, points: Points) -> None:
        self.path, self.points = path, points

    def send(self, message: Email | Sms) -> None:
        self.points()  # before the hand-over
        line = {"id": message.message_id, "text": message.text}
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, (json.dumps(line) + "\n").encode())
        finally:
            os.close(fd)
        self.points()  # handed over, not yet marked sent: the at-least-once window


def _lines(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _flow(url: str, kill_at: int, work: Path) -> None:
    """The child: one whole activation and a login, logging each step that returned."""
    points = Points(kill_at)
    store = SqlStore(url)
    _hook(store, points)
    mail, sms = work / "mail.jsonl", work / "sms.jsonl"
    svc = ActivationService(store=PointedStore(store, points),
                            mailer=FileLine(mail, points), sms=FileLine(sms, points),
                            directory=StaticDirectory(people()), clock=FakeClock(),
                            settings=fast_settings())

    def log(op: str, aid: str, steps: list[tuple[str, str]]) -> None:
        with (work / "progress.jsonl").open("a") as f:
            f.write(json.dumps({"op": op, "aid": aid, "steps": steps}) + "\n")

    started = svc.request(NID, device_id="phone-1")
    aid = started.activation_id
    log("request", aid, [("request", "requested")])
    svc.dispatch()
    payload = payload_from(Email("", "", _lines(mail)[-1]["text"], ""))
    result = svc.scan(aid, payload)
    log("scan", aid, [(s.event, s.dest) for s in result.steps])
    svc.dispatch()
    code = code_from(Sms("", _lines(sms)[-1]["text"]))
    try:
        svc.verify_sms(aid, f"{(int(code) + 1) % 1_000_000:06d}")
    except VerificationFailed:
        log("wrong code", aid, [("verify_sms", "scanned")])
    for op, arg in (("verify_sms", code), ("set_pin", "4821"), ("confirm_pin", "4821")):
        result = getattr(svc, op)(aid, arg)
        log(op, aid, [(s.event, s.dest) for s in result.steps])
    svc.authenticate(aid, "4821")
    log("authenticate", aid, [("authenticate", "active")])
    (work / "points").write_text(str(points.seen))


# -- the parent -------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fresh(request: pytest.FixtureRequest) -> Callable[[], Any]:
    """A factory of fresh databases (one per Hypothesis example), dropped after use."""
    if request.param == "sqlite":

        @contextmanager
        def sqlite_db() -> Iterator[str]:
            with tempfile.TemporaryDirectory() as tmp:
                yield f"sqlite:///{tmp}/ecps.db"

        return sqlite_db
    admin: str = request.getfixturevalue("pg_admin_url")

    @contextmanager
    def pg_schema() -> Iterator[str]:
        import psycopg

        schema = "crash_" + os.urandom(6).hex()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        try:
            base = admin.replace("postgresql://", "postgresql+psycopg://", 1)
            yield f"{base}?options=-csearch_path%3D{schema}"
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")

    return pg_schema


def _run_child(url: str, kill_at: int, work: Path) -> int | None:
    child = FORK.Process(target=_flow, args=(url, kill_at, work))
    child.start()
    child.join(120)
    return child.exitcode


def _total_points(backend: str, fresh: Callable[[], Any]) -> int:
    """How many crash points a run that is never killed passes through."""
    if backend not in _TOTALS:
        with fresh() as url, tempfile.TemporaryDirectory() as tmp:
            assert _run_child(url, 0, Path(tmp)) == 0
            _TOTALS[backend] = int((Path(tmp) / "points").read_text())
    return _TOTALS[backend]


def _check_history(a: Activation, history: list[Step]) -> None:
    assert (history[0].event, history[0].source, history[0].dest) == ("request", None,
                                                                      State.REQUESTED)
    for before, after in itertools.pairwise(history):
        assert after.source == before.dest
        assert (after.source, after.event, after.dest) in EDGES, after
    assert history[-1].dest == a.state
    events = [s.event for s in history]
    if "confirm_pin" in events and State.ACTIVE in [s.dest for s in history]:
        remaining = iter(events)
        assert all(step in remaining for step in MAIN_PATH)


def _committed_steps_kept(history: list[Step], logged: list[dict[str, Any]]) -> None:
    """Every step the child saw returned is in the stored history, in order."""
    stored = iter((s.event, str(s.dest)) for s in history)
    for entry in logged:
        for step in entry["steps"]:
            assert tuple(step) in stored, f"{entry['op']} returned but {step} is not stored"


def _restart_and_check(url: str, work: Path) -> dict[str, int]:
    clock = FakeClock()
    s = fast_settings()
    clock.advance(s.delivery_lease + timedelta(seconds=1))  # claims of the dead child lapse
    mailer, sms = MemoryMailer(), MemorySms()
    with SqlStore(url) as store:
        svc = ActivationService(store=store, mailer=mailer, sms=sms,
                                directory=StaticDirectory(people()), clock=clock, settings=s)
        while svc.dispatch():
            pass
        logged = _lines(work / "progress.jsonl")
        activations = store.list_activations()
        if logged:
            assert {e["aid"] for e in logged} <= {a.id for a in activations}
        child_sent = Counter(line["id"] for line in _lines(work / "mail.jsonl") + _lines(
            work / "sms.jsonl"))
        parent_sent = Counter([m.message_id for m in mailer.sent] + [m.message_id for m in sms.sent])
        duplicates = 0
        for a in activations:
            assert a.state in State
            history = store.steps(a.id, 0, 10**6)
            assert len(history) == a.step_count
            _check_history(a, history)
            _committed_steps_kept(history, [e for e in logged if e["aid"] == a.id])
            trail = store.audit_trail(a.id)
            assert verify(svc.keys, trail) == []
            assert len(trail) == a.audit_seq
            assert trail[-1].hash == a.audit_head
            assert a.sms_attempts <= s.max_sms_attempts
            for m in store.outbox_of(a.id):
                assert m.status in (Delivery.SENT, Delivery.DROPPED), m
                total = child_sent[m.id] + parent_sent[m.id]
                if m.status == Delivery.SENT:
                    assert m.payload == b""
                    assert 1 <= total <= 2  # at least once; twice only across the crash
                    assert parent_sent[m.id] <= 1
                    duplicates += total - 1
            current = [m for m in store.outbox_of(a.id)
                       if (m.kind, m.generation) in ((MessageKind.ACTIVATION_EMAIL, a.email_generation),
                                                     (MessageKind.SMS_CODE, a.sms_generation))]
            if a.state in (State.REQUESTED, State.EMAILED, State.SCANNED):
                assert any(m.status == Delivery.SENT for m in current), "a due message was lost"
            assert svc.status(a.id).state == a.state
        known = {m.id for a in activations for m in store.outbox_of(a.id)}
        assert set(child_sent) | set(parent_sent) <= known
    return {"activations": len(activations), "duplicates": duplicates}


def _examples(backend: str) -> int:
    return 30 if backend == "sqlite" else 15


def test_a_process_killed_anywhere_loses_nothing_committed(fresh: Callable[[], Any],
                                                           request: pytest.FixtureRequest) -> None:
    """SIGKILL at a point Hypothesis picks; restart + dispatch completes what was committed."""
    backend = request.node.callspec.params["fresh"]
    total = _total_points(backend, fresh)
    assert total > 50
    seen: Counter[str] = Counter()

    @settings(max_examples=_examples(backend), deadline=None, derandomize=False,
              suppress_health_check=[HealthCheck.too_slow])
    @given(kill_at=st.integers(1, total))
    def crash_at(kill_at: int) -> None:
        with fresh() as url, tempfile.TemporaryDirectory() as tmp:
            assert _run_child(url, kill_at, Path(tmp)) == -signal.SIGKILL
            figures = _restart_and_check(url, Path(tmp))
            seen["examples"] += 1
            seen["duplicates"] += figures["duplicates"]
            seen["no activation yet"] += figures["activations"] == 0

    crash_at()
    print(f"\n[figures] crash points ({backend}): {total} per run, {dict(seen)}")


def test_a_run_that_is_not_killed_completes(fresh: Callable[[], Any]) -> None:
    """The child's flow, never killed, ends active and its restart finds nothing to redo."""
    with fresh() as url, tempfile.TemporaryDirectory() as tmp:
        assert _run_child(url, 0, Path(tmp)) == 0
        figures = _restart_and_check(url, Path(tmp))
        assert figures == {"activations": 1, "duplicates": 0}
        with SqlStore(url) as store:
            (a,) = store.list_activations()
            assert a.state == State.ACTIVE
