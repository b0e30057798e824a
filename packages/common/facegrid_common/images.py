"""What both apps know about images: the accepted types, told by content, the pixel ceiling and
the default pixel limit.

The API's gate (``apps/api/app/images.py``) and the worker's decoder
(``apps/worker/app/vision/decode.py``) both judge an upload with :func:`sniff_type`, so a
file one side calls a PNG the other never calls something else.
"""

from __future__ import annotations

import struct

ACCEPTED_TYPES = ("JPEG", "PNG", "WebP", "BMP", "TIFF")

PIXEL_CEILING = 100_000_000
"""The most pixels (width x height) any image may have: the worker tells OpenCV to refuse
larger headers (300 MB as BGR), so both apps' ``MAX_IMAGE_PIXELS`` must stay at or below it."""

DEFAULT_MAX_PIXELS = 40_000_000
"""``MAX_IMAGE_PIXELS``'s default in both apps: a 36 MP DSLR frame or a 33 MP 8K video frame passes."""

_BMP_HEADER_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})


def sniff_type(data: bytes) -> str | None:
    """The accepted type whose magic bytes ``data`` starts with (one of :data:`ACCEPTED_TYPES`), or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    # "BM" alone is too weak a signature (plain text can start with it): require a known DIB header.
    if data[:2] == b"BM" and len(data) >= 18 and struct.unpack_from("<I", data, 14)[0] in _BMP_HEADER_SIZES:
        return "BMP"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    return None
