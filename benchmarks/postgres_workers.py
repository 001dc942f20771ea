"""PostgreSQL with 1, 2 and 4 worker processes: events/s through `SqlStore` against raw psycopg.

Each level runs, side by side, the engine's workers (whole activations on their own identifiers)
and raw psycopg workers doing the same number of single-row commits; then every engine worker
logs in concurrently on one shared pool of activations, and the run checks that the stored
histories count every login that succeeded: zero lost updates.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import secrets
import time
from collections import Counter
from multiprocessing.synchronize import Barrier
from typing import Any

from benchmarks.common import (
    FLOW,
    PIN,
    Figure,
    Result,
    Target,
    flow,
    identifiers,
    main,
    median,
    service,
)

OPTIONS = ("pg_url",)
DEFAULT_URL = os.environ.get("ECPS_BENCH_PG") or os.environ.get(
    "ECPS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
LEVELS = (1, 2, 4)


def _sqlalchemy_url(admin_url: str, schema: str) -> str:
    base = admin_url.replace("postgresql://", "postgresql+psycopg://", 1)
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}options=-csearch_path%3D{schema}"


def reachable(admin_url: str) -> str:
    """Why PostgreSQL at `admin_url` cannot be used ("" when it can)."""
    try:
        import psycopg

        with psycopg.connect(admin_url, connect_timeout=3):
            return ""
    except Exception as exc:
        return f"PostgreSQL at {admin_url} unreachable: {type(exc).__name__}"


# -- workers (run in child processes) -------------------------------------------------------------

def _engine_worker(url: str, ids: list[str], pool: list[str], logins: int, barrier: Barrier,
                   out: Any) -> None:
    """Whole flows on `ids`, then `logins` concurrent logins on the shared `pool`."""
    from adapters.sql import SqlStore

    store = SqlStore(url, pool_size=2)
    svc = service(store, ids)
    flow(svc, ids[0], [0.0] * len(FLOW))  # warm up: connections, statement caches
    spent = [0.0] * len(FLOW)
    barrier.wait()
    start = time.perf_counter()
    for nid in ids[1:]:
        flow(svc, nid, spent)
    end = time.perf_counter()
    barrier.wait()
    ok: Counter[str] = Counter()
    refused = 0
    offset = secrets.randbelow(len(pool))
    contended_start = time.perf_counter()
    for i in range(logins):
        aid = pool[(offset + i) % len(pool)]
        try:
            svc.authenticate(aid, PIN)
            ok[aid] += 1
        except Exception:
            refused += 1
    contended_end = time.perf_counter()
    store.close()
    out.put({"start": start, "end": end, "events": (len(ids) - 1) * len(FLOW), "spent": spent,
             "logins": dict(ok), "refused": refused, "contended": (contended_start, contended_end)})


def _raw_worker(admin_url: str, schema: str, activations: int, barrier: Barrier, out: Any) -> None:
    """The same number of commits as an engine worker: 1 insert and 5 updates per activation."""
    import psycopg

    with psycopg.connect(admin_url, options=f"-csearch_path={schema}") as conn:
        barrier.wait()
        start = time.perf_counter()
        for _ in range(activations):
            aid = secrets.token_urlsafe(12)
            conn.execute("INSERT INTO raw_activation VALUES (%s, 'requested', 0)", (aid,))
            conn.commit()
            for version, name in enumerate(FLOW[1:]):
                cur = conn.execute("UPDATE raw_activation SET state = %s, version = %s "
                                   "WHERE id = %s AND version = %s", (name, version + 1, aid, version))
                conn.commit()
                assert cur.rowcount == 1
        end = time.perf_counter()
        barrier.wait()
    out.put({"start": start, "end": end, "events": activations * len(FLOW)})


# -- one level ------------------------------------------------------------------------------------

def _spawn(target: Any, args_of: list[tuple[Any, ...]], barrier: Barrier, out: Any,
           ctx: Any) -> list[dict[str, Any]]:
    procs = [ctx.Process(target=target, args=(*args, barrier, out)) for args in args_of]
    for p in procs:
        p.start()
    found = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        if p.exitcode != 0:
            raise RuntimeError(f"a benchmark worker exited with code {p.exitcode}")
    return found


def _rate(found: list[dict[str, Any]]) -> float:
    events = float(sum(f["events"] for f in found))
    return events / float(max(f["end"] for f in found) - min(f["start"] for f in found))


def level(workers: int, admin_url: str, url: str, raw_schema: str, flows: int, logins: int,
          next_id: int, pool: list[str], ctx: Any) -> dict[str, Any]:
    """One round at `workers` processes: engine rate, raw rate, contended logins per activation."""
    out = ctx.Queue()
    engine_args = [(url, identifiers(flows + 1, start=next_id + w * (flows + 1)), pool, logins)
                   for w in range(workers)]
    engine = _spawn(_engine_worker, engine_args, ctx.Barrier(workers), out, ctx)
    raw = _spawn(_raw_worker, [(admin_url, raw_schema, flows)] * workers, ctx.Barrier(workers),
                 out, ctx)
    logged: Counter[str] = Counter()
    for f in engine:
        logged.update(f["logins"])
    contended = (min(f["contended"][0] for f in engine), max(f["contended"][1] for f in engine))
    return {"engine": _rate(engine), "raw": _rate(raw), "logged": logged,
            "refused": sum(f["refused"] for f in engine),
            "logins_per_s": sum(logged.values()) / (contended[1] - contended[0]),
            "spent": [sum(f["spent"][i] for f in engine) for i in range(len(FLOW))],
            "used_ids": workers * (flows + 1)}


def _login_count(store: Any, aid: str) -> tuple[int, int]:
    """(authenticate steps in the history, version) of a stored activation."""
    a = store.get(aid)
    return sum(1 for e in store.audit_trail(aid) if e.step and e.action == "authenticate"), a.version


def run(quick: bool = False, pg_url: str | None = None, flows: int | None = None,
        rounds: int | None = None, levels: tuple[int, ...] = LEVELS) -> Result:
    """Events/s on PostgreSQL with 1, 2 and 4 worker processes against raw psycopg."""
    import psycopg

    from adapters.sql import SqlStore

    admin_url = pg_url or DEFAULT_URL
    flows = flows or (3 if quick else 60)
    rounds = rounds or (1 if quick else 3)
    logins = 4 if quick else 40
    title = "PostgreSQL with 1, 2 and 4 worker processes"
    problem = reachable(admin_url)
    if problem:
        return Result("postgres_workers", title, skipped=problem)
    schema, raw_schema = "bench_" + secrets.token_hex(5), "bench_raw_" + secrets.token_hex(5)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"CREATE SCHEMA {raw_schema}")
        conn.execute(f"CREATE TABLE {raw_schema}.raw_activation (id text PRIMARY KEY, "
                     "state text NOT NULL, version integer NOT NULL)")
        server = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
    url = _sqlalchemy_url(admin_url, schema)
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    try:
        store = SqlStore(url, pool_size=1)
        pool_ids = identifiers(4)
        svc = service(store, pool_ids)
        pool = [flow(svc, nid, [0.0] * len(FLOW)) for nid in pool_ids]
        before = {aid: _login_count(store, aid) for aid in pool}
        results: dict[int, list[dict[str, Any]]] = {w: [] for w in levels}
        next_id = 100_000
        for _ in range(rounds):
            for workers in levels:
                store.close()  # no pooled connection crosses a fork
                found = level(workers, admin_url, url, raw_schema, flows, logins, next_id, pool, ctx)
                next_id += found["used_ids"]
                results[workers].append(found)
        logged: Counter[str] = Counter()
        for found_list in results.values():
            for found in found_list:
                logged.update(found["logged"])
        after = {aid: _login_count(store, aid) for aid in pool}
        lost = sum(abs(before[a][0] + logged[a] - after[a][0]) for a in pool)
        lost_versions = sum(abs(before[a][1] + logged[a] - after[a][1]) for a in pool)
        trails = sum(abs(len(store.audit_trail(a)) - store.get(a).audit_seq)  # type: ignore[union-attr]
                     for a in pool)
        store.close()
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
            conn.execute(f"DROP SCHEMA {raw_schema} CASCADE")
    figures: list[Figure] = []
    targets: list[Target] = []
    for workers in levels:
        engine = median([f["engine"] for f in results[workers]])
        raw = median([f["raw"] for f in results[workers]])
        figures += [Figure(f"{workers} worker(s): SqlStore service", engine, "events/s"),
                    Figure(f"{workers} worker(s): raw psycopg, same commits", raw, "commits/s"),
                    Figure(f"{workers} worker(s): contended logins", median(
                        [f["logins_per_s"] for f in results[workers]]), "events/s",
                        f"{len(pool)} shared activations")]
        targets.append(Target(f"{workers} worker(s): SqlStore / raw", engine / raw * 100, 40,
                              at_most=False, unit="%"))
    refused = sum(f["refused"] for fl in results.values() for f in fl)
    figures += [Figure("logins that succeeded", sum(logged.values()), "events"),
                Figure("logins refused", refused, "events", "ConcurrencyConflict after retries"),
                Figure("lost updates (history)", lost, "events"),
                Figure("lost updates (version)", lost_versions, "events"),
                Figure("audit trails out of step", trails, "events")]
    targets.append(Target("lost updates", lost + lost_versions + trails, 0, at_most=True, unit=""))
    notes = (f"PostgreSQL {server} on the same machine as the workers; medians of {rounds} rounds "
             f"of {flows} activations per worker (6 events each)",
             "raw psycopg writes one row per commit; the engine's event also loads the activation "
             "and writes its audit and outbox rows",)
    return Result("postgres_workers", title, tuple(figures), tuple(targets), notes,
                  params={"flows": flows, "rounds": rounds, "logins": logins, "quick": quick})


if __name__ == "__main__":
    raise SystemExit(main(run, options=[("--pg-url", "PostgreSQL URL (postgresql://...)")]))
