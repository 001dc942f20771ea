"""Smoke runs of the QR and outbox benchmarks at tiny sizes (no timing is asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_benchmarks_smoke import _sane


def test_qr_code_times_before_and_now_side_by_side() -> None:
    """The QR benchmark times `qrcode.make`, the fixed-mask middle step, `workflow.qr` and the e-mail."""
    from benchmarks import qr_code

    result = qr_code.run(quick=True, count=3, rounds=1)
    _sane(result, "qr_code", {"qrcode.make + PIL (before)", "workflow.qr (now)",
                              "activation e-mail with its QR (now)"}, 2)
    assert result.value("workflow.qr (now)") > 0


def test_the_old_qr_path_still_draws_the_same_payload() -> None:
    """The baseline draws a PNG that decodes to its payload, so the comparison is like for like."""
    from adapters.files import decode_qr
    from benchmarks import qr_code

    payload = "ecps://activation?a=" + "a" * 16 + "&t=" + "B" * 43
    assert decode_qr(qr_code.qrcode_make(payload)) == [payload]
    assert decode_qr(qr_code.qrcode_fixed_mask(payload)) == [payload]


def test_outbox_measures_delivery_and_a_sustained_rate(tmp_path: Path) -> None:
    """The outbox benchmark drains every queued e-mail per variant, then runs both sustained loads."""
    from benchmarks import outbox

    result = outbox.run(quick=True, folder=str(tmp_path), count=6, rounds=1, rate=20, seconds=1,
                        before_seconds=1)
    _sane(result, "outbox", {"delivery, SQLite, QR now", "delivery, SQLite, qrcode.make QR (before)",
                             "sustained (now): backlog max"}, 3)
    assert result.value("sustained (now): requests/s achieved") > 0
    assert not list(tmp_path.iterdir()), "the temporary databases are removed"


def test_the_before_qr_is_swapped_in_only_inside_its_block() -> None:
    """`qr_drawn_by` draws e-mails with the given function within the block and restores today's after."""
    from benchmarks import outbox
    from workflow import messages, qr

    today = qr.qr_png
    with outbox.qr_drawn_by(lambda _: b"stand-in"):
        assert messages.qr_png("x") == b"stand-in"
    assert qr.qr_png is today
    assert messages.qr_png("x").startswith(b"\x89PNG")


def test_the_bare_app_validates_its_body_and_commits_one_row(tmp_path: Path) -> None:
    """The baseline answers 201 with an id for a valid body (one row stored) and 422 for a bad one."""
    import sqlite3

    from fastapi.testclient import TestClient

    from benchmarks import bare_app

    url = f"sqlite:///{tmp_path / 'bare.db'}"
    with TestClient(bare_app.create_app(url)) as client:
        ok = client.post("/activations", json={"national_id": "899700366240", "device_id": "x"})
        assert ok.status_code == 201
        assert len(ok.json()["activation_id"]) == 20
        assert client.post("/activations", json={"national_id": 1, "extra": 2}).status_code == 422
    with sqlite3.connect(tmp_path / "bare.db") as db:
        assert db.execute("SELECT count(*) FROM bare_activation").fetchone() == (1,)
    db.close()


@pytest.mark.slow
def test_http_server_compares_ecps_serve_with_the_bare_app(tmp_path: Path) -> None:
    """Every variant is served, loaded by the client without errors and stopped (SQLite only here)."""
    from benchmarks import http_server

    result = http_server.run(quick=True, pg_url="postgresql://nobody@127.0.0.1:1/none",
                             folder=str(tmp_path), seconds=0.25, threads=2,
                             requests=http_server.WARM_UP + 40)
    _sane(result, "http_server", {"sqlite: ecps serve", "sqlite: bare FastAPI",
                                  "sqlite: ecps serve + dispatch --loop process",
                                  "sqlite: ecps serve --workers 2"}, 4)
    assert "errors 0" in next(f.note for f in result.figures if f.name == "sqlite: ecps serve")
    assert any("PostgreSQL skipped" in n for n in result.notes)
    assert not list(tmp_path.iterdir()), "the databases and state folders are removed"
