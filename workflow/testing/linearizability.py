"""Linearizability mode: concurrent calls on one activation must end as SOME serial order of them would.

Threads fire a scenario's calls at one activation in the store under test; every call's result is
recorded; then serial orders that respect real time are replayed on a fresh reference store until
one gives the same results, history, counters, audit trail and outbox, or none does.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from hypothesis import strategies as st

from workflow.errors import TooManyRequests, VerificationFailed, WorkflowError
from workflow.messages import DirectoryEntry
from workflow.ports import Store
from workflow.results import StepResult
from workflow.service import ActivationService
from workflow.settings import Settings
from workflow.testing.clock import FakeClock
from workflow.testing.phone import code_from, payload_from
from workflow.testing.pins import driver_pins
from workflow.testing.recording import FixedDirectory, Inbox, close_store

StoreFactory = Callable[[], Store]
Closer = Callable[[Store], None]
COMPONENTS = ("state", "history", "counters", "attempts left", "closed reason", "audit", "outbox")
"""The parts of what a run leaves behind, in the order `_observe` gives them."""
SHRINKING_REPLAYS = 200
"""The search budget while Hypothesis shrinks a failure; the final example is searched in full."""
NATIONAL_ID = "899700366240"
PIN, OTHER_PIN, WEAK_PIN = "4821", "7395", "1234"  # at the default length (`_pins`)
PATH = ("emailed", "scanned", "sms_verified", "pin_set", "active")

OPS: dict[str, tuple[str, ...]] = {
    "emailed": ("scan:right", "scan:wrong", "resend_email", "cancel"),
    "scanned": ("verify_sms:right", "verify_sms:wrong", "verify_sms:malformed", "resend_sms",
                "cancel", "scan:right"),
    "sms_verified": ("set_pin:good", "set_pin:weak", "verify_sms:right", "cancel"),
    "pin_set": ("confirm_pin:right", "confirm_pin:wrong", "set_pin:good", "cancel"),
    "active": ("authenticate:right", "authenticate:wrong", "revoke", "cancel"),
}
"""The calls worth racing from each starting state; `event:arg` names a symbolic argument."""


def default_settings() -> Settings:
    """Fixed test settings with a cheap PIN hash."""
    return Settings(secret_key="linearizability-" + "k" * 32, argon2_memory_kib=64,
                    argon2_time_cost=1, argon2_parallelism=1)


@dataclass(frozen=True, slots=True)
class Scenario:
    """A starting state and, per thread, the calls that thread makes in order."""

    start: str
    threads: tuple[tuple[str, ...], ...]

    def __post_init__(self) -> None:
        if self.start not in PATH:
            raise ValueError(f"start must be one of {PATH}")
        unknown = {op for ops in self.threads for op in ops} - set(OPS_ALL)
        if unknown:
            raise ValueError(f"unknown operations: {sorted(unknown)}")

    @property
    def name(self) -> str:
        """The scenario in one line: the start state, then each thread's calls."""
        return f"from {self.start}: " + " | ".join(", ".join(ops) for ops in self.threads)

    def __repr__(self) -> str:
        return f"Scenario({self.start!r}, {self.threads!r})"


OPS_ALL = frozenset(op for ops in OPS.values() for op in ops)


@dataclass(frozen=True, slots=True)
class Record:
    """One call as it ran: which thread, when it started and ended, what it returned."""

    index: int
    thread: int
    op: str
    start: int
    end: int
    result: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a serial order explains what the concurrent run did, and the evidence."""

    ok: bool
    records: tuple[Record, ...]
    observed: tuple[object, ...]
    order: tuple[int, ...] = ()
    replays: int = 0
    gave_up: bool = False
    start: str = ""
    scenario: str = ""
    differences: tuple[tuple[tuple[int, ...], str], ...] = ()

    def explain(self) -> str:
        """The scenario, the start state, the calls with their results, and the serial order found.

        When none fits: for each serial order that respects real time, what differs from the run
        (a call's result, or the state, counters, history, audit or outbox it leaves).
        """
        verdict = "linearizable" if self.ok else "NO serial order found"
        if self.gave_up:
            verdict = "search gave up (raise max_replays)"
        lines = [f"scenario {self.scenario or '(unnamed)'}", f"{verdict} after {self.replays} replays",
                 f"  start state: {self.start or '?'}"]
        lines += [f"  #{r.index} thread {r.thread}: {r.op} -> {r.result}" for r in self.records]
        if self.ok:
            lines.append(f"  serial order: {', '.join(f'#{i}' for i in self.order)}")
        for order, why in self.differences:
            lines.append(f"  serial order {', '.join(f'#{i}' for i in order)}: {why}")
        lines.append("  observed: " + "; ".join(f"{n}={v}" for n, v in zip(COMPONENTS, self.observed,
                                                                         strict=False)))
        return "\n".join(lines)


def scenarios(max_threads: int = 4, max_calls: int = 6) -> st.SearchStrategy[Scenario]:
    """Scenarios of 2..`max_threads` threads and at most `max_calls` calls in all."""

    @st.composite
    def build(draw: st.DrawFn) -> Scenario:
        start = draw(st.sampled_from(PATH))
        n = draw(st.integers(2, max_threads))
        ops = st.sampled_from(OPS[start])
        budget, threads = max_calls, []
        for i in range(n):
            most = max(1, min(3, budget - (n - i - 1)))
            calls = draw(st.lists(ops, min_size=1, max_size=most))
            budget -= len(calls)
            threads.append(tuple(calls))
        return Scenario(start, tuple(threads))

    return build()


@dataclass
class _Env:
    service: ActivationService
    store: Store
    aid: str
    args: dict[str, str]


def _pins(length: int) -> tuple[str, str, str]:
    """(the PIN chosen, a wrong one, a weak one) of `length` digits."""
    if length == 4:
        return PIN, OTHER_PIN, WEAK_PIN
    return driver_pins(length)


def _prepare(store: Store, start: str, settings: Settings) -> _Env:
    """A service over `store` with one activation brought to `start`, cooldowns over."""
    clock, mail, phone = FakeClock(), Inbox(), Inbox()
    directory = FixedDirectory([DirectoryEntry(NATIONAL_ID, "jane.doe@domain.fr", "0612345678",
                                               "Dr Jane Doe")])
    svc = ActivationService(store=store, mailer=mail, sms=phone, directory=directory,
                            clock=clock, settings=settings)
    aid = svc.request(NATIONAL_ID, device_id="phone-1").activation_id
    svc.dispatch()
    payload = payload_from(mail.newest_email())
    cut = payload.index("&t=") + 3
    wrong_payload = payload[:cut] + ("B" if payload[cut] == "A" else "A") + payload[cut + 1:]
    pin, other, weak = _pins(settings.pin_length)
    args = {"scan:right": payload, "scan:wrong": wrong_payload, "set_pin:good": pin,
            "set_pin:weak": weak, "confirm_pin:right": pin, "confirm_pin:wrong": other,
            "authenticate:right": pin, "authenticate:wrong": other,
            "verify_sms:malformed": "12ab5x"}
    steps = PATH.index(start)
    if steps >= 1:
        svc.scan(aid, payload)
        svc.dispatch()
        code = code_from(phone.newest_sms(), settings.sms_code_digits)
        args["verify_sms:right"] = code
        args["verify_sms:wrong"] = code[:-1] + str((int(code[-1]) + 1) % 10)
    if steps >= 2:
        svc.verify_sms(aid, args["verify_sms:right"])
    if steps >= 3:
        svc.set_pin(aid, pin)
    if steps >= 4:
        svc.confirm_pin(aid, pin)
    clock.advance(settings.resend_cooldown + timedelta(seconds=1))
    return _Env(svc, store, aid, args)


def _call(env: _Env, op: str) -> str:
    """Run one symbolic call; its result as text (errors by kind and counted attempts)."""
    event = op.split(":", maxsplit=1)[0]
    method = getattr(env.service, event)
    args = (env.args[op],) if op in env.args else ()
    try:
        result = method(env.aid, *args)
    except WorkflowError as exc:
        extra = ""
        if isinstance(exc, VerificationFailed):
            extra = f" left={exc.attempts_left}"
        elif isinstance(exc, TooManyRequests):
            extra = f" retry={exc.retry_after}"
        return f"{type(exc).__name__}{extra}"
    except Exception as exc:
        return f"crash {type(exc).__name__}: {exc}"
    if isinstance(result, StepResult):
        return f"ok {result.state} via {'/'.join(s.event for s in result.steps)}"
    return f"ok {result}"


def _observe(env: _Env) -> tuple[object, ...]:
    """What a serial order must reproduce: state, history, counters, audit trail, outbox."""
    status = env.service.status(env.aid)
    history = tuple((s.event, s.source, s.dest) for s in status.history)
    audit = tuple((e.seq, e.action, e.outcome, e.reason, e.source, e.dest)
                  for e in env.store.audit_trail(env.aid))
    outbox = tuple(sorted((m.kind, m.generation, m.status) for m in env.store.outbox_of(env.aid)))
    counters = tuple(sorted(status.counters.items()))
    return (status.state, history, counters, status.attempts_left, status.closed_reason, audit, outbox)


def run_concurrently(store: Store, scenario: Scenario, settings: Settings) -> tuple[list[Record], _Env]:
    """Fire the scenario's threads at once on one activation in `store`."""
    env = _prepare(store, scenario.start, settings)
    barrier = threading.Barrier(len(scenario.threads))
    records: list[Record] = []
    lock = threading.Lock()
    numbered, n = [], 0
    for ops in scenario.threads:
        numbered.append([(n + i, op) for i, op in enumerate(ops)])
        n += len(ops)

    def worker(thread: int, calls: Sequence[tuple[int, str]]) -> None:
        barrier.wait()
        for index, op in calls:
            start = time.perf_counter_ns()
            result = _call(env, op)
            end = time.perf_counter_ns()
            with lock:
                records.append(Record(index, thread, op, start, end, result))

    workers = [threading.Thread(target=worker, args=(t, calls)) for t, calls in enumerate(numbered)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, so calls interleave inside the store
    try:
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    finally:
        sys.setswitchinterval(interval)
    return sorted(records, key=lambda r: r.index), env


_SERIAL: dict[tuple[object, ...], tuple[list[str], tuple[object, ...]]] = {}


def serial_run(start: str, ops: Sequence[str], reference: StoreFactory, settings: Settings,
               close: Closer = close_store) -> tuple[list[str], tuple[object, ...]]:
    """`ops` one after the other from `start` on a fresh reference store, remembered: a serial run is
    deterministic, so shrinking and the search replay each distinct order once."""
    key = (start, tuple(ops), reference, repr(settings))
    found = _SERIAL.get(key)
    if found is None:
        store = reference()
        try:
            env = _prepare(store, start, settings)
            found = ([_call(env, op) for op in ops], _observe(env))
        finally:
            close(store)
        if len(_SERIAL) > 50_000:
            _SERIAL.clear()
        _SERIAL[key] = found
    return found


def replay(start: str, ops: Sequence[str], reference: StoreFactory,
           settings: Settings | None = None) -> tuple[list[str], tuple[object, ...]]:
    """Run `ops` one after the other from `start` on a fresh store: each result, and the final view."""
    return serial_run(start, ops, reference, settings or default_settings())


def _difference(records: Sequence[Record], results: Sequence[str], final: tuple[object, ...],
                observed: tuple[object, ...]) -> str:
    """What a serial order gives that the run did not: the first call whose result differs, else the
    components of the final view that differ."""
    for r, got in zip(records, results, strict=True):
        if got != r.result:
            return f"#{r.index} {r.op} would give {got!r}, the run gave {r.result!r}"
    parts = [n for n, a, b in zip(COMPONENTS, final, observed, strict=False) if a != b]
    return "same results, but it leaves a different " + ", ".join(parts) + "".join(
        f"\n      {n}: serial {a}, observed {b}"
        for n, a, b in zip(COMPONENTS, final, observed, strict=False) if a != b)


def _orders(calls: Sequence[Record], most: int) -> list[list[Record]]:
    """Up to `most` serial orders of `calls` that respect real time."""
    found: list[list[Record]] = []

    def extend(prefix: list[Record], rest: list[Record]) -> None:
        if len(found) >= most:
            return
        if not rest:
            found.append(prefix)
            return
        for c in sorted(rest, key=lambda r: r.end):
            if not any(o.end < c.start for o in rest if o is not c):
                extend([*prefix, c], [o for o in rest if o is not c])

    extend([], list(calls))
    return found


def linearize(records: Sequence[Record], observed: tuple[object, ...], start: str, *,
              reference: StoreFactory, settings: Settings | None = None,
              max_replays: int = 5000, scenario: str = "", close: Closer = close_store,
              explain_orders: int = 12) -> Verdict:
    """Search a serial order of `records`, respecting real time, that gives their results and `observed`.

    A call that lost a race with `ConcurrencyConflict` must have changed nothing and is left out.
    When none fits, the verdict lists what differs for up to `explain_orders` serial orders.
    """
    settings = settings or default_settings()
    calls = [r for r in records if r.result != "ConcurrencyConflict"]
    replays, gave_up = 0, False

    def search(prefix: list[Record], rest: list[Record]) -> list[Record] | None:
        nonlocal replays, gave_up
        tried: set[tuple[str, str]] = set()
        for c in sorted(rest, key=lambda r: r.end):
            if any(o.end < c.start for o in rest if o is not c) or (c.op, c.result) in tried:
                continue  # something not yet placed finished before c began, or a twin was tried
            if replays >= max_replays:
                gave_up = True
                return None
            tried.add((c.op, c.result))
            replays += 1
            results, final = serial_run(start, [r.op for r in [*prefix, c]], reference, settings, close)
            if results[-1] != c.result:
                continue
            left = [o for o in rest if o is not c]
            if not left:
                if final == observed:
                    return [*prefix, c]
                continue
            found = search([*prefix, c], left)
            if found is not None:
                return found
        return None

    if calls:
        order = search([], calls)
    else:  # every call lost a race: nothing may have changed
        order = [] if serial_run(start, [], reference, settings, close)[1] == observed else None
    differences: list[tuple[tuple[int, ...], str]] = []
    if order is None and not gave_up:
        for serial in _orders(calls, explain_orders):
            results, final = serial_run(start, [r.op for r in serial], reference, settings, close)
            differences.append((tuple(r.index for r in serial),
                                _difference(serial, results, final, observed)))
    return Verdict(order is not None, tuple(records), observed,
                   tuple(r.index for r in order or ()), replays, gave_up, start, scenario,
                   tuple(differences))


def _budget(max_replays: int) -> int:
    """The full budget on the final (reported) example, a small one while Hypothesis explores and shrinks."""
    from hypothesis.control import current_build_context
    from hypothesis.errors import InvalidArgument

    try:
        final = current_build_context().is_final
    except InvalidArgument:  # not inside a Hypothesis test
        return max_replays
    if final:
        return max_replays
    return min(max_replays, SHRINKING_REPLAYS)


def check_linearizable(store: StoreFactory, scenario: Scenario, *, reference: StoreFactory,
                       settings: Settings | None = None, max_replays: int = 5000,
                       close_store: Closer = close_store) -> Verdict:
    """Run `scenario` on a store from `store`; search a serial order on stores from `reference`.

    Every store opened is closed with `close_store` (by default its `close()`, when it has one).
    Inside a Hypothesis test, only the final example gets the full search budget.
    """
    settings = settings or default_settings()
    tested = store()
    try:
        records, env = run_concurrently(tested, scenario, settings)
        observed = _observe(env)
    finally:
        close_store(tested)
    return linearize(records, observed, scenario.start, reference=reference, settings=settings,
                     max_replays=_budget(max_replays), scenario=scenario.name, close=close_store)


def assert_linearizable(store: StoreFactory, scenario: Scenario, *, reference: StoreFactory,
                        settings: Settings | None = None, close_store: Closer = close_store) -> Verdict:
    """`check_linearizable`, raising `AssertionError` with the evidence when no serial order fits."""
    verdict = check_linearizable(store, scenario, reference=reference, settings=settings,
                                 close_store=close_store)
    if not verdict.ok:
        raise AssertionError(verdict.explain())
    return verdict
