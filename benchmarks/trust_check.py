"""What checking rows against their trail costs per event: the service with the check and without.

Interleaved rounds over whole flows, on a memory store taken as an outside one (its rows sealed
and checked, as a database's are) and on a SQLite file; medians of µs per service call.
"""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Callable
from typing import Any

from adapters.memory import MemoryStore
from adapters.sql import SqlStore
from benchmarks.common import FLOW, flow, identifiers, service
from workflow.domain import Activation
from workflow.seal import Seals
from workflow.service import ActivationService


class _Outside(MemoryStore):
    """A memory store whose rows are sealed and checked, as if they lived outside the service."""

    in_process = False


_TRUSTED = ActivationService._trusted
_SEALED = Seals.sealed


def _no_check(_: ActivationService, a: Activation) -> Activation:
    return a


def _no_seal(*_: Any) -> None:
    return None


def _switch(on: bool) -> None:
    ActivationService._trusted = _TRUSTED if on else _no_check  # type: ignore[method-assign,assignment]
    Seals.sealed = _SEALED if on else _no_seal  # type: ignore[method-assign,assignment]


def _per_event(make_store: Callable[[], Any], count: int, start: int) -> float:
    ids = identifiers(count, start=start)
    svc = service(make_store(), ids)
    spent = [0.0] * len(FLOW)
    for nid in ids:
        flow(svc, nid, spent)
    return sum(spent) / (count * len(FLOW)) * 1e6


def main(rounds: int = 5) -> None:
    """Print, for each store, µs per event without and with the check."""
    folder = tempfile.mkdtemp(prefix="ecps-trust-")
    stores: dict[str, tuple[Callable[[], Any], int]] = {
        "memory (as outside)": (_Outside, 300),
        "SQLite file": (lambda: SqlStore(f"sqlite:///{tempfile.mkdtemp(dir=folder)}/b.sqlite3"), 60),
    }
    seen: dict[tuple[str, bool], list[float]] = {}
    start = 5_000_000
    try:
        for _ in range(rounds):
            for name, (make, count) in stores.items():
                for on in (False, True):
                    _switch(on)
                    start += count + 1
                    seen.setdefault((name, on), []).append(_per_event(make, count, start))
    finally:
        _switch(True)
    for name in stores:
        without, with_ = statistics.median(seen[(name, False)]), statistics.median(seen[(name, True)])
        print(f"{name}: {without:.1f} µs/event without the check, {with_:.1f} with it "
              f"({with_ - without:+.1f} µs, {100 * (with_ / without - 1):+.0f}%)")


if __name__ == "__main__":
    main()
