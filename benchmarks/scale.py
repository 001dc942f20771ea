"""Scale: per-event latency and resident memory with few and with many stored activations (SQLite).

Both databases hold active activations in `SqlStore`'s own schema, each with its audit trail
and its delivered outbox rows, written fast with `executemany` from one real activation's rows.
The big database is kept in the temporary folder between runs (keyed by the schema), and each
measurement runs in a fresh process so that its resident memory is its own.
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import queue
import secrets
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import (
    FLOW,
    Figure,
    Result,
    Target,
    flow,
    identifiers,
    main,
    median,
    rss_kib,
    service,
)
from workflow.seal import seal_of
from workflow.testing.clock import DEFAULT_START

OPTIONS = ("folder",)
BATCH = 50_000


def _url(path: Path) -> str:
    return f"sqlite:///{path}"


def schema_signature(folder: Path) -> str:
    """A short hash of the tables `SqlStore` creates (a cached database must match it)."""
    from adapters.sql import SqlStore

    probe = folder / f"probe-{secrets.token_hex(4)}.sqlite3"
    store = SqlStore(_url(probe))
    store.ensure_schema()
    store.close()
    with sqlite3.connect(probe) as db:
        sql = sorted(str(r[0]) for r in db.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL"))
    db.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{probe}{suffix}").unlink(missing_ok=True)
    return hashlib.sha256("\n".join(sql).encode()).hexdigest()[:12]


def _template(path: Path) -> tuple[dict[str, list[sqlite3.Row]], Callable[[str, str, datetime], str]]:
    """One real activation (request to first login) and its rows, written through the service;
    and how to seal a copy of it under another id, subject and creation time."""
    from adapters.sql import SqlStore

    store = SqlStore(_url(path))
    nid = identifiers(1, start=3_000_000)
    svc = service(store, nid)
    aid = flow(svc, nid[0], [0.0] * len(FLOW))
    template = store.get(aid)
    assert template is not None
    store.close()

    def seal(copy_id: str, subject: str, created_at: datetime) -> str:
        return seal_of(svc.keys, replace(template, id=copy_id, subject=subject, created_at=created_at))
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    rows = {table: list(db.execute(f"SELECT * FROM {table} WHERE {key} = ?", (aid,)))
            for table, key in (("ecps_activation", "id"), ("ecps_audit", "activation_id"),
                               ("ecps_outbox", "activation_id"))}
    for table, key in (("ecps_activation", "id"), ("ecps_audit", "activation_id"),
                       ("ecps_outbox", "activation_id")):
        db.execute(f"DELETE FROM {table} WHERE {key} = ?", (aid,))
    db.commit()
    db.close()
    return rows, seal


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def populate(path: Path, count: int) -> float:
    """Fill a new database at `path` with `count` active activations; returns seconds taken."""
    started = time.perf_counter()
    rows, seal = _template(path)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = OFF")
    indexes = [str(r[0]) for r in db.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        "AND tbl_name IN ('ecps_activation', 'ecps_audit', 'ecps_outbox')")]
    names = [str(r[0]) for r in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        "AND tbl_name IN ('ecps_activation', 'ecps_audit', 'ecps_outbox')")]
    for name in names:
        db.execute(f"DROP INDEX {name}")
    start = DEFAULT_START - timedelta(days=400)
    step = timedelta(days=390) / max(count, 1)

    def fill(table: str, template: list[sqlite3.Row], change: Any) -> None:
        columns = list(template[0].keys())
        insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        for first in range(0, count, BATCH):
            batch = []
            for i in range(first, min(count, first + BATCH)):
                for row in template:
                    values = dict(zip(columns, tuple(row), strict=True))
                    change(values, i)
                    batch.append(tuple(values[c] for c in columns))
            db.execute("BEGIN")
            db.executemany(insert, batch)
            db.execute("COMMIT")

    def activation(values: dict[str, Any], i: int) -> None:
        created = start + step * i
        values.update(id=f"pop{i:09d}", subject=f"{i:032x}", created_at=_stamp(created),
                      seal=seal(f"pop{i:09d}", f"{i:032x}", created))

    def owned(values: dict[str, Any], i: int) -> None:
        values.update(activation_id=f"pop{i:09d}")
        if "subject" in values:
            values["subject"] = f"{i:032x}"
        if "n" in values:
            values["n"] = None
        if "id" in values:  # an outbox message, delivered long ago
            values.update(id=secrets.token_hex(16), status="sent", payload=b"", claimed_until=None)

    fill("ecps_activation", rows["ecps_activation"], activation)
    fill("ecps_audit", rows["ecps_audit"], owned)
    if rows["ecps_outbox"]:
        fill("ecps_outbox", rows["ecps_outbox"], owned)
    for sql in indexes:
        db.execute(sql)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return time.perf_counter() - started


def database(folder: Path, count: int, cache: bool) -> tuple[Path, float]:
    """A database of `count` activations: the cached one when it exists, else a new one."""
    name = f"ecps-bench-scale-{count}-{schema_signature(folder)}.sqlite3"
    path = folder / name
    if cache and path.exists():
        return path, 0.0
    partial = folder / f"{name}.partial"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{partial}{suffix}").unlink(missing_ok=True)
    seconds = populate(partial, count)
    partial.rename(path)
    return path, seconds


def _measure(path: str, flows: int, reads: int, stored: int, first_id: int, out: Any) -> None:
    """In a fresh process: latency of whole flows and of random reads; resident memory."""
    from adapters.sql import SqlStore

    store = SqlStore(_url(Path(path)))
    ids = identifiers(flows + 5, start=first_id)
    svc = service(store, ids)
    made = [flow(svc, nid, [0.0] * len(FLOW)) for nid in ids[:5]]  # warm up
    rss_before = rss_kib()
    per_event: list[float] = []
    for nid in ids[5:]:
        spent = [0.0] * len(FLOW)
        made.append(flow(svc, nid, spent))
        per_event.extend(spent)
    picks = [f"pop{secrets.randbelow(stored):09d}" for _ in range(reads)]
    start = time.perf_counter()
    for aid in picks:
        svc.status(aid)
    read_s = (time.perf_counter() - start) / max(reads, 1)
    rss_after = rss_kib()
    store.close()
    with sqlite3.connect(path) as db:  # leave the (cached) database as it was
        for table, key in (("ecps_activation", "id"), ("ecps_audit", "activation_id"),
                           ("ecps_outbox", "activation_id")):
            db.executemany(f"DELETE FROM {table} WHERE {key} = ?", [(a,) for a in made])
    db.close()
    per_event.sort()
    out.put({"mean": sum(per_event) / len(per_event), "p50": per_event[len(per_event) // 2],
             "p99": per_event[min(len(per_event) - 1, int(len(per_event) * 0.99))],
             "read": read_s, "rss_before": rss_before, "rss_after": rss_after})


def measure(path: Path, flows: int, reads: int, stored: int, first_id: int) -> dict[str, float]:
    """`_measure` in a child process."""
    ctx: Any = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    out = ctx.Queue()
    child = ctx.Process(target=_measure, args=(str(path), flows, reads, stored, first_id, out))
    child.start()
    while True:  # a child that died answers nothing: do not wait for it
        try:
            found: dict[str, float] = out.get(timeout=1)
            break
        except queue.Empty:
            if not child.is_alive():
                raise RuntimeError(f"the measuring process died (exit code {child.exitcode})") from None
    child.join(timeout=60)
    if child.exitcode != 0:
        raise RuntimeError(f"the measuring process exited with code {child.exitcode}")
    return found


def run(quick: bool = False, small: int | None = None, big: int | None = None,
        flows: int | None = None, rounds: int | None = None, folder: str | None = None,
        cache: bool = True) -> Result:
    """Per-event latency and memory with few and with many stored activations on SQLite."""
    small = small or 1_000
    big = big or (20_000 if quick else 1_000_000)
    flows = flows or (10 if quick else 150)
    rounds = rounds or (1 if quick else 3)
    reads = 50 if quick else 2000
    base = Path(folder or os.environ.get("ECPS_BENCH_CACHE") or tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ecps-bench-", dir=base) as tmp:
        small_path, small_s = database(Path(tmp), small, cache=False)
        big_path, big_s = database(base, big, cache=cache)
        seen: dict[str, list[dict[str, float]]] = {"small": [], "big": []}
        next_id = 4_000_000
        for _ in range(rounds):
            for label, path, stored in (("small", small_path, small), ("big", big_path, big)):
                seen[label].append(measure(path, flows, reads, stored, next_id))
                next_id += flows + 5
        size = sum(Path(f"{big_path}{s}").stat().st_size for s in ("", "-wal")
                   if Path(f"{big_path}{s}").exists())

    def med(label: str, key: str) -> float:
        return median([m[key] for m in seen[label]])

    figures = [
        Figure(f"{small:,} stored: event latency, mean", med("small", "mean") * 1e6, "µs"),
        Figure(f"{small:,} stored: p50 / p99", med("small", "p50") * 1e6, "µs",
               f"p99 {med('small', 'p99') * 1e6:,.0f} µs"),
        Figure(f"{big:,} stored: event latency, mean", med("big", "mean") * 1e6, "µs"),
        Figure(f"{big:,} stored: p50 / p99", med("big", "p50") * 1e6, "µs",
               f"p99 {med('big', 'p99') * 1e6:,.0f} µs"),
        Figure(f"{small:,} stored: status of a random one", med("small", "read") * 1e6, "µs"),
        Figure(f"{big:,} stored: status of a random one", med("big", "read") * 1e6, "µs"),
        Figure(f"{small:,} stored: resident memory", med("small", "rss_after") / 1024, "MiB",
               f"{med('small', 'rss_before') / 1024:.1f} MiB before the measured events"),
        Figure(f"{big:,} stored: resident memory", med("big", "rss_after") / 1024, "MiB",
               f"{med('big', 'rss_before') / 1024:.1f} MiB before the measured events"),
        Figure(f"{big:,} stored: database size", size / 2**20, "MiB"),
        Figure(f"{big:,} stored: time to populate", big_s, "s",
               "0 when the cached database was reused"),
    ]
    targets = [
        Target("event latency, many / few", med("big", "mean") / med("small", "mean"), 1.5,
               at_most=True),
        Target("resident memory, many / few", med("big", "rss_after") / med("small", "rss_after"),
               1.25, at_most=True),
    ]
    notes = (f"{rounds} rounds of {flows} activations (6 events each) at each size, each in a fresh "
             "process; every stored activation is active with its audit trail and outbox rows",
             f"the big database is cached in {base} between runs; small_populate={small_s:.1f}s")
    return Result("scale", "few against many stored activations (SQLite)", tuple(figures),
                  tuple(targets), notes,
                  params={"small": small, "big": big, "flows": flows, "rounds": rounds, "quick": quick})


if __name__ == "__main__":
    raise SystemExit(main(run, options=[("--folder", "where the big database is cached")]))
