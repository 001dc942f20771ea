"""Durable on SQLite (WAL): events/s through `SqlStore` against raw sqlite3 and a naive SQLModel session.

All three commit once per event with the same pragmas (WAL, synchronous=NORMAL, busy timeout)
on a file in a temporary folder; they run side by side, round after round.
"""

from __future__ import annotations

import secrets
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlmodel import Field, Session, SQLModel

from benchmarks.common import (
    FLOW,
    Figure,
    Result,
    Target,
    advance,
    flow,
    identifiers,
    interleave,
    main,
    service,
)
from workflow.definition import State

SYNCHRONOUS = "NORMAL"


class NaiveActivation(SQLModel, table=True):
    """The naive approach's table: one ORM object per activation."""

    __tablename__ = "bench_naive_activation"
    id: str = Field(primary_key=True)
    state: str
    version: int = 0


def _pragmas(connection: Any) -> None:
    connection.execute("PRAGMA busy_timeout = 30000")
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute(f"PRAGMA synchronous = {SYNCHRONOUS}")


class Raw:
    """Raw sqlite3: one row per activation, one transaction per event, compare-and-set on version."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        _pragmas(self.db)
        self.db.execute("CREATE TABLE IF NOT EXISTS raw_activation (id TEXT PRIMARY KEY, "
                        "state TEXT NOT NULL, version INTEGER NOT NULL)")

    def flows(self, count: int) -> tuple[float, int]:
        """Seconds and commits for `count` activations (1 insert and 5 updates each, as the flow)."""
        db = self.db
        commits = 0
        start = time.perf_counter()
        for _ in range(count):
            aid = secrets.token_urlsafe(12)
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO raw_activation VALUES (?, ?, 0)", (aid, "requested"))
            db.execute("COMMIT")
            state = State.REQUESTED
            for version, name in enumerate(FLOW[1:]):
                state = advance(state, name)
                db.execute("BEGIN IMMEDIATE")
                done = db.execute("UPDATE raw_activation SET state = ?, version = ? "
                                  "WHERE id = ? AND version = ?",
                                  (str(state), version + 1, aid, version)).rowcount
                db.execute("COMMIT")
                assert done == 1
            commits += len(FLOW)
        return time.perf_counter() - start, commits

    def close(self) -> None:
        self.db.close()


class Naive:
    """The naive durable engine: one SQLModel session per step (get, change, commit)."""

    def __init__(self, path: Path) -> None:
        self.engine = create_engine(f"sqlite:///{path}")
        event.listen(self.engine, "connect", lambda conn, _record: _pragmas(conn))
        SQLModel.metadata.create_all(self.engine, tables=[NaiveActivation.__table__])  # type: ignore[attr-defined]

    def flows(self, count: int) -> tuple[float, int]:
        """Seconds and commits for `count` activations."""
        commits = 0
        start = time.perf_counter()
        for _ in range(count):
            aid = secrets.token_urlsafe(12)
            with Session(self.engine) as session:
                session.add(NaiveActivation(id=aid, state="requested"))
                session.commit()
            for name in FLOW[1:]:
                with Session(self.engine) as session:
                    row = session.get(NaiveActivation, aid)
                    assert row is not None
                    state = advance(State(row.state), name)
                    row.state, row.version = str(state), row.version + 1
                    session.add(row)
                    session.commit()
            commits += len(FLOW)
        return time.perf_counter() - start, commits

    def close(self) -> None:
        self.engine.dispose()


def run(quick: bool = False, flows: int | None = None, rounds: int | None = None,
        folder: str | None = None) -> Result:
    """Events/s on SQLite (WAL) through SqlStore, raw sqlite3 and a SQLModel session per step."""
    from adapters.sql import SqlStore

    flows = flows or (10 if quick else 300)
    rounds = rounds or (3 if quick else 5)
    with tempfile.TemporaryDirectory(prefix="ecps-bench-", dir=folder) as tmp:
        root = Path(tmp)
        store = SqlStore(f"sqlite:///{root / 'engine.sqlite3'}", synchronous=SYNCHRONOUS)
        ids = identifiers(flows * (rounds + 1))
        svc = service(store, ids)
        raw, naive = Raw(root / "raw.sqlite3"), Naive(root / "naive.sqlite3")
        calls: list[list[float]] = []

        def engine(r: int) -> float:
            spent = [0.0] * len(FLOW)
            for nid in ids[(r + 1) * flows:(r + 2) * flows]:
                flow(svc, nid, spent)
            calls.append(spent)
            return flows * len(FLOW) / sum(spent)

        def rate(variant: Raw | Naive) -> float:
            seconds, commits = variant.flows(flows)
            return commits / seconds

        try:
            for nid in ids[:flows]:  # warm up: schema, pools, caches
                flow(svc, nid, [0.0] * len(FLOW))
            raw.flows(flows)
            naive.flows(max(1, flows // 4))
            per_second = interleave({"engine": engine, "raw": lambda _r: rate(raw),
                                     "naive": lambda _r: rate(naive)}, rounds)
        finally:
            raw.close()
            naive.close()
            store.close()
    per_call = {name: sorted(c[i] for c in calls)[len(calls) // 2] / flows * 1e6
                for i, name in enumerate(FLOW)}
    figures = [
        Figure("SqlStore service", per_second["engine"], "events/s", "request → first login"),
        *(Figure(f"  {name}", per_call[name], "µs/event") for name in FLOW),
        Figure("raw sqlite3, same commits", per_second["raw"], "commits/s", "one row per commit"),
        Figure("SQLModel session per step", per_second["naive"], "events/s"),
    ]
    targets = [
        Target("SqlStore / raw sqlite3", per_second["engine"] / per_second["raw"] * 100, 40,
               at_most=False, unit="%"),
        Target("SqlStore / naive session per step", per_second["engine"] / per_second["naive"], 5,
               at_most=False),
    ]
    notes = (f"medians of {rounds} interleaved rounds of {flows} activations (6 events each); "
             f"journal_mode=WAL, synchronous={SYNCHRONOUS}; PIN hash at its cheapest setting",
             "the engine's event also writes its audit and outbox rows and loads the activation; "
             "raw and naive write one row per commit")
    return Result("sqlite_durable", "durable events on SQLite (WAL)", tuple(figures), tuple(targets),
                  notes, params={"flows": flows, "rounds": rounds, "quick": quick})


if __name__ == "__main__":
    raise SystemExit(main(run))
