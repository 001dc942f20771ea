"""The activation e-mail's QR code: `workflow.qr` against the `qrcode.make` + PIL path it replaced.

The variants draw the same real-sized deep link (82 bytes) as a PNG, round after round; the
figure of each is its median µs per QR code (wall and CPU of the thread).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable

import qrcode
from qrcode import util

from benchmarks.common import Figure, Result, Target, interleave, main
from workflow import qr
from workflow.messages import activation_email
from workflow.security import make_payload, new_activation_id, new_token

BUDGET_MS = 2.0
"""What one QR code may cost on the benchmark machine."""


def qrcode_make(payload: str) -> bytes:
    """The QR PNG as the e-mail drew it before: `qrcode.make` (eight masks tried), saved by PIL."""
    image = qrcode.make(payload, box_size=8, border=4)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue()


def qrcode_fixed_mask(payload: str) -> bytes:
    """A middle step: `qrcode` with version, level and mask fixed, still drawn and saved by PIL."""
    data = payload.encode()
    code = qrcode.QRCode(version=qr.layout(len(data)).version, error_correction=qr.LEVEL,
                         mask_pattern=qr.MASK, box_size=qr.BOX, border=qr.BORDER)
    code.add_data(util.QRData(data, mode=util.MODE_8BIT_BYTE))
    code.make(fit=False)
    buffer = io.BytesIO()
    code.make_image().save(buffer)
    return buffer.getvalue()


def _per_call(fn: Callable[[str], object], payloads: list[str]) -> Callable[[int], float]:
    """A variant: µs of wall time per call of `fn` over `payloads` (CPU kept in `_cpu`)."""
    def variant(_: int) -> float:
        clock, cpu = time.perf_counter, time.thread_time
        start, start_cpu = clock(), cpu()
        for p in payloads:
            fn(p)
        _cpu.setdefault(fn, []).append((cpu() - start_cpu) / len(payloads) * 1e6)
        return (clock() - start) / len(payloads) * 1e6
    return variant


_cpu: dict[Callable[[str], object], list[float]] = {}


def run(quick: bool = False, count: int | None = None, rounds: int | None = None) -> Result:
    """Time the QR PNG of an activation link: before (`qrcode.make`), fixed mask, and now."""
    count = int(count or (20 if quick else 200))
    rounds = int(rounds or (1 if quick else 7))
    payloads = [make_payload("ecps://activation", new_activation_id(), new_token())
                for _ in range(count)]
    qr.qr_png(payloads[0])  # the layout of this length is built once per process
    variants: dict[str, Callable[[str], object]] = {
        "qrcode.make + PIL (before)": qrcode_make,
        "qrcode, fixed version/level/mask, PIL": qrcode_fixed_mask,
        "workflow.qr (now)": qr.qr_png,
        "activation e-mail with its QR (now)": lambda p: activation_email(
            "jane.doe@domain.fr", "Dr Jane Doe", p, 60),
    }
    _cpu.clear()
    wall = interleave({name: _per_call(fn, payloads) for name, fn in variants.items()}, rounds)
    cpu = {name: sorted(_cpu[fn])[len(_cpu[fn]) // 2] for name, fn in variants.items()}
    before, now = wall["qrcode.make + PIL (before)"], wall["workflow.qr (now)"]
    figures = [Figure(name, wall[name], "µs", f"CPU {cpu[name]:.0f} µs") for name in variants]
    size_now, size_before = len(qr.qr_png(payloads[0])), len(qrcode_make(payloads[0]))
    figures.append(Figure("PNG size (now / before)", size_now, "bytes", f"before {size_before} bytes"))
    return Result(
        "qr_code", "the activation e-mail's QR PNG, before and now",
        figures=tuple(figures),
        targets=(Target("QR PNG now", now / 1000, BUDGET_MS, at_most=True, unit=" ms"),
                 Target("before / now", before / now, 5.0, at_most=False)),
        notes=(f"{count} random activation links of {len(payloads[0])} bytes, version "
               f"{qr.layout(len(payloads[0].encode())).version}, level M, mask {qr.MASK}; "
               f"median of {rounds} interleaved rounds",),
        params={"count": count, "rounds": rounds},
    )


if __name__ == "__main__":
    raise SystemExit(main(run, options=(("--count", "QR codes per variant and round"),
                                        ("--rounds", "interleaved rounds"))))
