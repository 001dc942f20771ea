"""The dispatch loop: batches back to back while they send, pauses only on an empty outbox."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

import pytest
from fastapi.testclient import TestClient

from adapters.api import create_app
from adapters.memory import MemoryMailer
from tests.conftest import NID, memory_service
from workflow.outbox import FIRST_PAUSE, DispatchLoop
from workflow.testing import FakeClock


class Script:
    """A dispatch that returns the scripted counts, then stops its loop; records the expiries."""

    def __init__(self, counts: Iterable[int]) -> None:
        self.counts = list(counts)
        self.loop: DispatchLoop | None = None
        self.expiries = 0

    def dispatch(self) -> int:
        assert self.loop is not None
        if len(self.counts) == 1:
            self.loop.stop()
        return self.counts.pop(0)

    def expire(self) -> int:
        self.expiries += 1
        return 1


class Ticking(DispatchLoop):
    """A loop on a fake monotonic clock whose pauses are recorded (and pass on that clock)."""

    def __init__(self, script: Script, *, each_round: float = 0.0, **options: float) -> None:
        self.now = 0.0
        self.each_round = each_round
        self.pauses: list[tuple[int, float]] = []  # (after round n, seconds)
        super().__init__(self._dispatch, script.expire, clock=lambda: self.now, **options)
        self.script = script
        script.loop = self

    def _dispatch(self) -> int:
        self.now += self.each_round
        return self.script.dispatch()

    def rest(self, seconds: float) -> None:
        self.pauses.append((self.done.rounds, seconds))
        self.now += seconds


def test_rounds_that_send_follow_each_other_without_a_pause() -> None:
    """Full batches run back to back; the first pause comes after the round that sent nothing."""
    loop = Ticking(Script([100, 100, 37, 0, 5]))
    done = loop.run()
    assert (done.sent, done.rounds) == (242, 5)
    assert loop.pauses == [(4, FIRST_PAUSE)]


def test_pauses_double_up_to_the_longest_and_start_again_after_a_send() -> None:
    """An idle outbox is polled after 0.01, 0.02, 0.04 s… at most `longest_pause`; a send resets."""
    loop = Ticking(Script([0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0]), longest_pause=0.5)
    loop.run()
    assert [s for _, s in loop.pauses] == pytest.approx(
        [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.5, 0.5, 0.01])
    assert [n for n, _ in loop.pauses] == [1, 2, 3, 4, 5, 6, 7, 8, 10]


def test_expiry_runs_when_idle_and_every_second_while_busy() -> None:
    """While every round sends (0.1 s each), expiry runs once a second; an empty round runs it too."""
    script = Script([10] * 25 + [0])
    loop = Ticking(script, each_round=0.1)
    done = loop.run()
    assert script.expiries == done.expired == 3 + 1  # at 0.1 s, 1.1 s, 2.1 s, then idle at 2.6 s


def test_a_duration_ends_the_loop_and_shortens_the_last_pause() -> None:
    """With `duration`, no pause reaches past its end and no round starts after it."""
    loop = Ticking(Script([0] * 100), longest_pause=1.0)
    done = loop.run(duration=2.0)
    assert sum(s for _, s in loop.pauses) == pytest.approx(2.0)
    assert done.rounds == len(loop.pauses) < 100


def test_a_failed_round_is_logged_and_paused_when_surviving(caplog: pytest.LogCaptureFixture) -> None:
    """The server's loop survives a broken round (logged, then a pause); the CLI's raises it."""
    calls = iter([-1, 4, 0])

    def dispatch() -> int:
        step = next(calls)
        if step < 0:
            raise RuntimeError("database gone")
        if step == 0:
            loop.stop()
        return step

    loop = DispatchLoop(dispatch, lambda: 0, first_pause=0.001)
    with caplog.at_level(logging.ERROR, "ecps.outbox"):
        done = loop.run(survive=True)
    assert (done.sent, done.rounds) == (4, 3)
    assert "dispatch round failed" in caplog.text
    with pytest.raises(ZeroDivisionError):
        DispatchLoop(lambda: 1 // 0, lambda: 0).run()


def test_wake_ends_a_long_pause() -> None:
    """A loop pausing for ten minutes runs its next round as soon as it is woken."""
    first = threading.Event()
    calls = []

    def dispatch() -> int:
        calls.append(1)
        if len(calls) == 1:
            first.set()
        else:
            loop.stop()
        return 0

    loop = DispatchLoop(dispatch, lambda: 0, first_pause=600, longest_pause=600)
    worker = threading.Thread(target=loop.run)
    worker.start()
    assert first.wait(60)
    loop.wake()
    worker.join(60)
    assert not worker.is_alive()
    assert loop.done.rounds == 2


def test_stop_ends_a_long_pause() -> None:
    """Stopping a loop in a ten-minute pause returns from `run` without another round."""
    paused = threading.Event()

    def dispatch() -> int:
        paused.set()
        return 0

    loop = DispatchLoop(dispatch, lambda: 0, first_pause=600)
    worker = threading.Thread(target=loop.run)
    worker.start()
    assert paused.wait(60)
    loop.stop()
    worker.join(60)
    assert not worker.is_alive()
    assert loop.done.rounds == 1


def test_the_server_listens_for_commits_only_while_it_runs(clock: FakeClock) -> None:
    """The app's dispatcher is hooked to the service's commits while it runs, and unhooked after."""
    mailer = MemoryMailer()
    svc = memory_service(clock, mailer=mailer)
    with TestClient(create_app(svc, dispatch_every=600)):
        assert len(svc.listeners) == 1
        svc.request(NID)
        deadline = time.monotonic() + 60
        while not mailer.sent:
            assert time.monotonic() < deadline, "the e-mail was never dispatched"
            time.sleep(0.01)
    assert len(svc.listeners) == 0
