"""Login and `status()` cost on SQLite after few and after many logins: append-only history.

One e-CPS is activated through `SqlStore` (WAL, synchronous=NORMAL, cheapest PIN hash); logins
are timed in a window after 10 of them and again after 10,000, as is `status()`. An event writes
only its own step and the row is a snapshot, so the ratios should stay near 1.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from adapters.sql import SqlStore
from benchmarks.common import PIN, Figure, Result, Target, _outbox_content, identifiers, main, service
from workflow import ActivationService
from workflow.domain import MessageKind


def _active(svc: ActivationService, nid: str) -> str:
    """A new e-CPS of `nid`, active (the phone reads the outbox, nothing is sent)."""
    aid = svc.request(nid, device_id="bench").activation_id
    svc.scan(aid, _outbox_content(svc, aid, MessageKind.ACTIVATION_EMAIL)["payload"])
    svc.verify_sms(aid, _outbox_content(svc, aid, MessageKind.SMS_CODE)["code"])
    svc.set_pin(aid, PIN)
    svc.confirm_pin(aid, PIN)
    return aid


def run(quick: bool = False, many: int | None = None, window: int | None = None) -> Result:
    """Per-login and per-status() microseconds after 10 and after 10,000 logins, and their ratios."""
    many = many or (300 if quick else 10_000)
    window = window or (30 if quick else 300)
    (nid,) = identifiers(1, start=3_000_000)
    with tempfile.TemporaryDirectory() as folder, SqlStore(
            f"sqlite:///{Path(folder) / 'logins.sqlite3'}", synchronous="NORMAL") as store:
        svc = service(store, [nid])
        aid = _active(svc, nid)

        def login_us() -> float:
            start = time.perf_counter()
            for _ in range(window):
                svc.authenticate(aid, PIN)
            return (time.perf_counter() - start) / window * 1e6

        def status_us() -> float:
            start = time.perf_counter()
            for _ in range(window):
                svc.status(aid)
            return (time.perf_counter() - start) / window * 1e6

        for _ in range(10):
            svc.authenticate(aid, PIN)
        early = (login_us(), status_us())
        done = 10 + window
        while done < many:
            svc.authenticate(aid, PIN)
            done += 1
        late = (login_us(), status_us())
        steps = svc.status(aid).history_total
    return Result(
        "login_cost", "login and status() after few and many logins (SQLite, append-only steps)",
        figures=(Figure("login after 10 logins", early[0], "µs"),
                 Figure(f"login after {many:,} logins", late[0], "µs"),
                 Figure("status() after 10 logins", early[1], "µs"),
                 Figure(f"status() after {many:,} logins", late[1], "µs"),
                 Figure("steps stored at the end", steps, "steps")),
        targets=(Target(f"login after {many:,} / after 10", late[0] / early[0], 1.2, at_most=True),
                 Target(f"status() after {many:,} / after 10", late[1] / early[1], 1.2, at_most=True)),
        notes=(f"windows of {window} calls, one run; the PIN hash at its cheapest cost",),
        params={"many": many, "window": window})


if __name__ == "__main__":
    raise SystemExit(main(run))
