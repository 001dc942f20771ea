"""The outbox: activation e-mails delivered per second and per CPU second, and a sustained request rate.

Delivery: activations are requested (untimed), then the dispatcher drains their e-mails in
batches to a recording mailer (and, for scale, to the `.eml` files `ecps serve` writes); the
QR code of today and that of `qrcode.make` (before) run side by side. Sustained: a producer
thread requests at a fixed rate for a fixed time while the dispatcher loop runs in its own
thread, as in the server, on SQLite; the backlog (requested minus e-mailed) is sampled each
second. Bounded in count and time.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from adapters.files import FileMailer
from adapters.memory import MemoryMailer, MemoryStore
from adapters.sql import SqlStore
from benchmarks.common import Figure, Result, Target, identifiers, main, median, service
from benchmarks.qr_code import qrcode_make
from workflow import ActivationService, qr
from workflow.outbox import DispatchLoop

TARGET_PER_CPU_SECOND = 300.0
OPTIONS = ("folder",)


@contextmanager
def qr_drawn_by(draw: Callable[[str], bytes] | None) -> Iterator[None]:
    """Within the block, e-mails draw their QR code with `draw` (None: today's `workflow.qr`)."""
    if draw is None:
        yield
        return
    kept = qr.qr_png
    setattr(qr, "qr_png", draw)  # noqa: B010 (the module's function, swapped for the block)
    try:
        yield
    finally:
        setattr(qr, "qr_png", kept)  # noqa: B010


class Bench:
    """Fresh services over SQLite files in one folder (or memory), each knowing its own identifiers."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.made = 0
        self.next_id = 9_000_000

    def service(self, kind: str, count: int) -> tuple[ActivationService, MemoryMailer, list[str]]:
        """A service over a new `kind` store ("sqlite" or "memory") and `count` new identifiers."""
        ids = identifiers(count, start=self.next_id)
        self.next_id += count
        self.made += 1
        store: Any = (MemoryStore() if kind == "memory"
                      else SqlStore(f"sqlite:///{self.folder / f'outbox-{self.made}.db'}"))
        svc = service(store, ids)
        mailer = svc.dispatcher.mailer
        assert isinstance(mailer, MemoryMailer)
        return svc, mailer, ids

    def files(self) -> FileMailer:
        """A `FileMailer` (the one `ecps serve` ships) writing to a new folder."""
        return FileMailer(self.folder / f"mail-{self.made}")


def drain(bench: Bench, kind: str, count: int, draw: Callable[[str], bytes] | None,
          limit: int = 100, files: bool = False) -> tuple[float, float]:
    """(wall, CPU) seconds to deliver `count` queued activation e-mails in batches of `limit`.

    The e-mails go to a recording mailer, or with `files` to the `.eml` files of a `FileMailer`.
    """
    svc, mailer, ids = bench.service(kind, count)
    written = bench.files()
    if files:
        svc.dispatcher.mailer = written
    for nid in ids:
        svc.request(nid)
    with qr_drawn_by(draw):
        start, start_cpu = time.perf_counter(), time.thread_time()
        while svc.dispatch(limit):
            pass
        wall, cpu = time.perf_counter() - start, time.thread_time() - start_cpu
    delivered = len(list(written.folder.glob("*.eml"))) if files else len(mailer.sent)
    assert delivered == count, (delivered, count)
    close = getattr(svc.store, "close", None)
    if close is not None:
        close()
    return wall, cpu


def delivery(bench: Bench, count: int, before_count: int, rounds: int) -> dict[str, tuple[float, float]]:
    """Per variant: median (e-mails per wall second, CPU ms per e-mail), interleaved rounds."""
    variants: dict[str, tuple[str, int, Callable[[str], bytes] | None, bool]] = {
        "SQLite, QR now": ("sqlite", count, None, False),
        "SQLite, qrcode.make QR (before)": ("sqlite", before_count, qrcode_make, False),
        "memory store, QR now": ("memory", count, None, False),
        "SQLite, QR now, .eml files (FileMailer)": ("sqlite", count, None, True),
    }
    seen: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, (kind, n, draw, files) in variants.items():
            wall, cpu = drain(bench, kind, n, draw, files=files)
            seen[name].append((n / wall, cpu / n * 1000))
    return {name: (median([r for r, _ in v]), median([c for _, c in v])) for name, v in seen.items()}


class Sustained:
    """A producer requesting at `rate` per second for `seconds` while a dispatcher drains the outbox."""

    def __init__(self, svc: ActivationService, mailer: MemoryMailer, ids: list[str], rate: float,
                 seconds: float) -> None:
        self.svc, self.mailer, self.ids = svc, mailer, ids
        self.rate, self.seconds = rate, seconds
        self.requested = 0
        self.backlog: list[int] = []  # requested minus e-mailed, once a second

    def produce(self) -> float:
        """Request at the paced rate until `seconds` pass; returns the seconds taken."""
        start = time.perf_counter()
        next_sample = start + 1.0
        for i, nid in enumerate(self.ids):
            due = start + i / self.rate
            now = time.perf_counter()
            if due - start >= self.seconds:
                break
            if due > now:
                time.sleep(due - now)
            self.svc.request(nid)
            self.requested += 1
            if time.perf_counter() >= next_sample:
                self.backlog.append(self.requested - len(self.mailer.sent))
                next_sample += 1.0
        return time.perf_counter() - start

    def drained_after(self, limit: float) -> float:
        """Seconds until every requested e-mail left (or `limit`, then what is left counts)."""
        start = time.perf_counter()
        while len(self.mailer.sent) < self.requested and time.perf_counter() - start < limit:
            time.sleep(0.01)
        return time.perf_counter() - start


def sustained(bench: Bench, rate: float, seconds: float, before: bool) -> dict[str, float]:
    """Run the producer and a dispatcher thread (today's loop, or the fixed 1 s pause of before)."""
    svc, mailer, ids = bench.service("sqlite", int(rate * seconds) + 1)
    load = Sustained(svc, mailer, ids, rate, seconds)
    stop = threading.Event()
    pump = DispatchLoop(svc.dispatch, svc.expire_due, longest_pause=1.0)

    def before_loop() -> None:  # what the server's thread did: a round, then one second
        while not stop.is_set():
            svc.dispatch()
            svc.expire_due()
            stop.wait(1.0)

    if not before:
        svc.listeners.add(pump.wake)
    worker = threading.Thread(target=before_loop if before else pump.run, name="dispatcher")
    cpu0 = time.process_time()
    with qr_drawn_by(qrcode_make if before else None):
        worker.start()
        took = load.produce()
        drain = load.drained_after(10.0)
        cpu = time.process_time() - cpu0
        stop.set()
        pump.stop()
        worker.join(60)
    late = load.backlog[len(load.backlog) // 2:] or [0]
    return {"rate": load.requested / took, "requested": load.requested,
            "sent": len(mailer.sent), "max": max(load.backlog or [0]), "late max": max(late),
            "end": load.backlog[-1] if load.backlog else 0, "drain": drain,
            "cpu share": cpu / (took + drain), "seconds": took}


def run(quick: bool = False, folder: str | None = None, count: int | None = None,
        rounds: int | None = None, rate: float | None = None, seconds: float | None = None,
        before_seconds: float | None = None) -> Result:
    """Delivery rate and CPU per activation e-mail, then the outbox under a sustained request rate."""
    count = int(count or (30 if quick else 600))
    before_count = max(5, count // 6)
    rounds = int(rounds or (1 if quick else 5))
    rate = float(rate or (50 if quick else 200))
    seconds = float(seconds or (2 if quick else 60))
    before_seconds = float(before_seconds or (2 if quick else 20))
    with tempfile.TemporaryDirectory(prefix="ecps-outbox-", dir=folder) as tmp:
        bench = Bench(Path(tmp))
        rates = delivery(bench, count, before_count, rounds)
        now = sustained(bench, rate, seconds, before=False)
        then = sustained(bench, rate, before_seconds, before=True)
    per_cpu = {name: 1000 / ms for name, (_, ms) in rates.items()}
    figures = [Figure(f"delivery, {name}", r, "e-mails/s",
                      f"CPU {ms:.2f} ms per e-mail = {per_cpu[name]:.0f} per CPU second")
               for name, (r, ms) in rates.items()]
    for label, s in (("now", now), ("before: qrcode.make, 1 s pause", then)):
        figures += [
            Figure(f"sustained ({label}): requests/s achieved", s["rate"], "/s",
                   f"{s['requested']:.0f} requests in {s['seconds']:.0f} s, {s['sent']:.0f} e-mailed"),
            Figure(f"sustained ({label}): backlog max", s["max"], "messages",
                   f"second half max {s['late max']:.0f}, last sample {s['end']:.0f}"),
            Figure(f"sustained ({label}): drained after the producer stopped", s["drain"], "s",
                   f"process CPU {s['cpu share']:.0%} of one core"),
        ]
    sqlite_now = rates["SQLite, QR now"]
    return Result(
        "outbox", "activation e-mails delivered per (CPU) second, and a sustained request rate",
        figures=tuple(figures),
        targets=(Target("e-mails per CPU second, SQLite", 1000 / sqlite_now[1], TARGET_PER_CPU_SECOND,
                        at_most=False, unit="/s"),
                 Target("now / before, e-mails per CPU second",
                        per_cpu["SQLite, QR now"] / per_cpu["SQLite, qrcode.make QR (before)"], 3.0,
                        at_most=False),
                 Target(f"backlog, 2nd half max at {rate:.0f} req/s", now["late max"], rate,
                        at_most=True, unit=" msgs")),
        notes=(f"delivery: {count} e-mails per variant and round ({before_count} before), batches "
               f"of 100, median of {rounds} interleaved rounds; CPU is the draining thread's",
               f"sustained: {rate:.0f} requests/s for {seconds:.0f} s (before: {before_seconds:.0f} s) "
               "on SQLite, producer and dispatcher threads in one process (one GIL, as the server)"),
        params={"count": count, "rounds": rounds, "rate": rate, "seconds": seconds,
                "before_seconds": before_seconds},
    )


if __name__ == "__main__":
    raise SystemExit(main(run, options=(
        ("--folder", "where the SQLite files go (default: the temporary folder)"),
        ("--count", "e-mails per delivery variant and round"), ("--rounds", "interleaved rounds"),
        ("--rate", "requests per second of the sustained run"),
        ("--seconds", "length of the sustained run"),
        ("--before-seconds", "length of the sustained run with the old dispatcher"))))
