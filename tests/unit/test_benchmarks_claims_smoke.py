"""A smoke run of the outbox claims benchmark at tiny sizes (no timing is asserted)."""

from __future__ import annotations

from tests.unit.test_benchmarks_smoke import _sane


def test_claims_are_timed_now_and_before_side_by_side() -> None:
    """Both dispatchers deliver every event; both memory claims are timed with few and many sent."""
    from benchmarks import outbox_claims

    result = outbox_claims.run(quick=True, count=12, done=50, rounds=1)
    _sane(result, "outbox_claims", {"delivery, SQLite, claim per message (now)",
                                    "delivery, SQLite, one batch per claim (before)",
                                    "memory claim, 50 sent (now)",
                                    "memory claim, 50 sent (before: full scan)"}, 2)
