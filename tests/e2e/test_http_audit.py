"""The operator's audit route: it explains a row edited outside the service, which every other
route refuses."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.e2e.http_device import DeviceClient
from tests.e2e.phone import Phone
from tests.e2e.test_http import error
from tests.e2e.test_http_login import _active


def test_the_audit_route_explains_an_edited_row_instead_of_refusing_it(
        client: DeviceClient, phone: Phone, tmp_path: Path) -> None:
    """GET /activations/{id}/audit (operator): intact for a clean activation; for a row set to
    `revoked` in SQL, 200 naming what differs (where every other route refuses the row)."""
    aid = _active(client, phone)
    clean = client.operator("GET", f"/activations/{aid}/audit").json()
    assert (clean["intact"], clean["problems"], clean["events"] > 5) == (True, [], True)
    with sqlite3.connect(tmp_path / "ecps.sqlite3") as db:
        db.execute("UPDATE ecps_activation SET state = 'revoked' WHERE id = ?", (aid,))
    r = client.operator("GET", f"/activations/{aid}/audit")
    assert r.status_code == 200, r.text
    assert r.json()["intact"] is False
    assert "the row says revoked, its trail says active" in r.json()["problems"]
    error(client.operator("GET", "/activations/nosuch000000/audit"), 404, "not_found")
