"""`POST /activations` of `ecps serve` against a bare FastAPI app, on SQLite and on PostgreSQL.

Each round starts every variant as its own process on 127.0.0.1 over a fresh database (the
same uvicorn settings: one process unless `--workers 2`, default log level, no access log),
warms it up, then the client
(`benchmarks.http_client`: 8 threads on keep-alive connections) posts for a fixed time;
the server is stopped before the next variant starts, so only one runs at a time. The
figure of a variant is its median over the interleaved rounds; the server's CPU per
request (all its processes) is read from /proc.
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
WORKERS_2 = "ecps serve --workers 2"
VARIANTS = ("ecps serve", WORKERS_2, "ecps serve, no dispatcher",
            "ecps serve + dispatch --loop process", "bare FastAPI")
OWN_PROCESS = "ecps serve + dispatch --loop process"
SETTINGS = {"ECPS_ARGON2_MEMORY_KIB": "8", "ECPS_ARGON2_TIME_COST": "1",  # cheapest PIN hash
            "ECPS_ARGON2_PARALLELISM": "1",
            "ECPS_REQUEST_RATE": "1000000000"}  # every request comes from 127.0.0.1
DEVICE_KEY = {"kty": "EC", "crv": "P-256", "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
              "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"}
"""The app's public key sent with each request (a tree without device-bound flows gets none)."""
WARM_UP = 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _stat(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` and its live children so far (0 where /proc
    is missing): a server's worker processes count as its own."""
    fields = _stat(pid)
    if not fields:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = [int(e.name) for e in Path("/proc").iterdir()
                if e.name.isdigit() and (f := _stat(int(e.name))) and int(f[1]) == pid]
    return own + sum(map(_cpu_seconds, children))


def _command(variant: str, port: int, url: str, state: Path, tree: Path = ROOT) -> list[str]:
    if variant == "bare FastAPI":
        return [sys.executable, "-m", "benchmarks.bare_app", "--port", str(port), "--database", url]
    every = "0" if variant in ("ecps serve, no dispatcher", OWN_PROCESS) else "1"
    serving = tree / "adapters" / "cli" / "serving.py"  # a tree without it has one process only
    workers = (["--workers", "2" if variant == WORKERS_2 else "1"]
               if serving.exists() and "worker_app" in serving.read_text(encoding="utf-8") else [])
    return [sys.executable, "-m", "adapters.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
            "--database", url, "--state-dir", str(state), "--dispatch-every", every, *workers]


@contextmanager
def serving(variant: str, url: str, state: Path, directory: Path,
            tree: Path = ROOT) -> Iterator[tuple[int, list[int]]]:
    """(port, pids) of `variant` serving `url` until the block ends (then it is stopped).

    `tree` is the source tree `ecps serve` runs from (another checkout measures its code);
    the dispatcher of `OWN_PROCESS` is a second process, `ecps dispatch --loop`.
    """
    port = _free_port()
    env = dict(os.environ, ECPS_DIRECTORY=str(directory), PYTHONPATH=str(tree), **SETTINGS)
    env.pop("ECPS_SMTP_URL", None)
    proc = subprocess.Popen(_command(variant, port, url, state, tree), cwd=tree, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs = [proc]
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
        if variant == OWN_PROCESS:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "adapters.cli", "dispatch", "--loop", "--json", "--database", url,
                 "--state-dir", str(state)], cwd=tree, env=env, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL))
        yield port, [p.pid for p in procs]
    finally:
        for p in procs:
            p.send_signal(signal.SIGINT)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)


def _emails(state: Path) -> int:
    return sum(1 for _ in (state / "mail").glob("*.eml"))


def measure(variant: str, url: str, state: Path, directory: Path, ids: list[str], seconds: float,
            threads: int, tree: Path = ROOT) -> tuple[Load, float, float]:
    """The client's load against `variant`, the CPU ms its processes spent per successful
    request and the activation e-mails written per second meanwhile."""
    extra = {"device_key": DEVICE_KEY} if (tree / "adapters" / "device.py").exists() else {}
    with serving(variant, url, state, directory, tree) as (port, pids):
        warm = post_activations(port, ids[:WARM_UP], threads=threads, seconds=seconds, extra=extra)
        deadline = time.monotonic() + 30
        while (variant not in ("bare FastAPI", "ecps serve, no dispatcher")
               and _emails(state) < warm.done and time.monotonic() < deadline):
            time.sleep(0.05)  # the dispatcher is up and has caught up before the measure
        cpu, mails = sum(map(_cpu_seconds, pids)), _emails(state)
        load = post_activations(port, ids[WARM_UP:], threads=threads, seconds=seconds, extra=extra)
        cpu, mails = sum(map(_cpu_seconds, pids)) - cpu, _emails(state) - mails
    return load, 1000 * cpu / max(load.done, 1), mails / load.seconds


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
        requests: int | None = None, before: str | None = None) -> Result:
    """Requests/s of `POST /activations` as shipped, without its dispatcher, and of the bare app.

    `before` names another source tree (e.g. an export of an older commit) whose `ecps serve`
    runs as one more variant, "ecps serve (before)".
    """
    variants = VARIANTS + (("ecps serve (before)",) if before else ())
    trees = {v: Path(before) if v.endswith("(before)") and before else ROOT for v in variants}
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
    seen: dict[tuple[str, str], list[tuple[float, float, float, float, int, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="ecps-http-", dir=folder) as tmp:
        root = Path(tmp)
        directory = root / "directory.json"
        directory.write_text(json.dumps({"professionals": [
            {"national_id": p.national_id, "email": p.email, "phone": p.phone, "name": p.name}
            for p in people(ids)]}))
        for kind in kinds:
            with databases(kind, admin_url, root) as fresh:
                for r in range(rounds):
                    print(f"{kind}: round {r + 1} of {rounds}, load {os.getloadavg()[0]:.1f}",
                          file=sys.stderr, flush=True)
                    for n, variant in enumerate(variants):
                        state = root / f"state-{kind}-{r}-{n}"
                        load, cpu_ms, mails = measure(variant, next(fresh), state, directory, ids,
                                                      seconds, threads, trees[variant])
                        seen.setdefault((kind, variant), []).append(
                            (load.per_second, load.percentile(50), load.percentile(99), cpu_ms,
                             load.errors, mails))
    figures, targets = [], []
    for (kind, variant), runs in seen.items():
        rate = median([x[0] for x in runs])
        figures.append(Figure(f"{kind}: {variant}", rate, "requests/s",
                              f"p50 {median([x[1] for x in runs]):.1f} ms, "
                              f"p99 {median([x[2] for x in runs]):.1f} ms, CPU "
                              f"{median([x[3] for x in runs]):.2f} ms/request, "
                              f"e-mails written {median([x[5] for x in runs]):.0f}/s, "
                              f"errors {sum(x[4] for x in runs)}"))
    for kind in kinds:
        bare = median([x[0] for x in seen[kind, "bare FastAPI"]])
        for variant in [v for v in variants if v.startswith("ecps") and v != WORKERS_2]:
            ratio = median([x[0] for x in seen[kind, variant]]) / bare if bare else 0.0
            targets.append(Target(f"{kind}: {variant} / bare", ratio, 0.6, at_most=False))
        one = median([x[0] for x in seen[kind, "ecps serve"]])
        two = median([x[0] for x in seen[kind, WORKERS_2]])
        targets.append(Target(f"{kind}: {WORKERS_2} / ecps serve (one worker)",
                              two / one if one else 0.0, 1.5, at_most=False))
    notes = [f"{threads} client threads on keep-alive connections, {seconds:.0f} s per variant and "
             f"round after {WARM_UP} warm-up requests, at most {bound} requests; median of "
             f"{rounds} interleaved rounds; one server at a time, fresh database each",
             f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"]
    if problem:
        notes.append(f"PostgreSQL skipped: {problem}")
    return Result("http_server", "POST /activations of ecps serve against a bare FastAPI app",
                  figures=tuple(figures), targets=tuple(targets), notes=tuple(notes),
                  params={"seconds": seconds, "rounds": rounds, "threads": threads,
                          **({"before": before} if before else {})})


if __name__ == "__main__":
    raise SystemExit(main(run, options=(
        ("--pg-url", "PostgreSQL URL (postgresql://...)"),
        ("--folder", "where the SQLite files and state folders go"),
        ("--seconds", "seconds of load per variant and round"), ("--rounds", "interleaved rounds"),
        ("--threads", "client threads"), ("--requests", "most requests per run"),
        ("--before", "another source tree whose ecps serve runs as one more variant"))))
