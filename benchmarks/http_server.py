"""`POST /activations` of `ecps serve` against a bare FastAPI app, on SQLite and on PostgreSQL.

Each round starts every variant as its own process on 127.0.0.1 over a fresh database (the
same uvicorn settings: one process, default log level), warms it up, then the client
(`benchmarks.http_client`: 8 threads on keep-alive connections) posts for a fixed time;
the server is stopped before the next variant starts, so only one runs at a time. The
figure of a variant is its median over the interleaved rounds; the server's CPU per
request is read from /proc.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.common import Figure, Result, Target, identifiers, main, median, people
from benchmarks.http_client import Load, post_activations
from benchmarks.postgres_workers import DEFAULT_URL, _sqlalchemy_url, reachable

ROOT = Path(__file__).resolve().parent.parent
OPTIONS = ("pg_url", "folder")
VARIANTS = ("ecps serve", "ecps serve, no dispatcher", "bare FastAPI")
CHEAP_PIN_HASH = {"ECPS_ARGON2_MEMORY_KIB": "8", "ECPS_ARGON2_TIME_COST": "1",
                  "ECPS_ARGON2_PARALLELISM": "1"}
WARM_UP = 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far (0 where /proc is missing)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _command(variant: str, port: int, url: str, state: Path) -> list[str]:
    if variant == "bare FastAPI":
        return [sys.executable, "-m", "benchmarks.bare_app", "--port", str(port), "--database", url]
    every = "0" if "no dispatcher" in variant else "1"
    return [sys.executable, "-m", "adapters.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
            "--database", url, "--state-dir", str(state), "--dispatch-every", every]


@contextmanager
def serving(variant: str, url: str, state: Path, directory: Path) -> Iterator[tuple[int, int]]:
    """(port, pid) of `variant` serving `url` until the block ends (then it is stopped)."""
    port = _free_port()
    env = dict(os.environ, ECPS_DIRECTORY=str(directory), **CHEAP_PIN_HASH)
    env.pop("ECPS_SMTP_URL", None)
    proc = subprocess.Popen(_command(variant, port, url, state), cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{variant} exited with {proc.returncode} before answering")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{variant} did not listen within 60 s") from None
                time.sleep(0.1)
        yield port, proc.pid
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def measure(variant: str, url: str, state: Path, directory: Path, ids: list[str], seconds: float,
            threads: int) -> tuple[Load, float]:
    """The client's load against `variant`, and the server's CPU ms per successful request."""
    with serving(variant, url, state, directory) as (port, pid):
        post_activations(port, ids[:WARM_UP], threads=threads, seconds=seconds)
        cpu = _cpu_seconds(pid)
        load = post_activations(port, ids[WARM_UP:], threads=threads, seconds=seconds)
        cpu = _cpu_seconds(pid) - cpu
    return load, 1000 * cpu / max(load.done, 1)


@contextmanager
def databases(kind: str, admin_url: str, folder: Path) -> Iterator[Iterator[str]]:
    """Fresh database URLs of `kind` (a SQLite file each, or a PostgreSQL schema each, dropped after)."""
    made: list[str] = []

    def fresh() -> Iterator[str]:
        while True:
            name = "bench_http_" + secrets.token_hex(5)
            if kind == "sqlite":
                yield f"sqlite:///{folder / (name + '.db')}"
                continue
            import psycopg

            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f"CREATE SCHEMA {name}")
            made.append(name)
            yield _sqlalchemy_url(admin_url, name)

    try:
        yield fresh()
    finally:
        if made:
            import psycopg

            with psycopg.connect(admin_url, autocommit=True) as conn:
                for name in made:
                    conn.execute(f"DROP SCHEMA {name} CASCADE")


def run(quick: bool = False, pg_url: str | None = None, folder: str | None = None,
        seconds: float | None = None, rounds: int | None = None, threads: int | None = None,
        requests: int | None = None) -> Result:
    """Requests/s of `POST /activations` as shipped, without its dispatcher, and of the bare app."""
    seconds = float(seconds or (1 if quick else 5))
    rounds = int(rounds or (1 if quick else 3))
    threads = int(threads or 8)
    bound = int(requests or (WARM_UP + 300 if quick else 20_000))
    admin_url = pg_url or DEFAULT_URL
    kinds = ["sqlite"]
    problem = reachable(admin_url)
    if not problem:
        kinds.append("postgresql")
    ids = identifiers(bound, start=5_000_000)
    seen: dict[tuple[str, str], list[tuple[float, float, float, float, int]]] = {}
    with tempfile.TemporaryDirectory(prefix="ecps-http-", dir=folder) as tmp:
        root = Path(tmp)
        directory = root / "directory.json"
        directory.write_text(json.dumps({"professionals": [
            {"national_id": p.national_id, "email": p.email, "phone": p.phone, "name": p.name}
            for p in people(ids)]}))
        for kind in kinds:
            with databases(kind, admin_url, root) as fresh:
                for r in range(rounds):
                    for variant in VARIANTS:
                        state = root / f"state-{kind}-{r}-{VARIANTS.index(variant)}"
                        load, cpu_ms = measure(variant, next(fresh), state, directory, ids,
                                               seconds, threads)
                        seen.setdefault((kind, variant), []).append(
                            (load.per_second, load.percentile(50), load.percentile(99), cpu_ms,
                             load.errors))
    figures, targets = [], []
    for (kind, variant), runs in seen.items():
        rate = median([x[0] for x in runs])
        figures.append(Figure(f"{kind}: {variant}", rate, "requests/s",
                              f"p50 {median([x[1] for x in runs]):.1f} ms, "
                              f"p99 {median([x[2] for x in runs]):.1f} ms, server CPU "
                              f"{median([x[3] for x in runs]):.2f} ms/request, "
                              f"errors {sum(x[4] for x in runs)}"))
    for kind in kinds:
        bare = median([x[0] for x in seen[kind, "bare FastAPI"]])
        for variant in VARIANTS[:2]:
            ratio = median([x[0] for x in seen[kind, variant]]) / bare if bare else 0.0
            targets.append(Target(f"{kind}: {variant} / bare", ratio, 0.6, at_most=False))
    notes = [f"{threads} client threads on keep-alive connections, {seconds:.0f} s per variant and "
             f"round after {WARM_UP} warm-up requests, at most {bound} requests; median of "
             f"{rounds} interleaved rounds; one server process at a time, fresh database each"]
    if problem:
        notes.append(f"PostgreSQL skipped: {problem}")
    return Result("http_server", "POST /activations of ecps serve against a bare FastAPI app",
                  figures=tuple(figures), targets=tuple(targets), notes=tuple(notes),
                  params={"seconds": seconds, "rounds": rounds, "threads": threads})


if __name__ == "__main__":
    raise SystemExit(main(run, options=(
        ("--pg-url", "PostgreSQL URL (postgresql://...)"),
        ("--folder", "where the SQLite files and state folders go"),
        ("--seconds", "seconds of load per variant and round"), ("--rounds", "interleaved rounds"),
        ("--threads", "client threads"), ("--requests", "most requests per run"))))
