"""Whole activations over HTTP: `ecps serve` on 127.0.0.1 and phones that read its e-mail and SMS files.

Each phone (a client thread) asks for an activation with a device key of its own, waits for
the e-mail the server's dispatcher writes, sends the link it holds, waits for the SMS, sends
the code, chooses and confirms the PIN, then logs in, every call with a fresh DPoP proof.
Activations per second, p50/p99 of a whole activation (waits included), and the server's CPU
per activation; with `--workers 2` the command's own process runs only the dispatcher, so its
CPU per activation is what one activation's e-mail and SMS cost to deliver. Bounded in count
and time; one server at a time, fresh database each, interleaved rounds.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from pathlib import Path

import httpx

from adapters.device import DeviceKey
from benchmarks.common import PIN, Figure, Result, identifiers, main, median, people
from benchmarks.http_server import _cpu_seconds, databases, serving
from benchmarks.postgres_workers import DEFAULT_URL, reachable
from workflow import security

_LINK = re.compile(r"\S+://\S+\?a=([A-Za-z0-9_-]+)&t=[A-Za-z0-9_-]+")
_CODE = re.compile(r"(?<!\d)\d{6}(?!\d)")
VARIANTS = ("ecps serve", "ecps serve --workers 2")


class Inbox:
    """What the server wrote for the phones, read as it arrives: links by activation, codes by phone."""

    def __init__(self, state: Path) -> None:
        self.mail, self.sms = state / "mail", state / "sms.txt"
        self.links: dict[str, str] = {}
        self.codes: dict[str, str] = {}
        self._seen: set[str] = set()
        self._offset = 0
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(0.01):
            found: dict[str, str] = {}
            if self.mail.is_dir():
                for path in self.mail.glob("*.eml"):
                    if path.name not in self._seen:
                        self._seen.add(path.name)
                        body = message_from_bytes(path.read_bytes(), policy=policy.default)
                        text = body.get_body(("plain",))
                        link = _LINK.search(text.get_content() if text is not None else "")
                        if link:
                            found[link.group(1)] = link.group(0)
            codes: dict[str, str] = {}
            if self.sms.exists():
                with self.sms.open("rb") as f:
                    f.seek(self._offset)
                    chunk = f.read()
                complete = chunk[: chunk.rfind(b"\n") + 1]
                self._offset += len(complete)
                for line in complete.decode().splitlines():
                    record = json.loads(line)
                    if code := _CODE.search(record["text"]):
                        codes[record["to"]] = code.group(0)
            if found or codes:
                with self._changed:
                    self.links.update(found)
                    self.codes.update(codes)
                    self._changed.notify_all()

    def wait(self, table: dict[str, str], key: str, timeout: float = 60) -> str:
        """The value of `key` in `table` once the watcher has read it (removed from the table)."""
        with self._changed:
            if not self._changed.wait_for(lambda: key in table, timeout):
                raise TimeoutError(f"nothing arrived for {key} within {timeout:g} s")
            return table.pop(key)

    @contextmanager
    def watching(self) -> Iterator[Inbox]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(5)


def activate(http: httpx.Client, inbox: Inbox, nid: str, phone: str) -> None:
    """One whole activation over HTTP, as the app would make it."""
    key = DeviceKey.generate()
    started = http.post("/activations", json={"national_id": nid, "device_key": key.public_jwk})
    started.raise_for_status()
    aid = started.json()["activation_id"]

    def call(path: str, body: dict[str, str]) -> None:
        url = f"{http.base_url}activations/{aid}{path}"
        http.post(url, json=body, headers={"DPoP": key.proof("POST", url, aid)}).raise_for_status()

    call("/scan", {"qr_payload": inbox.wait(inbox.links, aid)})
    call("/sms", {"code": inbox.wait(inbox.codes, phone)})
    call("/pin", {"pin": PIN})
    call("/pin/confirm", {"pin": PIN})
    call("/authenticate", {"pin": PIN})


def measure(variant: str, url: str, state: Path, directory: Path, ids: list[str],
            phones: dict[str, str], seconds: float, threads: int
            ) -> tuple[float, list[float], float, float, int]:
    """(activations/s, each one's seconds, server CPU ms per activation, dispatcher process CPU
    ms per activation, failures) of `threads` phones for at most `seconds`; `phones` holds
    each identifier's mobile number as the directory gives it."""
    queue = iter(ids)
    lock = threading.Lock()
    took: list[float] = []
    failed = [0]
    with serving(variant, url, state, directory) as (port, pids), Inbox(state).watching() as inbox:
        stop_at = time.perf_counter() + seconds

        def phone_loop() -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}/", timeout=60) as http:
                while time.perf_counter() < stop_at:
                    with lock:
                        nid = next(queue, None)
                    if nid is None:
                        return
                    start = time.perf_counter()
                    try:
                        activate(http, inbox, nid, phones[nid])
                    except (httpx.HTTPError, TimeoutError):
                        with lock:
                            failed[0] += 1
                        continue
                    with lock:
                        took.append(time.perf_counter() - start)

        own = _own_cpu(pids[0])
        cpu = _cpu_seconds(pids[0])
        start = time.perf_counter()
        workers = [threading.Thread(target=phone_loop) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(seconds + 120)
        elapsed = time.perf_counter() - start
        cpu, own = _cpu_seconds(pids[0]) - cpu, _own_cpu(pids[0]) - own
    done = max(len(took), 1)
    return len(took) / elapsed, took, 1000 * cpu / done, 1000 * own / done, failed[0]


def _own_cpu(pid: int) -> float:
    """CPU seconds of process `pid` alone (not its children)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(quick: bool = False, pg_url: str | None = None, seconds: float | None = None,
        rounds: int | None = None, threads: int | None = None) -> Result:
    """Whole activations per second over HTTP with p50/p99, one and two worker processes."""
    seconds = float(seconds or (3 if quick else 10))
    rounds = int(rounds or (1 if quick else 2))
    threads = int(threads or 8)
    bound = 300 if quick else 5_000
    admin_url = pg_url or DEFAULT_URL
    problem = reachable(admin_url)
    kinds = ["sqlite"] if problem else ["sqlite", "postgresql"]
    seen: dict[tuple[str, str], list[tuple[float, list[float], float, float, int]]] = {}
    with tempfile.TemporaryDirectory(prefix="ecps-flow-") as tmp:
        root = Path(tmp)
        ids = identifiers(bound * rounds * len(VARIANTS) * len(kinds), start=8_000_000)
        directory = root / "directory.json"
        everyone = people(ids)
        directory.write_text(json.dumps({"professionals": [
            {"national_id": p.national_id, "email": p.email, "phone": p.phone, "name": p.name}
            for p in everyone]}))
        phones = {p.national_id: security.clean_phone(p.phone) for p in everyone}
        chunks = iter(range(0, len(ids), bound))
        for kind in kinds:
            with databases(kind, admin_url, root) as fresh:
                for r in range(rounds):
                    for n, variant in enumerate(VARIANTS):
                        at = next(chunks)
                        seen.setdefault((kind, variant), []).append(measure(
                            variant, next(fresh), root / f"state-{kind}-{r}-{n}", directory,
                            ids[at:at + bound], phones, seconds, threads))
    figures = []
    for (kind, variant), runs in seen.items():
        latencies = [t for x in runs for t in x[1]]
        p50, p99 = (statistics.quantiles(latencies, n=100, method="inclusive")[i] * 1000
                    for i in (49, 98)) if len(latencies) > 1 else (0.0, 0.0)
        dispatcher = (f", dispatcher process {median([x[3] for x in runs]):.2f} ms/activation"
                      if variant.endswith("2") else "")
        figures.append(Figure(f"{kind}: {variant}", median([x[0] for x in runs]), "activations/s",
                              f"p50 {p50:.0f} ms, p99 {p99:.0f} ms, server CPU "
                              f"{median([x[2] for x in runs]):.2f} ms/activation{dispatcher}, "
                              f"failures {sum(x[4] for x in runs)}"))
    notes = [f"{threads} phones, {seconds:.0f} s per variant and round, at most {bound} activations "
             f"each; medians of {rounds} interleaved rounds; cheapest PIN hash",
             f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"]
    if problem:
        notes.append(f"PostgreSQL skipped: {problem}")
    return Result("http_flow", "whole activations over HTTP (request to login), phones on files",
                  figures=tuple(figures), notes=tuple(notes),
                  params={"seconds": seconds, "rounds": rounds, "threads": threads})


if __name__ == "__main__":
    raise SystemExit(main(run, options=(
        ("--pg-url", "PostgreSQL URL (postgresql://...)"),
        ("--seconds", "seconds of load per variant and round"), ("--rounds", "interleaved rounds"),
        ("--threads", "phones at once"))))
