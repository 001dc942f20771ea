"""`ecps serve --workers N` as a subprocess on loopback: the per-identifier rules hold across
worker processes, each e-mail is sent once by the one dispatcher (the command's own process,
with one worker too), SIGTERM stops everything."""

from __future__ import annotations

import contextlib
import email
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from adapters.device import DeviceKey
from adapters.sql import SqlStore
from tests.e2e.conftest import Ecps, cli_env
from tests.e2e.test_http import NID
from tests.integration.smtp_stub import SmtpStub
from workflow.domain import Delivery

POSTS = 30
ADDRESS_RATE = 8  # POST /activations per address and minute, for all the workers together


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                found.append(int(entry.name))
    return found


def _workers(pid: int) -> list[int]:
    """The uvicorn worker processes of the server `pid` (spawned; not multiprocessing's tracker)."""
    def cmdline(child: int) -> str:
        try:
            return Path(f"/proc/{child}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return ""
    return [c for c in _children(pid) if "spawn_main" in cmdline(c)
            and "resource_tracker" not in cmdline(c)]


def _until(check: Callable[[], bool], what: str, seconds: float = 60) -> None:
    """Poll `check` until it holds (a failed assertion naming `what` after `seconds`)."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.fixture
def smtp() -> Iterator[SmtpStub]:
    """A local SMTP server that records every message it accepts."""
    stub = SmtpStub().start()
    yield stub
    stub.stop()


@pytest.fixture(params=[("sqlite", 2), ("sqlite", 1),
                        pytest.param(("postgres", 2), marks=pytest.mark.postgres)],
                ids=["sqlite-2", "sqlite-1", "postgres-2"])
def deployment(request: pytest.FixtureRequest, workdir: Path) -> tuple[str, int]:
    """A SQLite file in the working folder, or a fresh PostgreSQL schema; the worker count."""
    kind, workers = request.param
    if kind == "postgres":
        return str(request.getfixturevalue("pg_url")), workers
    return f"sqlite:///{workdir / 'ecps.sqlite3'}", workers


@pytest.mark.slow
def test_workers_keep_the_identifiers_rules_and_send_each_email_once(
        workdir: Path, deployment: tuple[str, int], smtp: SmtpStub) -> None:
    """30 concurrent POSTs for one identifier from one address over N worker processes (the
    dispatcher in the command's process): exactly ADDRESS_RATE get past the address's limit,
    counted by all the workers together, and 5 of them are accepted (the rest 429), each of
    their e-mails sent exactly once; SIGTERM ends the server and its workers, exit 0."""
    database, count = deployment
    port = _free_port()
    env = cli_env(ECPS_SMTP_URL=f"smtp://{smtp.host}:{smtp.port}", ECPS_REQUEST_RATE=str(ADDRESS_RATE))
    server = subprocess.Popen(
        [sys.executable, "-m", "adapters.cli", "serve", "--port", str(port), "--workers", str(count),
         "--dispatch-every", "0.05", "--database", database, "--log-level", "warning"],
        cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            def up() -> bool:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                try:
                    return (http.get("/healthz").status_code == 200
                            and len(_workers(server.pid)) == count)
                except httpx.TransportError:
                    return False
            _until(up, f"the server and its {count} worker(s) did not start")
            workers = _workers(server.pid)
            body = {"national_id": NID, "device_key": DeviceKey.generate().public_jwk}
            with ThreadPoolExecutor(POSTS) as pool:
                answers = list(pool.map(lambda _: http.post("/activations", json=body),
                                        range(POSTS)))
        assert Counter(a.status_code for a in answers) == {201: 5, 429: POSTS - 5}
        refusals = [a.json()["error"]["message"] for a in answers if a.status_code == 429]
        assert len([m for m in refusals if "from this address" in m]) == POSTS - ADDRESS_RATE
        accepted = [a.json()["activation_id"] for a in answers if a.status_code == 201]
        with SqlStore(database) as store:
            def settled() -> bool:
                return all(m.status != Delivery.PENDING for aid in accepted
                           for m in store.outbox_of(aid))
            _until(settled, "the outbox was not delivered")
            sent = [m for aid in accepted for m in store.outbox_of(aid) if m.status == Delivery.SENT]
            states = Counter(str(a.state) for a in map(store.get, accepted) if a is not None)
        ids = [email.message_from_bytes(r.data)["Message-ID"] for r in smtp.received]
        assert sent
        assert len(ids) == len(sent)
        assert sorted(Counter(ids).values()) == [1] * len(sent)  # each message once
        assert states == {"emailed": 1, "cancelled": 4}  # each request superseded the one before
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(timeout=60)
        finally:
            if server.poll() is None:
                server.kill()
    assert code == 0
    _until(lambda: not any(os.path.exists(f"/proc/{w}") and _alive(w) for w in workers),
           "a worker outlived the server")


def _alive(pid: int) -> bool:
    """True while `pid` runs (a zombie awaiting its parent counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_workers_cannot_share_an_in_memory_database(ecps: Ecps) -> None:
    """`--workers 2` over `sqlite://` is refused in one line before anything listens."""
    done = ecps("serve", "--port", str(_free_port()), "--workers", "2", "--database", "sqlite://")
    assert done.returncode != 0
    assert "in-memory database cannot be shared by worker processes" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_a_worker_stops_when_its_parent_is_killed(workdir: Path) -> None:
    """SIGKILL of the command (the supervisor, with the dispatcher): its one worker stops too
    and the port is free again; no orphan keeps answering without a dispatcher."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "adapters.cli", "serve", "--port", str(port), "--workers", "1",
         "--database", f"sqlite:///{workdir / 'ecps.sqlite3'}", "--log-level", "warning"],
        cwd=workdir, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    workers: list[int] = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            def up() -> bool:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                try:
                    return http.get("/healthz").status_code == 200 and len(_workers(server.pid)) == 1
                except httpx.TransportError:
                    return False
            _until(up, "the server and its worker did not start")
        workers = _workers(server.pid)
        [worker] = workers
        server.kill()
        server.wait(timeout=30)
        _until(lambda: not _alive(worker), "the worker outlived its killed parent")
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))  # free again
        stderr = server.stderr.read() if server.stderr else ""
        assert "Traceback" not in stderr
    finally:
        if server.poll() is None:
            server.kill()
        for w in workers:  # never left running by a failure of this test
            with contextlib.suppress(ProcessLookupError):
                os.kill(w, signal.SIGKILL)


@pytest.mark.slow
def test_two_servers_started_at_once_on_one_port_leave_one_running(workdir: Path) -> None:
    """Both check the port at the same moment: one serves, the other ends in one line with
    `port_busy` (22), no worker of it restarted in a loop, no traceback."""
    port = _free_port()
    command = [sys.executable, "-m", "adapters.cli", "serve", "--port", str(port), "--workers", "1",
               "--log-level", "warning"]
    servers = [subprocess.Popen([*command, "--database", f"sqlite:///{workdir / f'{n}.sqlite3'}"],
                                cwd=workdir, env=cli_env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True) for n in range(2)]
    try:
        _until(lambda: any(s.poll() is not None for s in servers), "neither server stopped")
        [refused] = [s for s in servers if s.poll() is not None]
        [running] = [s for s in servers if s is not refused]
        assert refused.returncode == 22
        stderr = refused.stderr.read() if refused.stderr else ""
        assert [line for line in stderr.splitlines() if line.startswith("error:")] == [
            f"error: port {port} on 127.0.0.1 is already in use: stop the other server, or choose "
            "another --port [port_busy, exit 22]"], stderr
        assert "Traceback" not in stderr
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            def up() -> bool:
                assert running.poll() is None
                try:
                    return http.get("/healthz").status_code == 200
                except httpx.TransportError:
                    return False
            _until(up, "the other server did not start")
    finally:
        for s in servers:
            if s.poll() is None:
                s.terminate()
                try:
                    s.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    s.kill()


@pytest.mark.parametrize(("trusted", "limited"), [("", True), ("127.0.0.1", False)])
def test_forwarded_addresses_count_only_from_the_proxies_given(
        workdir: Path, trusted: str, limited: bool) -> None:
    """With `--forwarded-allow-ips ''` a client's own X-Forwarded-For is ignored: its requests
    count under its address and the third of a limit of two is 429; from a proxy given (the
    default, 127.0.0.1) the header names the client, as a proxy that sets it intends."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "adapters.cli", "serve", "--port", str(port), "--workers", "1",
         "--dispatch-every", "0", "--forwarded-allow-ips", trusted, "--log-level", "warning"],
        cwd=workdir, env=cli_env(ECPS_REQUEST_RATE="2"), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            def up() -> bool:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                try:
                    return http.get("/healthz").status_code == 200
                except httpx.TransportError:
                    return False
            _until(up, "the server did not start")
            body = {"national_id": NID, "device_key": DeviceKey.generate().public_jwk}
            codes = [http.post("/activations", json=body,
                               headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code
                     for n in range(3)]
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        finally:
            if server.poll() is None:
                server.kill()
    assert (codes[2] == 429) is limited
    assert codes[:2] == [201, 201]
