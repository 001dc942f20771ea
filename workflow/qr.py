"""The QR code of a payload as a PNG, drawn in well under a millisecond, and read back.

`qrcode` lays out each size once (function patterns, format bits, where each data bit goes,
its Reed-Solomon arithmetic); an e-mail only computes its codewords and writes a 1-bit PNG.
`decode` reads QR codes as a phone's camera would (zxing-cpp, of the `[cli]` and `[testing]`
extras).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from operator import itemgetter

import qrcode
from qrcode import LUT, base, util
from qrcode.constants import ERROR_CORRECT_M

LEVEL = ERROR_CORRECT_M
"""Error correction M (15 %), `qrcode`'s default."""
MASK = 2
"""A fixed mask pattern: the one `qrcode`'s penalty picks most often for activation links."""
BOX = 8
"""Pixels per module: a module is then exactly one byte of a 1-bit PNG row."""
BORDER = 4
"""The quiet zone, in modules, that the QR standard asks for."""
DARK, LIGHT = 0x00, 0xFF  # one module's byte in a 1-bit grayscale row (0 is black)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def qr_png(payload: str) -> bytes:
    """The QR code of `payload` (byte mode, level M) as PNG bytes, 8 pixels a module."""
    data = payload.encode()
    return layout(len(data)).png(data)


@lru_cache(maxsize=32)
def layout(length: int) -> Layout:
    """The layout `qrcode` gives a byte-mode payload of `length` bytes at `LEVEL` and `MASK`."""
    probe = qrcode.QRCode(error_correction=LEVEL)
    probe.add_data(util.QRData(b"\0" * length, mode=util.MODE_8BIT_BYTE))
    version: int = probe.best_fit()
    blocks = [(b.data_count, b.total_count - b.data_count) for b in base.rs_blocks(version, LEVEL)]
    data_words = sum(d for d, _ in blocks)
    total_words = sum(d + e for d, e in blocks)
    cells, mask_bits, picks = _placement(version, total_words)
    return Layout(
        version=version, size=4 * version + 17 + 2 * BORDER, blocks=tuple(blocks),
        count_bits=util.length_in_bits(util.MODE_8BIT_BYTE, version), data_words=data_words,
        data_cells=cells, mask=mask_bits,
        interleave=itemgetter(*_interleaving(blocks)),
        draw=itemgetter(*picks),
        feedback={ec: _feedback(ec) for _, ec in blocks},
    )


@dataclass(frozen=True, slots=True)
class Layout:
    """What does not change between two payloads of the same length, and how to fill it in."""

    version: int
    size: int  # modules a side, quiet zone included
    blocks: tuple[tuple[int, int], ...]  # (data, error correction) codewords of each block
    count_bits: int
    data_words: int
    data_cells: int  # modules holding data bits (remainder bits included)
    mask: int  # the mask over the data cells, in placement order, first cell highest
    interleave: Callable[[bytes], tuple[int, ...]]
    draw: Callable[[bytes], tuple[int, ...]]
    feedback: dict[int, tuple[int, ...]]

    def codewords(self, data: bytes) -> bytes:
        """The data and error-correction codewords of `data`, interleaved as placed."""
        bits = ((0b0100 << self.count_bits) | len(data)) << 8 * len(data)
        used = 4 + self.count_bits + 8 * len(data)
        if used > 8 * self.data_words:
            raise ValueError(f"{len(data)} bytes do not fit version {self.version}")
        tail = min(4, 8 * self.data_words - used)  # terminator, then zeros to a whole byte
        tail += -(used + tail) % 8
        body = ((bits | int.from_bytes(data)) << tail).to_bytes((used + tail) // 8)
        body += b"\xec\x11" * self.data_words
        words, corrections, start = [], [], 0
        for count, ec in self.blocks:
            block = body[start:start + count]
            words.append(block)
            corrections.append(_remainder(block, self.feedback[ec], ec))
            start += count
        return bytes(self.interleave(b"".join(words) + b"".join(corrections)))

    def modules(self, data: bytes) -> bytes:
        """One byte per module (`DARK` or `LIGHT`), row by row, quiet zone included."""
        words = self.codewords(data)
        bits = (int.from_bytes(words) << (self.data_cells - 8 * len(words))) ^ self.mask
        placed = f"{bits:0{self.data_cells}b}".encode().translate(_BIT_BYTES)
        return bytes(self.draw(placed + bytes((DARK, LIGHT))))

    def png(self, data: bytes) -> bytes:
        """The QR code of `data` as a 1-bit grayscale PNG, `BOX` pixels a module.

        Each row of modules is written once, then repeated by `BOX - 1` rows filtered "Up"
        (all zeros), which run-length deflate compresses in a few microseconds.
        """
        cells, side = self.modules(data), self.size
        repeat = (b"\x02" + bytes(side)) * (BOX - 1)
        raw = b"".join(b"\x00" + cells[i:i + side] + repeat for i in range(0, side * side, side))
        deflate = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
        pixels = side * BOX
        header = struct.pack(">IIBBBBB", pixels, pixels, 1, 0, 0, 0, 0)
        return b"".join((_PNG_SIGNATURE, _chunk(b"IHDR", header),
                         _chunk(b"IDAT", deflate.compress(raw) + deflate.flush()),
                         _chunk(b"IEND", b"")))


_BIT_BYTES = bytes.maketrans(b"01", bytes((LIGHT, DARK)))


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _remainder(block: bytes, feedback: Sequence[int], ec: int) -> bytes:
    """The `ec` error-correction codewords of one block (the Reed-Solomon division, by table)."""
    top, full, rem = 8 * (ec - 1), (1 << 8 * ec) - 1, 0
    for byte in block:
        rem = ((rem << 8) & full) ^ feedback[(rem >> top) ^ byte]
    return rem.to_bytes(ec)


@cache
def _feedback(ec: int) -> tuple[int, ...]:
    """For each byte f, f·x^ec modulo `qrcode`'s generator of degree `ec`, as an integer."""
    if ec in LUT.rsPoly_LUT:
        generator = base.Polynomial(LUT.rsPoly_LUT[ec], 0)
    else:  # as `qrcode.util.create_bytes` builds it
        generator = base.Polynomial([1], 0)
        for i in range(ec):
            generator = generator * base.Polynomial([1, base.gexp(i)], 0)
    table = [0]
    for f in range(1, 256):
        rest = list(base.Polynomial([f], ec) % generator)
        table.append(int.from_bytes(bytes(rest[-ec:]).rjust(ec, b"\0")))
    return tuple(table)


def _placement(version: int, total_words: int) -> tuple[int, int, list[int]]:
    """(data cells, mask bits in placement order, what `draw` picks per module), from `qrcode`.

    `qrcode` places probe data whose bits spell each bit's index, one binary digit per probe,
    so every data cell is found with its place in the bit stream; the cells that differ
    between an all-zero and an all-one probe hold data, the others are the layout's own.
    """
    length = total_words + 1  # one more byte covers the remainder bits
    code = qrcode.QRCode(version=version, error_correction=LEVEL, mask_pattern=MASK, border=0)

    def place(data: bytes) -> list[list[bool]]:
        code.data_cache = list(data)
        code.makeImpl(False, MASK)
        return [list(map(bool, row)) for row in code.modules]

    zeros, ones = place(bytes(length)), place(b"\xff" * length)
    side = len(zeros)
    where = [(r, c) for r in range(side) for c in range(side) if zeros[r][c] != ones[r][c]]
    index = dict.fromkeys(where, 0)
    for k in range((8 * length - 1).bit_length()):
        spelled = int("".join("1" if (j >> k) & 1 else "0" for j in range(8 * length)), 2)
        probe = place(spelled.to_bytes(length))
        for r, c in where:
            if probe[r][c] != zeros[r][c]:
                index[r, c] |= 1 << k
    order = sorted(where, key=index.__getitem__)
    if [index[p] for p in order] != list(range(len(order))):
        raise RuntimeError(f"qrcode placed version {version} in an unexpected order")
    mask = int("".join("1" if zeros[r][c] else "0" for r, c in order), 2)
    dark, light = len(order), len(order) + 1  # the two bytes `modules` appends to the data
    bordered = side + 2 * BORDER
    picks = [light] * (bordered * BORDER)
    for r in range(side):
        picks += [light] * BORDER
        picks += [index[r, c] if (r, c) in index else (dark if zeros[r][c] else light)
                  for c in range(side)]
        picks += [light] * BORDER
    return len(order), mask, picks + [light] * (bordered * BORDER)


def _interleaving(blocks: Sequence[tuple[int, int]]) -> list[int]:
    """Where each placed codeword sits in the blocks' data then error-correction codewords."""
    data_at, ec_at, start = [], [], 0
    for count, _ in blocks:
        data_at.append(range(start, start + count))
        start += count
    for _, ec in blocks:
        ec_at.append(range(start, start + ec))
        start += ec
    order = []
    for columns in (data_at, ec_at):
        for i in range(max(len(c) for c in columns)):
            order += [c[i] for c in columns if i < len(c)]
    return order


def decode(image: bytes) -> list[str]:
    """The texts of the QR codes in an image (zxing-cpp); `OSError` if it is not one, PIL's
    `DecompressionBombError` if it is far too large to decode."""
    import io

    import zxingcpp
    from PIL import Image

    return [r.text for r in zxingcpp.read_barcodes(
        Image.open(io.BytesIO(image)), formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode))]
