"""The fast QR code: the same modules `qrcode` draws, a valid PNG, decoded by zxing-cpp to the payload."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
import qrcode
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image
from qrcode import util

from workflow import qr
from workflow.security import make_payload, parse_payload
from workflow.testing.port_contracts import decode_qr

MANY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SOME = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
URLSAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
BASES = ("ecps://activation", "https://acme.example/ecps/activate", "app://x")

links = st.builds(make_payload, st.sampled_from(BASES), st.text(BASE32, min_size=16, max_size=16),
                  st.text(URLSAFE, min_size=43, max_size=43))
printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=400)


def _reference(payload: str) -> Image.Image:
    """`qrcode`'s own drawing of `payload` with the version, level and mask the fast path uses."""
    data = payload.encode()
    code = qrcode.QRCode(version=qr.layout(len(data)).version, error_correction=qr.LEVEL,
                         mask_pattern=qr.MASK, box_size=qr.BOX, border=qr.BORDER)
    code.add_data(util.QRData(data, mode=util.MODE_8BIT_BYTE))
    code.make(fit=False)
    image: Image.Image = code.make_image().get_image()
    return image


def _chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """The PNG's chunks as (type, body), each CRC checked."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    found, at = [], 8
    while at < len(png):
        (length,) = struct.unpack(">I", png[at:at + 4])
        kind, body = png[at + 4:at + 8], png[at + 8:at + 8 + length]
        (crc,) = struct.unpack(">I", png[at + 8 + length:at + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        found.append((kind, body))
        at += 12 + length
    return found


@MANY
@given(links)
@example(f"ecps://activation?a=2222222222daba22&t={'0' * 32}1AM1DA00000")  # holds an ITF-like pattern
def test_every_activation_link_decodes_to_exactly_itself_and_parses(payload: str) -> None:
    """A random activation link's QR code reads back as that link, which `scan` would parse
    (the decoder reads QR codes only, as a phone's scanner does: a run of modules can look
    like a linear barcode to a decoder trying every format)."""
    assert decode_qr(qr.qr_png(payload)) == [payload]
    base = payload.split("?", 1)[0]
    assert parse_payload(payload, base) == (payload[len(base) + 3:len(base) + 19], payload[-43:])


@SOME
@given(printable)
def test_any_printable_text_of_any_version_decodes_to_itself(payload: str) -> None:
    """Payloads of 1 to 400 characters (versions 1 to 13) read back exactly."""
    assert decode_qr(qr.qr_png(payload)) == [payload]


@SOME
@given(st.one_of(links, printable))
def test_the_png_shows_exactly_the_modules_qrcode_draws(payload: str) -> None:
    """Pixel for pixel, the PNG is `qrcode`'s own image for the same version, level and mask."""
    mine = Image.open(io.BytesIO(qr.qr_png(payload)))
    theirs = _reference(payload)
    assert mine.size == theirs.size
    assert mine.convert("L").tobytes() == theirs.convert("L").tobytes()


@SOME
@given(links)
def test_the_codewords_are_those_of_qrcode(payload: str) -> None:
    """Data and Reed-Solomon codewords, interleaved, equal `qrcode`'s own `create_data`."""
    data = payload.encode()
    layout = qr.layout(len(data))
    expected = util.create_data(layout.version, qr.LEVEL, [util.QRData(data, mode=util.MODE_8BIT_BYTE)])
    assert list(layout.codewords(data)) == expected


@pytest.mark.parametrize("base", BASES)
def test_the_png_is_a_valid_one_bit_image_with_a_white_quiet_zone(base: str) -> None:
    """IHDR says 1-bit grayscale of the code's size, the chunks check out, four white modules surround it."""
    payload = make_payload(base, "a" * 16, "B" * 43)
    png = qr.qr_png(payload)
    chunks = _chunks(png)
    assert [kind for kind, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    version = qr.layout(len(payload)).version
    assert width == height == (4 * version + 17 + 2 * qr.BORDER) * qr.BOX
    assert (depth, colour, interlace) == (1, 0, 0)
    assert len(png) < 2000
    image = Image.open(io.BytesIO(png))
    image.verify()
    pixels = Image.open(io.BytesIO(png)).convert("L")
    quiet = qr.BORDER * qr.BOX
    inner = (quiet, quiet, width - quiet, height - quiet)
    frame = [pixels.getpixel((x, y)) for x in range(width) for y in range(height)
             if not (inner[0] <= x < inner[2] and inner[1] <= y < inner[3])]
    assert set(frame) == {255}
    corners = [(quiet, quiet), (width - quiet - 1, quiet), (quiet, height - quiet - 1)]
    assert [pixels.getpixel(p) for p in corners] == [0, 0, 0]  # the three finder patterns


def test_an_activation_link_needs_version_5_at_level_m() -> None:
    """The shipped link (82 bytes) takes version 5, as `qrcode`'s own best fit says."""
    payload = make_payload("ecps://activation", "a" * 16, "B" * 43)
    code = qrcode.QRCode(error_correction=qr.LEVEL)
    code.add_data(util.QRData(payload.encode(), mode=util.MODE_8BIT_BYTE))
    assert len(payload) == 82
    assert qr.layout(82).version == code.best_fit() == 5
