"""Outbox claims: one message per claim against one batch per claim, and the memory store's claim
with few and with many messages already sent, each against the way it worked before.

Delivery: `count` queued events are drained to a sink that accepts at once, by today's
dispatcher (a claim per message) and by the batch claim it replaced, side by side on SQLite
and in memory. Claim: the cost of one `MemoryStore.claim_outbox` with 10 and with `done`
messages already sent, today's (pending messages kept sorted) against the full scan before.
"""

from __future__ import annotations

import gc
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from adapters.memory import MemorySink, MemoryStore
from adapters.sql import SqlStore
from benchmarks.common import Figure, Result, Target, interleave, main
from workflow.domain import AuditEvent, Change, Channel, Delivery, MessageKind, OutboxMessage
from workflow.events import DomainEvent, from_audit
from workflow.feed import deliver_event, is_event
from workflow.outbox import Dispatcher
from workflow.security import Keyring
from workflow.settings import Settings
from workflow.templates import FRENCH

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)
SETTINGS = Settings(secret_key="bench-key-" + "b" * 32)


class BatchDispatcher(Dispatcher):
    """The dispatcher before: one claim of `limit` messages, one lease for the whole batch."""

    def dispatch(self, limit: int = 100) -> int:
        claimed = self.store.claim_outbox(self.now(), limit, self.settings.delivery_lease)
        events = sorted(filter(is_event, claimed), key=lambda m: (m.activation_id, m.generation))
        sent = sum(self._deliver(m) for m in claimed if not is_event(m))
        return sent + sum(deliver_event(self.store, self.sink, self.settings, self.now(), m)
                          for m in events)


class ScanningStore(MemoryStore):
    """`MemoryStore` with the claim of before: every message ever queued scanned at each claim."""

    def claim_outbox(self, now: datetime, limit: int, lease: timedelta) -> list[OutboxMessage]:
        with self._lock:
            due = sorted((m for m in self._outbox.values()
                          if m.status == Delivery.PENDING and m.due_at <= now
                          and (m.claimed_until is None or m.claimed_until <= now)),
                         key=lambda m: (m.due_at, m.created_at))[:limit]
            for m in due:
                m.claimed_until = now + lease
            return [replace(m) for m in due]


def _event(n: int, status: Delivery = Delivery.PENDING) -> OutboxMessage:
    record = AuditEvent(f"a{n}", "subject", 2, T0, "app", "scan", "ok", "", "emailed", "scanned",
                        "prev", "hash", 2)
    event = from_audit(record)
    assert event is not None
    return OutboxMessage(f"m{n:07d}", f"a{n}", MessageKind.DOMAIN_EVENT, Channel.EVENTS, 2,
                         event.to_json().encode(), T0, T0, status=status)


class SlowSink(MemorySink):
    """A receiver that takes `seconds` to answer each event (a benchmark's stand-in for the network)."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def publish(self, event: DomainEvent) -> None:
        if self.seconds:
            time.sleep(self.seconds)
        super().publish(event)


def _drain(store: Any, batch: bool, count: int, answer: float = 0.0) -> float:
    """Messages per second delivering `count` queued events through `store` to a receiver that
    takes `answer` seconds."""
    store.commit(Change(outbox=tuple(_event(n) for n in range(count))))
    kind = BatchDispatcher if batch else Dispatcher
    sink = SlowSink(answer)
    dispatcher = kind(store=store, keys=Keyring(SETTINGS), templates=FRENCH, settings=SETTINGS,
                      now=lambda: T0, mailer=None, sms=None, flows=None,  # type: ignore[arg-type]
                      sink=sink)
    start = time.perf_counter()
    while dispatcher.dispatch(100):
        pass
    took = time.perf_counter() - start
    assert len(sink.events) == count
    close = getattr(store, "close", None)
    if close is not None:
        close()
    return count / took


def _claim_us(store: MemoryStore, done: int, claims: int = 200) -> float:
    """µs per claim of one message, then its commit as sent, with `done` messages sent before
    and `claims` pending."""
    store.commit(Change(outbox=tuple(_event(n, Delivery.SENT) for n in range(done))))
    store.commit(Change(outbox=tuple(_event(done + n) for n in range(claims))))
    gc.collect()
    gc.disable()  # as timeit does: a collection of the messages made above is not the claim's cost
    try:
        start = time.perf_counter()
        for _ in range(claims):
            (claimed,) = store.claim_outbox(T0, 1, LEASE)
            store.commit(Change(outbox=(replace(claimed, status=Delivery.SENT, claimed_until=None),)))
        return (time.perf_counter() - start) / claims * 1e6
    finally:
        gc.enable()


def run(quick: bool = False, count: int | None = None, done: int | None = None,
        rounds: int | None = None, folder: str | None = None) -> Result:
    """Events per second by claim per message and by batch; µs per memory claim, few and many sent."""
    count = int(count or (60 if quick else 2000))
    slow = max(5, count // 8)
    done = int(done or (1000 if quick else 100_000))
    rounds = int(rounds or (1 if quick else 5))
    with tempfile.TemporaryDirectory(prefix="ecps-claims-", dir=folder) as tmp:
        made = iter(range(10**6))

        def sqlite() -> SqlStore:
            return SqlStore(f"sqlite:///{Path(tmp) / f'claims-{next(made)}.db'}")

        rates = interleave({
            "SQLite, claim per message (now)": lambda _: _drain(sqlite(), False, count),
            "SQLite, one batch per claim (before)": lambda _: _drain(sqlite(), True, count),
            "SQLite, 5 ms receiver, claim per message (now)":
                lambda _: _drain(sqlite(), False, slow, 0.005),
            "SQLite, 5 ms receiver, one batch per claim (before)":
                lambda _: _drain(sqlite(), True, slow, 0.005),
            "memory, claim per message (now)": lambda _: _drain(MemoryStore(), False, count),
            "memory, one batch per claim (before)": lambda _: _drain(MemoryStore(), True, count),
        }, rounds)
    claims = interleave({
        "memory claim, 10 sent (now)": lambda _: _claim_us(MemoryStore(), 10),
        f"memory claim, {done:,} sent (now)": lambda _: _claim_us(MemoryStore(), done),
        "memory claim, 10 sent (before: full scan)": lambda _: _claim_us(ScanningStore(), 10),
        f"memory claim, {done:,} sent (before: full scan)": lambda _: _claim_us(ScanningStore(), done),
    }, rounds)
    figures = ([Figure(f"delivery, {name}", r, "events/s") for name, r in rates.items()]
               + [Figure(name, us, "µs") for name, us in claims.items()])
    sqlite_ratio = (rates["SQLite, 5 ms receiver, claim per message (now)"]
                    / rates["SQLite, 5 ms receiver, one batch per claim (before)"])
    instant = rates["SQLite, claim per message (now)"] / rates["SQLite, one batch per claim (before)"]
    growth = claims[f"memory claim, {done:,} sent (now)"] / claims["memory claim, 10 sent (now)"]
    return Result(
        "outbox_claims", "claiming each message before its delivery, against one batch per claim",
        figures=tuple(figures),
        targets=(Target("SQLite events/s to a 5 ms receiver, per message / batch", sqlite_ratio, 0.8,
                        at_most=False),
                 Target(f"memory claim, {done:,} / 10 sent", growth, 2.0, at_most=True)),
        notes=(f"{count} events per delivery variant and round to a receiver that answers at once "
               f"({slow} to one that takes 5 ms); median of {rounds} interleaved rounds",
               f"to an instant receiver a claim per message delivers {instant:.2f}x the events/s of a "
               "batch on SQLite: one more write transaction per message, the price of a lease that "
               "covers each message's own delivery"),
        params={"count": count, "done": done, "rounds": rounds},
    )


if __name__ == "__main__":
    raise SystemExit(main(run, options=(
        ("--count", "events per delivery variant and round"),
        ("--done", "messages already sent in the memory claim"),
        ("--rounds", "interleaved rounds"),
        ("--folder", "where the SQLite files go (default: the temporary folder)"))))
