"""`UtcDateTime` keeps the times it converted, each way, without changing what it converts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects import sqlite

from adapters.sql import schema
from adapters.sql.schema import UtcDateTime

DIALECT = sqlite.dialect()
AT = datetime(2026, 12, 8, 9, 30, 1, 250000, tzinfo=UTC)


def test_kept_times_convert_as_new_ones() -> None:
    """A time written or read again gives the same text or time; another zone is its UTC text."""
    t = UtcDateTime()
    text = t.process_bind_param(AT, DIALECT)
    assert text == "2026-12-08 09:30:01.250000"
    assert t.process_bind_param(AT, DIALECT) == text
    paris = AT.astimezone(timezone(timedelta(hours=1)))
    assert t.process_bind_param(paris, DIALECT) == text
    assert t.process_result_value(text, DIALECT) == AT
    again = t.process_result_value(text, DIALECT)
    assert again == AT
    assert again.tzinfo is UTC
    with pytest.raises(ValueError, match="timezone-aware"):
        t.process_bind_param(AT.replace(tzinfo=None), DIALECT)


def test_an_unreadable_time_is_never_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """A text that is no stored time comes back as it is, every time; the kept times stay bounded."""
    monkeypatch.setattr(schema, "REMEMBERED_TIMES", 3)
    monkeypatch.setattr(schema, "_TIMES", {})
    t = UtcDateTime()
    for _ in range(2):
        assert t.process_result_value("2026-02-30 00:00:00.000000", DIALECT) == "2026-02-30 00:00:00.000000"
    assert schema._TIMES == {}
    for day in range(1, 8):
        read = t.process_result_value(f"2026-01-0{day} 00:00:00.000000", DIALECT)
        assert read == datetime(2026, 1, day, tzinfo=UTC)
        assert len(schema._TIMES) <= 3
