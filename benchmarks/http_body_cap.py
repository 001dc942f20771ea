"""The body cap under attack: four concurrent chunked 100 MB uploads against `ecps serve`.

Starts `ecps serve` on a loopback port in a fresh state folder, notes its resident memory
once warm (idle), then sends four 100 MB chunked bodies at once to POST /activations while
sampling the server's memory; reports idle, peak, the difference and each upload's answer.

    python -m benchmarks.http_body_cap [--megabytes 100] [--uploads 4]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _body(megabytes: int) -> Iterator[bytes]:
    chunk = b"x" * (1 << 20)
    for _ in range(megabytes):
        yield chunk


def _upload(base: str, megabytes: int, answers: list[str]) -> None:
    try:
        with httpx.Client(base_url=base, timeout=120) as http:
            r = http.post("/activations", content=_body(megabytes),
                          headers={"Content-Type": "application/json"})
            answers.append(str(r.status_code))
    except httpx.HTTPError as exc:  # the server answered 413 and closed mid-upload
        answers.append(f"closed by the server ({type(exc).__name__})")


def run(megabytes: int, uploads: int) -> dict[str, Any]:
    """The figures of one attack."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECPS_")}
    env["PYTHONPATH"] = str(ROOT)
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen(
            [sys.executable, "-m", "adapters.cli", "serve", "--port", str(port), "--state-dir",
             tmp, "--log-level", "warning", "--dispatch-every", "0"], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=base, timeout=10) as http:
                while True:
                    try:
                        http.get("/healthz")
                        break
                    except httpx.TransportError:
                        time.sleep(0.1)
                for _ in range(20):  # warm: the same small refused requests as the attack's start
                    http.post("/activations", content=b"{}",
                              headers={"Content-Type": "application/json"})
            time.sleep(0.5)
            idle = _rss_mib(server.pid)
            peak = idle
            answers: list[str] = []
            threads = [threading.Thread(target=_upload, args=(base, megabytes, answers))
                       for _ in range(uploads)]
            started = time.perf_counter()
            for t in threads:
                t.start()
            while any(t.is_alive() for t in threads):
                peak = max(peak, _rss_mib(server.pid))
                time.sleep(0.02)
            seconds = time.perf_counter() - started
            after = _rss_mib(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
    return {"uploads": uploads, "megabytes each": megabytes, "idle RSS MiB": round(idle, 1),
            "peak RSS MiB": round(peak, 1), "peak - idle MiB": round(peak - idle, 1),
            "after RSS MiB": round(after, 1), "seconds": round(seconds, 2), "answers": answers}


def main() -> None:
    """Command line: print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=100)
    parser.add_argument("--uploads", type=int, default=4)
    args = parser.parse_args()
    print(json.dumps(run(args.megabytes, args.uploads), indent=2))


if __name__ == "__main__":
    main()
