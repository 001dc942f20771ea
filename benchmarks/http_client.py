"""The HTTP benchmark's client: threads on keep-alive connections to 127.0.0.1, bounded in count and time."""

from __future__ import annotations

import http.client
import json
import statistics
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Load:
    """What one run of the client saw."""

    done: int
    errors: int
    seconds: float
    latencies: tuple[float, ...]  # seconds, of the successful requests

    @property
    def per_second(self) -> float:
        """Successful requests per second."""
        return self.done / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        """The `p`-th percentile latency in milliseconds (0 without any)."""
        if len(self.latencies) < 2:
            return 1000 * (self.latencies[0] if self.latencies else 0.0)
        return 1000 * statistics.quantiles(self.latencies, n=100, method="inclusive")[int(p) - 1]


def post_activations(port: int, ids: Sequence[str], *, threads: int = 8, seconds: float = 5.0,
                     expect: int = 201, extra: Mapping[str, object] | None = None) -> Load:
    """POST /activations with each of `ids` (at most once) from `threads` threads, for at most `seconds`.

    `extra` holds more fields of the body (e.g. the device's public key).
    """
    more = dict(extra or {})
    lock = threading.Lock()
    cursor = iter(ids)
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors = [0] * threads
    stop_at = time.perf_counter() + seconds

    def worker(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = latencies[k]
        try:
            while time.perf_counter() < stop_at:
                with lock:
                    nid = next(cursor, None)
                if nid is None:
                    return
                body = json.dumps({"national_id": nid, "device_id": "bench", **more})
                start = time.perf_counter()
                conn.request("POST", "/activations", body, {"Content-Type": "application/json"})
                answer = conn.getresponse()
                answer.read()
                if answer.status == expect:
                    mine.append(time.perf_counter() - start)
                else:
                    errors[k] += 1
        except (OSError, http.client.HTTPException):
            errors[k] += 1
        finally:
            conn.close()

    workers = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join(seconds + 60)
    took = time.perf_counter() - start
    seen = tuple(x for per in latencies for x in per)
    return Load(len(seen), sum(errors), took, seen)
