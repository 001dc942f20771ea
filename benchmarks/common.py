"""What every benchmark shares: the flow it times, the phone, interleaved rounds, the command line."""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from adapters.bench import Figure, Result, Target, machine
from adapters.memory import MemoryMailer, MemorySms, MemoryStore, StaticDirectory
from workflow import ActivationService, Settings
from workflow.definition import WORKFLOW, Event, State
from workflow.domain import MessageKind
from workflow.messages import DirectoryEntry
from workflow.ports import Store
from workflow.security import luhn_ok
from workflow.testing import FakeClock

__all__ = ["FLOW", "PIN", "Figure", "Result", "Target", "advance", "bench_settings", "flow", "identifiers",
           "interleave", "main", "median", "memory_service", "people", "service"]

PIN = "4821"
FLOW = ("request", "scan", "verify_sms", "set_pin", "confirm_pin", "authenticate")
"""The calls of one activation, from the request to the first login (7 steps, 6 calls)."""
TRANSITIONS = ("email_sent", "scan", "verify_sms", "set_pin", "confirm_pin", "authenticate")
"""The machine's edges the same flow takes after `request` created the record."""
BENCH_KEY = "bench-key-" + "b" * 32


def bench_settings(**overrides: Any) -> Settings:
    """Settings with the PIN hash at its cheapest allowed cost (production cost is in `costs`)."""
    base: dict[str, Any] = {"secret_key": BENCH_KEY, "argon2_memory_kib": 8, "argon2_time_cost": 1,
                            "argon2_parallelism": 1}
    base.update(overrides)
    return Settings(**base)


def identifiers(count: int, start: int = 0) -> list[str]:
    """`count` well-formed identifiants nationaux (8 + RPPS with its Luhn key), from `start`."""
    found: list[str] = []
    for n in range(start, start + count):
        body = f"{10_000_000_00 + n:010d}"
        key = next(d for d in "0123456789" if luhn_ok(body + d))
        found.append("8" + body + key)
    return found


def people(ids: Sequence[str]) -> list[DirectoryEntry]:
    """Fictional directory entries for `ids`."""
    return [DirectoryEntry(nid, f"pro.{i}@clinique.fr", f"06{i % 10**8:08d}", f"Dr Pro {i}")
            for i, nid in enumerate(ids)]


def service(store: Store, ids: Sequence[str], settings: Settings | None = None,
            clock: FakeClock | None = None) -> ActivationService:
    """A service over `store` whose directory knows `ids`; mail and SMS are recorded, never sent."""
    return ActivationService(store=store, mailer=MemoryMailer(), sms=MemorySms(),
                             directory=StaticDirectory(people(ids)), clock=clock or FakeClock(),
                             settings=settings or bench_settings())


def memory_service(ids: Sequence[str], settings: Settings | None = None) -> ActivationService:
    """A service over a fresh `MemoryStore`."""
    return service(MemoryStore(), ids, settings)


def _outbox_content(svc: ActivationService, aid: str, kind: MessageKind) -> dict[str, str]:
    """What the newest outbox message of `kind` carries (as the phone would read it)."""
    messages = [m for m in svc.store.outbox_of(aid) if m.kind == kind]
    content: dict[str, str] = json.loads(svc.keys.unseal(messages[-1].payload))
    return content


def flow(svc: ActivationService, nid: str, spent: list[float]) -> str:
    """Run one activation of `nid` from request to first login; adds each call's seconds to `spent`.

    The phone reads the QR payload and the SMS code from the outbox between the timed calls,
    so nothing is dispatched: no QR image is rendered (its cost is in `costs`).
    """
    clock = time.perf_counter
    t0 = clock()
    aid = svc.request(nid, device_id="bench-phone").activation_id
    t1 = clock()
    payload = _outbox_content(svc, aid, MessageKind.ACTIVATION_EMAIL)["payload"]
    t2 = clock()
    svc.scan(aid, payload)
    t3 = clock()
    code = _outbox_content(svc, aid, MessageKind.SMS_CODE)["code"]
    t4 = clock()
    svc.verify_sms(aid, code)
    t5 = clock()
    svc.set_pin(aid, PIN)
    t6 = clock()
    svc.confirm_pin(aid, PIN)
    t7 = clock()
    svc.authenticate(aid, PIN)
    t8 = clock()
    for i, seconds in enumerate((t1 - t0, t3 - t2, t5 - t4, t6 - t5, t7 - t6, t8 - t7)):
        spent[i] += seconds
    return aid


def advance(state: State, call: str) -> State:
    """The state after one call of `FLOW` past `request` (a scan while requested records email_sent)."""
    if call == "scan" and state == State.REQUESTED:
        state = WORKFLOW.fire(state, Event.EMAIL_SENT)
    return WORKFLOW.fire(state, Event(call))


def median(values: Sequence[float]) -> float:
    """The median (the figure reported for repeated rounds)."""
    return float(statistics.median(values))


def interleave(variants: Mapping[str, Callable[[int], float]], rounds: int) -> dict[str, float]:
    """Run each variant once per round, in turn, and return each one's median over the rounds.

    A variant gets the round number and returns its own measure (e.g. µs per event): running
    them side by side spreads the machine's noise over all of them alike.
    """
    seen: dict[str, list[float]] = {name: [] for name in variants}
    for r in range(rounds):
        for name, variant in variants.items():
            seen[name].append(variant(r))
    return {name: median(values) for name, values in seen.items()}


def timed(fn: Callable[[], object], number: int) -> float:
    """Seconds per call of `fn`, over `number` calls."""
    clock = time.perf_counter
    start = clock()
    for _ in range(number):
        fn()
    return (clock() - start) / number


def rss_kib() -> int:
    """This process's resident memory in KiB (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except OSError:
        return 0
    import resource

    return pages * resource.getpagesize() // 1024


def main(run: Callable[..., Result], argv: Sequence[str] | None = None,
         options: Sequence[tuple[str, str]] = ()) -> int:
    """Command line of a benchmark module: `--quick`, `--json` and its own `--option VALUE`s."""
    parser = argparse.ArgumentParser(description=(run.__doc__ or "").strip().splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (seconds, not minutes)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    for flag, help_text in options:
        parser.add_argument(flag, help=help_text)
    args = vars(parser.parse_args(argv))
    quick, as_json = args.pop("quick"), args.pop("json")
    result = run(quick=quick, **{k: v for k, v in args.items() if v is not None})
    if as_json:
        print(json.dumps({"machine": machine(), "result": result.to_dict()}, indent=2))
    else:
        info = machine()
        print(f"machine: {info['nproc']} x {info['cpu']}, Python {info['python']}, "
              f"SQLite {info['sqlite']}")
        print(result.table())
    return 0
