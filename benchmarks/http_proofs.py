"""Whole activations over HTTP (uvicorn on loopback, SQLite) with device proofs against without.

Each variant is its own app and SQLite file on its own uvicorn server in this process; one
client runs whole activations (request, scan, SMS code, PIN, confirmation, login: 6 calls)
one after the other, the variants in turn, batch after batch. "Without proofs" is the same
app with the proof check replaced by nothing (and the client signing nothing), so the ratio
is what the proofs cost the server over HTTP: the bigger header, verifying, the key lookup
and the `jti` insert. Signing is the phone's work, done before each timed call (the client
shares this process with the servers); the cost of one signature and of one verification
are reported apart.

    python -m benchmarks.http_proofs [--count 2000] [--batches 4]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from adapters.api import create_app
from adapters.api.guard import verify_proof
from adapters.api.settings import HttpSettings
from adapters.device import DeviceKey
from benchmarks.common import PIN, _outbox_content, bench_settings, identifiers, people
from workflow import ActivationService
from workflow.domain import MessageKind
from workflow.testing import FakeClock


def _service(folder: Path, ids: list[str], clock: FakeClock) -> ActivationService:
    from adapters.bootstrap import build_service
    from adapters.memory import MemoryMailer, MemorySms, StaticDirectory

    return build_service(None, state_dir=folder, mailer=MemoryMailer(), sms=MemorySms(),
                         directory=StaticDirectory(people(ids)), clock=clock,
                         settings=bench_settings())


@contextmanager
def _served(app: Any) -> Iterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not (server.started and server.servers):
        time.sleep(0.01)
    yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=10)


class Variant:
    """One app (with or without the proof check), its server and a client."""

    def __init__(self, folder: Path, ids: list[str], proofs: bool) -> None:
        self.clock = FakeClock()
        self.svc = _service(folder, ids, self.clock)
        self.app = create_app(self.svc, dispatch_every=None,
                              http=HttpSettings(request_rate=10**9))
        self.proofs = proofs
        if not proofs:
            guard = self.app.state.guard
            self.app.dependency_overrides[guard.device] = _nothing
            self.app.dependency_overrides[guard.device_or_operator] = _nothing
        self.seconds = 0.0
        self.done = 0

    def run(self, http: httpx.Client, base: str, nids: list[str]) -> None:
        """Whole activations of `nids`, timed (the phone's reads of the outbox excluded)."""
        for nid in nids:
            key = DeviceKey.generate()
            start = time.perf_counter()
            r = http.post("/activations", json={"national_id": nid, "device_key": key.public_jwk})
            assert r.status_code == 201, r.text
            aid = r.json()["activation_id"]
            self.seconds += time.perf_counter() - start
            payload = _outbox_content(self.svc, aid, MessageKind.ACTIVATION_EMAIL)["payload"]
            self._post(http, base, key, aid, "/scan", {"qr_payload": payload})
            code = _outbox_content(self.svc, aid, MessageKind.SMS_CODE)["code"]
            for suffix, body in (("/sms", {"code": code}), ("/pin", {"pin": PIN}),
                                 ("/pin/confirm", {"pin": PIN}), ("/authenticate", {"pin": PIN})):
                self._post(http, base, key, aid, suffix, body)
            self.done += 1

    def _post(self, http: httpx.Client, base: str, key: DeviceKey, aid: str, suffix: str,
              body: dict[str, str]) -> None:
        path = f"/activations/{aid}{suffix}"
        headers = {"DPoP": key.proof("POST", base + path, aid,
                                     iat=self.clock.now().timestamp())} if self.proofs else {}
        start = time.perf_counter()  # signing is the phone's work: reported apart, not timed
        r = http.post(path, json=body, headers=headers)
        self.seconds += time.perf_counter() - start
        assert r.status_code == 200, r.text


def _nothing() -> None:
    return None


def _unit_costs(number: int = 2000) -> dict[str, float]:
    """Microseconds to sign one proof and to verify one (ES256 and Ed25519)."""
    costs: dict[str, float] = {}
    for kind in ("P-256", "Ed25519"):
        key = DeviceKey.generate(kind)
        start = time.perf_counter()
        proofs = [key.proof("POST", "http://x/activations/a/scan", "a", iat=1000)
                  for _ in range(number)]
        costs[f"sign {kind} µs"] = (time.perf_counter() - start) / number * 1e6
        start = time.perf_counter()
        for p in proofs:
            verify_proof(p, "POST", "/activations/a/scan", "a", 1000, 60)
        costs[f"verify {kind} µs"] = (time.perf_counter() - start) / number * 1e6
    return costs


def run(count: int, batches: int) -> dict[str, Any]:
    """Run `count` whole activations per variant in `batches` turns; the figures."""
    ids = identifiers(count)
    with tempfile.TemporaryDirectory() as tmp:
        variants = {name: Variant(Path(tmp) / name, ids, proofs)
                    for name, proofs in (("with proofs", True), ("without proofs", False))}
        with _served(variants["with proofs"].app) as with_base, \
                _served(variants["without proofs"].app) as without_base:
            bases = {"with proofs": with_base, "without proofs": without_base}
            clients = {n: httpx.Client(base_url=b, timeout=60) for n, b in bases.items()}
            size = -(-count // batches)
            for b in range(batches):
                for name, variant in variants.items():
                    variant.run(clients[name], bases[name], ids[b * size:(b + 1) * size])
            for c in clients.values():
                c.close()
    figures: dict[str, Any] = {"activations per variant": count, "batches": batches}
    for name, v in variants.items():
        figures[f"{name}: activations/s"] = round(v.done / v.seconds, 1)
        figures[f"{name}: requests/s"] = round(6 * v.done / v.seconds, 1)
    ratio = figures["with proofs: activations/s"] / figures["without proofs: activations/s"]
    figures["throughput with / without"] = round(ratio, 3)
    figures["proof cost (share of throughput)"] = f"{(1 - ratio) * 100:.1f}%"
    figures.update({k: round(v, 1) for k, v in _unit_costs().items()})
    return figures


def main() -> None:
    """Command line: print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--batches", type=int, default=4)
    args = parser.parse_args()
    print(json.dumps(run(args.count, args.batches), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
