"""Smoke runs of the QR and outbox benchmarks at tiny sizes (no timing is asserted)."""

from __future__ import annotations

from pathlib import Path

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
