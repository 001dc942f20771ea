"""Durable on SQLite (WAL): events/s through `SqlStore` against raw sqlite3 and a naive SQLModel session.

All three commit once per event with the same pragmas (WAL, synchronous=NORMAL, busy timeout)
on a file in a temporary folder; they run side by side, round after round.
"""

from __future__ import annotations

import secrets
import sqlite3
import tempfile
import threading
import time
from collections.abc import Collection
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Self

from sqlalchemy import create_engine, event
from sqlmodel import Field, Session, SQLModel, select

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
from workflow.domain import Activation, AuditEvent, Change, OutboxMessage, Step
from workflow.errors import ConcurrencyConflict

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


class NaiveStore:
    """The same rows as `SqlStore`, the naive way: one SQLModel session per store call (ORM objects)."""

    def __init__(self, path: Path) -> None:
        from adapters.sql import SqlStore

        SqlStore(f"sqlite:///{path}", synchronous=SYNCHRONOUS).ensure_schema()
        self.engine = create_engine(f"sqlite:///{path}")
        event.listen(self.engine, "connect", lambda conn, _record: _pragmas(conn))

    def get(self, activation_id: str) -> Activation | None:
        from adapters.sql import codec
        from adapters.sql.schema import ActivationRow

        with Session(self.engine) as session:
            row = session.get(ActivationRow, activation_id)
            return None if row is None else codec.activation(row.model_dump())

    def find(self, subject: str, states: Collection[State]) -> list[Activation]:
        from adapters.sql import codec
        from adapters.sql.schema import ActivationRow

        wanted = [str(s) for s in states]
        with Session(self.engine) as session:
            rows = session.exec(select(ActivationRow).where(ActivationRow.subject == subject)).all()
            return [codec.activation(r.model_dump()) for r in rows if r.state in wanted]

    def requests_since(self, subject: str, since: datetime) -> list[datetime]:
        from adapters.sql.schema import ActivationRow

        with Session(self.engine) as session:
            rows = session.exec(select(ActivationRow).where(ActivationRow.subject == subject)).all()
            return sorted(r.created_at for r in rows if r.created_at >= since)

    def commit(self, change: Change) -> None:
        from adapters.sql import codec
        from adapters.sql.schema import ActivationRow, AuditRow, OutboxRow

        with Session(self.engine) as session:
            for w in change.writes:
                values = codec.activation_row(w.activation)
                row = session.get(ActivationRow, w.activation.id)
                if (None if row is None else row.version) != w.expected_version:
                    raise ConcurrencyConflict(f"activation {w.activation.id} changed meanwhile")
                if row is None:
                    session.add(ActivationRow(**values))
                else:
                    for name, value in values.items():
                        setattr(row, name, value)
                    session.add(row)
            for m in change.outbox:
                values = codec.outbox_row(m)
                found = session.exec(select(OutboxRow).where(OutboxRow.id == m.id)).first()
                if found is None:
                    session.add(OutboxRow(**values))
                else:
                    for name, value in values.items():
                        setattr(found, name, value)
                    session.add(found)
            for e in change.audit:
                session.add(AuditRow(**codec.audit_row(e)))
            session.commit()

    def outbox_of(self, activation_id: str) -> list[OutboxMessage]:
        from adapters.sql import codec
        from adapters.sql.schema import OutboxRow

        with Session(self.engine) as session:
            rows = session.exec(select(OutboxRow).where(OutboxRow.activation_id == activation_id)
                                .order_by(OutboxRow.n)).all()  # type: ignore[arg-type]
            return [codec.outbox(r.model_dump()) for r in rows]

    def due_for_expiry(self, now: datetime, limit: int) -> list[str]:
        raise NotImplementedError("not needed by the benchmark")

    def claim_outbox(self, now: datetime, limit: int, lease: timedelta) -> list[OutboxMessage]:
        raise NotImplementedError("not needed by the benchmark")

    def audit_trail(self, activation_id: str) -> list[AuditEvent]:
        raise NotImplementedError("not needed by the benchmark")

    def list_activations(self, limit: int = 100,
                         before: tuple[datetime, str] | None = None) -> list[Activation]:
        raise NotImplementedError("not needed by the benchmark")

    def steps(self, activation_id: str, after: int = 0, limit: int = 100) -> list[Step]:
        raise NotImplementedError("not needed by the benchmark")

    def turn(self, subject: str) -> int:
        return 0  # the benchmark's identifiers request once each

    def close(self) -> None:
        self.engine.dispose()


class _Recording(sqlite3.Cursor):
    """A driver cursor that notes each statement and its parameters while `sink` is set, those
    of the events' thread only (the store's checkpoints run on a thread of their own: the
    replay's connection checkpoints as SQLite does by itself)."""

    sink: list[tuple[str, Any, bool]] | None = None
    thread = threading.get_ident()

    def execute(self, sql: str, parameters: Any = (), /) -> Self:
        if _Recording.sink is not None and threading.get_ident() == _Recording.thread:
            _Recording.sink.append((sql, parameters, False))
        return super().execute(sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> Self:
        rows = list(seq_of_parameters)
        if _Recording.sink is not None and threading.get_ident() == _Recording.thread:
            _Recording.sink.append((sql, rows, True))
        return super().executemany(sql, rows)


class _RecordingConnection(sqlite3.Connection):
    """A driver connection whose cursors record, and whose commits are noted too."""

    def cursor(self, factory: Any = _Recording) -> Any:
        return super().cursor(factory)

    def commit(self) -> None:
        if (_Recording.sink is not None and self.in_transaction
                and threading.get_ident() == _Recording.thread):
            _Recording.sink.append(("COMMIT", (), False))
        super().commit()


class Replay:
    """Raw sqlite3 running the very statements and parameters `SqlStore` ran, recorded beforehand.

    This is the store's SQL work alone, with neither the engine nor SQLAlchemy around it: the
    gap to the service is what Python costs per event, engine and store together.
    """

    def __init__(self, root: Path, flows: int, rounds: int) -> None:
        from adapters.sql import SqlStore

        dbapi: Any = sqlite3.dbapi2
        real_connect = dbapi.connect

        def recording_connect(*args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("factory", _RecordingConnection)
            return real_connect(*args, **kwargs)

        dbapi.connect = recording_connect
        try:
            capture = SqlStore(f"sqlite:///{root / 'capture.sqlite3'}", synchronous=SYNCHRONOUS)
            capture.ensure_schema()
            ids = identifiers(flows * rounds, start=2_000_000)
            svc = service(capture, ids)
            read_outbox = capture.outbox_of

            def phone_reads(activation_id: str) -> Any:  # the phone's reads are not the store's work
                sink, _Recording.sink = _Recording.sink, None
                try:
                    return read_outbox(activation_id)
                finally:
                    _Recording.sink = sink

            capture.outbox_of = phone_reads  # type: ignore[method-assign]
            self.chunks: list[list[tuple[str, Any, bool]]] = []
            for r in range(rounds):
                _Recording.sink, _Recording.thread = [], threading.get_ident()
                for nid in ids[r * flows:(r + 1) * flows]:
                    flow(svc, nid, [0.0] * len(FLOW))
                self.chunks.append(_Recording.sink)
                _Recording.sink = None
            capture.close()
        finally:
            _Recording.sink = None
            dbapi.connect = real_connect
        replay = SqlStore(f"sqlite:///{root / 'replay.sqlite3'}", synchronous=SYNCHRONOUS)
        replay.ensure_schema()
        replay.close()
        self.db = sqlite3.connect(root / "replay.sqlite3", isolation_level=None,
                                  check_same_thread=False)
        _pragmas(self.db)
        self.flows_per_chunk = flows

    def rate(self, r: int) -> float:
        """Events/s replaying round `r`'s statements."""
        db = self.db
        start = time.perf_counter()
        for sql, parameters, many in self.chunks[r]:
            if many:
                db.executemany(sql, parameters)
            else:
                db.execute(sql, parameters).fetchall()
        return self.flows_per_chunk * len(FLOW) / (time.perf_counter() - start)

    def close(self) -> None:
        self.db.close()


def run(quick: bool = False, flows: int | None = None, rounds: int | None = None,
        folder: str | None = None) -> Result:
    """Events/s on SQLite (WAL) through SqlStore, raw sqlite3 and a SQLModel session per step."""
    from adapters.sql import SqlStore

    flows = flows or (10 if quick else 300)
    rounds = rounds or (3 if quick else 5)
    naive_flows = max(2, flows // 4)
    with tempfile.TemporaryDirectory(prefix="ecps-bench-", dir=folder) as tmp:
        root = Path(tmp)
        store = SqlStore(f"sqlite:///{root / 'engine.sqlite3'}", synchronous=SYNCHRONOUS)
        ids = identifiers(flows * (rounds + 1))
        svc = service(store, ids)
        raw, naive = Raw(root / "raw.sqlite3"), Naive(root / "naive.sqlite3")
        replay = Replay(root, flows, rounds)
        naive_store = NaiveStore(root / "naive-store.sqlite3")
        naive_ids = identifiers(naive_flows * (rounds + 1), start=1_000_000)
        naive_svc = service(naive_store, naive_ids)
        calls: list[list[float]] = []

        def engine(r: int) -> float:
            spent = [0.0] * len(FLOW)
            for nid in ids[(r + 1) * flows:(r + 2) * flows]:
                flow(svc, nid, spent)
            calls.append(spent)
            # the store checkpoints on a thread of its own: the round waits for it to be done
            # (and counts that wait), so that none of its work runs in the other variants' time
            start = time.perf_counter()
            store.settle()
            return flows * len(FLOW) / (sum(spent) + time.perf_counter() - start)

        def naive_engine(r: int) -> float:
            spent = [0.0] * len(FLOW)
            for nid in naive_ids[(r + 1) * naive_flows:(r + 2) * naive_flows]:
                flow(naive_svc, nid, spent)
            return naive_flows * len(FLOW) / sum(spent)

        def rate(variant: Raw | Naive) -> float:
            seconds, commits = variant.flows(flows)
            return commits / seconds

        try:
            for nid in ids[:flows]:  # warm up: schema, pools, caches
                flow(svc, nid, [0.0] * len(FLOW))
            store.settle()
            raw.flows(flows)
            naive.flows(max(1, flows // 4))
            for nid in naive_ids[:naive_flows]:
                flow(naive_svc, nid, [0.0] * len(FLOW))
            per_second = interleave({"engine": engine, "raw": lambda _r: rate(raw),
                                     "naive": lambda _r: rate(naive), "replay": replay.rate,
                                     "naive_store": naive_engine},
                                    rounds)
        finally:
            replay.close()
            naive_store.close()
            raw.close()
            naive.close()
            store.close()
    per_call = {name: sorted(c[i] for c in calls)[len(calls) // 2] / flows * 1e6
                for i, name in enumerate(FLOW)}
    figures = [
        Figure("SqlStore service", per_second["engine"], "events/s", "request → first login"),
        *(Figure(f"  {name}", per_call[name], "µs/event") for name in FLOW),
        Figure("raw sqlite3, same commits", per_second["raw"], "commits/s", "one row per commit"),
        Figure("SQLModel session per step, one row", per_second["naive"], "events/s"),
        Figure("SqlStore service / one-row session", per_second["engine"] / per_second["naive"], "x"),
        Figure("raw sqlite3 replaying SqlStore's statements", per_second["replay"], "events/s",
               "same rows, no Python engine"),
        Figure("service over a naive store (same rows)", per_second["naive_store"], "events/s",
               "SQLModel session per store call"),
        Figure("SqlStore service / naive store", per_second["engine"] / per_second["naive_store"],
               "x"),
        Figure("SqlStore service / replay", per_second["engine"] / per_second["replay"] * 100, "%",
               "the share of the SQL itself"),
    ]
    targets = [
        Target("SqlStore service / replay", per_second["engine"] / per_second["replay"] * 100, 50,
               at_most=False, unit="%"),
        Target("SqlStore service / one-row session", per_second["engine"] / per_second["naive"],
               1.5, at_most=False),
    ]
    notes = (f"medians of {rounds} interleaved rounds of {flows} activations (6 events each); "
             f"journal_mode=WAL, synchronous={SYNCHRONOUS}; PIN hash at its cheapest setting",
             "an event loads its activation and writes it with its audit and outbox rows; raw "
             "sqlite3 and the one-row session write one small row per commit; the naive store "
             "writes the same rows as SqlStore through SQLModel ORM sessions")
    return Result("sqlite_durable", "durable events on SQLite (WAL)", tuple(figures), tuple(targets),
                  notes, params={"flows": flows, "rounds": rounds, "quick": quick})


if __name__ == "__main__":
    raise SystemExit(main(run))
