"""QR code PNGs: valid PNG, the right size, deterministic, and the modules segno encoded."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
import segno

from bot.render.qr import qr_png

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LINK = "https://t.me/asa_volunteer_bot?start=checkin-7f3a9c21e4b84d0"  # 60 characters


def chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """The (type, data) chunks of a PNG, checking each CRC on the way."""
    found = []
    position = len(PNG_SIGNATURE)
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        kind = png[position + 4 : position + 8]
        data = png[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", png[position + 8 + length : position + 12 + length])
        assert zlib.crc32(kind + data) == crc, f"bad CRC in {kind!r}"
        found.append((kind, data))
        position += 12 + length
    return found


def header(png: bytes) -> tuple[int, int, int, int]:
    """Width, height, bit depth and colour type from the IHDR chunk."""
    kind, data = chunks(png)[0]
    assert kind == b"IHDR"
    width, height, depth, colour, _, _, _ = struct.unpack(">IIBBBBB", data)
    return width, height, depth, colour


def unfilter(rows: bytes, *, width: int) -> list[bytes]:
    """Undo PNG row filters for a 1-bit greyscale image (one byte per filter step)."""
    stride = (width + 7) // 8
    previous = bytearray(stride)
    result = []
    for start in range(0, len(rows), stride + 1):
        method, line = rows[start], bytearray(rows[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - 1] if i else 0
            up, up_left = previous[i], previous[i - 1] if i else 0
            predictor = [
                0,
                left,
                up,
                (left + up) // 2,
                paeth(left, up, up_left),
            ][method]
            line[i] = (line[i] + predictor) & 0xFF
        result.append(bytes(line))
        previous = line
    return result


def paeth(a: int, b: int, c: int) -> int:
    """The PNG Paeth predictor."""
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def pixels(png: bytes) -> list[list[bool]]:
    """The image as rows of booleans, True for black."""
    width, _, depth, colour = header(png)
    assert (depth, colour) == (1, 0), "expected 1-bit greyscale"
    data = zlib.decompress(b"".join(data for kind, data in chunks(png) if kind == b"IDAT"))
    # In greyscale a 0 bit is black.
    return [
        [not (row[x // 8] >> (7 - x % 8)) & 1 for x in range(width)]
        for row in unfilter(data, width=width)
    ]


def test_png_signature_and_chunks() -> None:
    png = qr_png(LINK)
    assert png.startswith(PNG_SIGNATURE)
    assert [kind for kind, _ in chunks(png)][-1] == b"IEND"


def test_square_and_large_enough_at_default_scale() -> None:
    width, height, _, _ = header(qr_png(LINK))
    assert width == height
    assert width > 200


def test_size_follows_scale_and_border() -> None:
    modules = segno.make_qr(LINK, error="m").symbol_size(scale=1, border=0)[0]
    width, height, _, _ = header(qr_png(LINK, scale=3, border=2))
    assert (width, height) == ((modules + 4) * 3, (modules + 4) * 3)


def test_deterministic() -> None:
    assert qr_png(LINK) == qr_png(LINK)
    assert qr_png(LINK) != qr_png(LINK + "x")


def test_short_data_is_a_full_qr_code_not_micro_qr() -> None:
    # A micro QR code would be 11-17 modules; phone cameras often cannot read those.
    width, _, _, _ = header(qr_png("42", scale=1, border=0))
    assert width >= 21


def test_pixels_are_the_encoded_modules_in_black_on_white() -> None:
    scale, border = 4, 2
    image = pixels(qr_png(LINK, scale=scale, border=border))
    matrix = segno.make_qr(LINK, error="m").matrix
    # Sample the centre of every module, quiet zone included.
    size = len(matrix) + 2 * border
    sampled = [
        [image[y * scale + scale // 2][x * scale + scale // 2] for x in range(size)]
        for y in range(size)
    ]
    expected = [
        [
            border <= x < size - border
            and border <= y < size - border
            and bool(matrix[y - border][x - border])
            for x in range(size)
        ]
        for y in range(size)
    ]
    assert sampled == expected
    # The top-left finder pattern: a black 7x7 ring around a white ring around a 3x3 black core.
    finder = [row[border : border + 7] for row in sampled[border : border + 7]]
    assert finder[0] == [True] * 7
    assert finder[1] == [True, False, False, False, False, False, True]
    assert finder[3] == [True, False, True, True, True, False, True]


def error_level(modules: list[list[bool]]) -> str:
    """The error correction level from the format bits beside the top-left finder pattern."""
    # Positions as (x, y), most significant bit first, as ISO/IEC 18004 lays them out.
    positions = [(x, 8) for x in range(6)] + [(7, 8), (8, 8), (8, 7)]
    positions += [(8, y) for y in range(5, -1, -1)]
    bits = 0
    for x, y in positions:
        bits = bits << 1 | modules[y][x]
    level_bits = (bits ^ 0b101010000010010) >> 13
    return {0b01: "L", 0b00: "M", 0b11: "Q", 0b10: "H"}[level_bits]


def test_error_correction_is_at_least_m() -> None:
    image = pixels(qr_png(LINK, scale=1, border=0))
    assert error_level(image) in {"M", "Q", "H"}


@pytest.mark.parametrize("level", ["L", "M", "Q", "H"])
def test_error_level_reader(level: str) -> None:
    # The reader above must tell every level apart, or the test before it proves nothing.
    assert error_level(pixels(segno_png(level))) == level


def segno_png(level: str) -> bytes:
    """A PNG made by segno directly at exactly `level`, one pixel per module, no border."""
    code = segno.make_qr(LINK, error=level, boost_error=False)
    buffer = io.BytesIO()
    code.save(buffer, kind="png", scale=1, border=0)
    return buffer.getvalue()


@pytest.mark.parametrize(("scale", "border"), [(0, 4), (10, -1)])
def test_refuses_bad_geometry(scale: int, border: int) -> None:
    with pytest.raises(ValueError, match="scale"):
        qr_png(LINK, scale=scale, border=border)
