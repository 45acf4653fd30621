"""QR codes as PNG images."""

from __future__ import annotations

import io

import segno


def qr_png(data: str, *, scale: int = 10, border: int = 4) -> bytes:
    """A black-on-white PNG QR code for `data`, error correction at least level M."""
    if scale < 1 or border < 0:
        raise ValueError("scale must be >= 1 and border >= 0")
    # make_qr, not make: segno.make picks a Micro QR code for short data, which many phone
    # cameras cannot read. segno raises the level above M when that costs no extra size.
    code = segno.make_qr(data, error="m")
    buffer = io.BytesIO()
    code.save(buffer, kind="png", scale=scale, border=border, dark="black", light="white")
    return buffer.getvalue()
