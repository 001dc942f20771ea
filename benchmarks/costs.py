"""Production costs on their own: the PIN hash at its default setting, the QR e-mail, `ecps check`.

These are deliberately expensive or rare operations, kept out of the per-event figures of the
other benchmarks; no target, the numbers are for capacity planning.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import PIN, Figure, Result, identifiers, main, median, memory_service
from workflow.definition import DEFINITION
from workflow.messages import activation_email, qr_png
from workflow.security import Keyring, make_payload, new_activation_id, new_token
from workflow.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def _each(fn: Callable[[], object], times: int) -> float:
    """Median seconds of `times` calls of `fn`."""
    seen = []
    for _ in range(times):
        start = time.perf_counter()
        fn()
        seen.append(time.perf_counter() - start)
    return median(seen)


def pin_hash(times: int) -> tuple[float, float, Settings]:
    """(hash, verify) seconds of one PIN at the production defaults of `Settings`."""
    settings = Settings(secret_key="costs-key-" + "c" * 32)
    keys = Keyring(settings)
    stored = keys.hash_pin("activation-id", PIN)
    return (_each(lambda: keys.hash_pin("activation-id", PIN), times),
            _each(lambda: keys.verify_pin(stored, "activation-id", PIN), times), settings)


def qr_email(times: int) -> tuple[float, float]:
    """(QR PNG alone, whole activation e-mail) seconds for a real-sized payload."""
    payload = make_payload("ecps://activation", new_activation_id(), new_token())
    return (_each(lambda: qr_png(payload), times),
            _each(lambda: activation_email("jane.doe@domain.fr", "Dr Jane Doe", payload, 60), times))


def dispatch_email(times: int) -> float:
    """Seconds to dispatch one activation e-mail (decrypt, render with QR, hand to the mailer)."""
    ids = identifiers(times, start=7_000_000)
    svc = memory_service(ids)
    seen = []
    for nid in ids:
        svc.request(nid)
        start = time.perf_counter()
        sent = svc.dispatch()
        seen.append(time.perf_counter() - start)
        assert sent == 1
    return median(seen)


def model_check(times: int) -> tuple[float, int]:
    """(seconds, states explored) of the exhaustive check of the shipped definition."""
    from workflow.checker import check

    report = check(DEFINITION)
    assert report.ok, report.render()
    return _each(lambda: check(DEFINITION), times), report.states_explored


def check_command() -> float:
    """Wall seconds of `ecps check` as a fresh process (imports included)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "adapters.cli", "check"], cwd=ROOT,
                          capture_output=True, check=False, timeout=300)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"ecps check exited {done.returncode}: {done.stderr.decode()[-300:]}")
    return seconds


def run(quick: bool = False) -> Result:
    """Production costs on their own: PIN hash at the defaults, QR e-mail, model check."""
    hash_s, verify_s, settings = pin_hash(1 if quick else 7)
    qr_s, email_s = qr_email(3 if quick else 30)
    dispatch_s = dispatch_email(3 if quick else 30)
    check_s, states = model_check(1 if quick else 5)
    figures = [
        Figure("PIN hash (set_pin)", hash_s * 1e3, "ms",
               f"argon2id t={settings.argon2_time_cost}, {settings.argon2_memory_kib} KiB, "
               f"p={settings.argon2_parallelism}"),
        Figure("PIN verify (confirm_pin, authenticate)", verify_s * 1e3, "ms"),
        Figure("QR code PNG", qr_s * 1e3, "ms"),
        Figure("activation e-mail with its QR", email_s * 1e3, "ms", "workflow.messages.activation_email"),
        Figure("dispatch of one activation e-mail", dispatch_s * 1e3, "ms", "memory store and mailer"),
        Figure("model check of the definition", check_s * 1e3, "ms", f"{states} states explored"),
    ]
    if not quick:
        figures.append(Figure("`ecps check` as a process", check_command() * 1e3, "ms",
                              "interpreter start and imports included"))
    notes = ("medians of repeated calls; the PIN hash runs once per set_pin and the verify once per "
             "confirm_pin and authenticate, the QR once per e-mail sent",)
    return Result("costs", "production costs on their own", tuple(figures), (), notes,
                  params={"quick": quick})


if __name__ == "__main__":
    raise SystemExit(main(run))
