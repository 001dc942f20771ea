"""A store failure answers 503 without telling the client where the database is."""

from __future__ import annotations

import logging

import pytest

from tests.e2e.http_device import DeviceClient
from tests.e2e.phone import NID, Phone
from workflow.errors import StorageError

WHERE = "postgresql+psycopg://postgres@db.internal:5432/ecps"


def test_a_storage_error_answers_503_and_names_the_database_only_in_the_log(
        phone: Phone, client: DeviceClient, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    def broken(*_: object, **__: object) -> None:
        raise StorageError(f"find failed on {WHERE}: OperationalError")

    monkeypatch.setattr(phone.svc.store, "find", broken)
    with caplog.at_level(logging.WARNING, logger="ecps.http"):
        r = client.post("/activations", json={"national_id": NID, "device_id": "phone-1"})
    assert r.status_code == 503, r.text
    assert r.json()["error"]["kind"] == "storage_error"
    assert "db.internal" not in r.text
    assert "postgres" not in r.text
    assert any("db.internal" in rec.getMessage() for rec in caplog.records)
