"""Image bytes -> a BGR ``uint8`` pixel array, refusing what should not be decoded.

The API gates every upload first (``apps/api/app/images.py`` reads the dimensions from
the header, stdlib only); this module is the worker's defence in depth. It tells types
apart with the same :func:`facegrid_common.images.sniff_type` and otherwise relies on OpenCV:

* Size: OpenCV checks ``OPENCV_IO_MAX_IMAGE_PIXELS`` (set by ``app.vision`` before
  ``cv2`` is imported) against the header *before* allocating, so a file claiming
  100000x100000 pixels costs about a millisecond. The per-call ``max_pixels``, lower
  than that process-wide ceiling, is checked after decoding.
* Type: only the five types the API accepts are handed to OpenCV (by magic bytes), so
  its rarer decoders (PxM, Sun raster, HDR, JPEG 2000, GIF...) are not attack surface.
* Truncation: OpenCV 5.1's PNG, WebP, BMP and TIFF readers refuse truncated data, and so
  does its JPEG reader when the file simply stops. But a JPEG whose image data is cut
  short and followed by a marker (say, a cut file with an end-of-image marker appended)
  decodes with the missing part grey: libjpeg only warns ("premature end of data
  segment") and OpenCV drops the warning. So a JPEG is also decoded, at 1/8 scale, by
  libjpeg-turbo through ``simplejpeg``, which raises that warning; a truncation it reports
  is refused. Garbage *inside* the image data that still decodes cannot be told from a
  real picture, and is not claimed to be caught. tests/worker/test_decode.py pins this down.
* Colour: ``IMREAD_COLOR`` turns grayscale into 3 channels, scales 16-bit to 8-bit,
  drops alpha (transparent pixels keep whatever colour they store), and applies the
  EXIF orientation, so box coordinates refer to the upright image a browser shows.
"""

from __future__ import annotations

import os
import struct
import zlib

import cv2
import numpy as np
import simplejpeg
from facegrid_common.images import ACCEPTED_TYPES, DEFAULT_MAX_PIXELS, PIXEL_CEILING, sniff_type

from . import PIXEL_CEILING_ENV
from .errors import ImageTooLarge, UnreadableImage, UnsupportedImageType

_JPEG_TRUNCATED = ("premature end of data segment", "premature end of jpeg file")
"""libjpeg's warnings for image data that ends early; its others (such as extraneous bytes
before a marker, common in camera files) leave the picture whole and are not refusals."""


def pixel_ceiling() -> int:
    """The process-wide pixel cap OpenCV was told about (see :mod:`app.vision`)."""
    try:
        return int(os.environ.get(PIXEL_CEILING_ENV, PIXEL_CEILING))
    except ValueError:
        return PIXEL_CEILING


def decode_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode ``data`` into an upright H x W x 3 BGR ``uint8`` array.

    Raises :class:`UnreadableImage` (with a reason a person can act on) or
    :class:`ImageTooLarge`.
    """
    if not data:
        raise UnreadableImage("the image is empty (zero bytes)")
    kind = sniff_type(data)
    if kind is None:
        raise UnsupportedImageType(f"not a supported image type; accepted: {', '.join(ACCEPTED_TYPES)}")
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as exc:
        # OpenCV raises (rather than returning None) when the header fails its size checks.
        if "validateInputImageSize" in str(exc):
            raise ImageTooLarge(None, None, min(max_pixels, pixel_ceiling())) from None
        raise UnreadableImage(f"corrupt {kind} data ({_first_line(exc)})") from None
    if image is None:
        raise UnreadableImage(f"corrupt or truncated {kind} data: the decoder could not read it")
    height, width = image.shape[:2]
    if width * height > max_pixels:
        raise ImageTooLarge(width, height, max_pixels)
    if kind == "JPEG":
        _refuse_truncated_jpeg(data)
    return np.ascontiguousarray(image)


def _refuse_truncated_jpeg(data: bytes) -> None:
    """Raise UnreadableImage if libjpeg finds the image data cut short.

    At 1/8 scale libjpeg-turbo still reads every bit of the image data, which is what finds
    the truncation, but skips most of the rest: a fraction of a full decode.
    """
    try:
        simplejpeg.decode_jpeg(data, colorspace="GRAY", min_factor=8, strict=True)
    except ValueError as exc:
        if any(words in str(exc).lower() for words in _JPEG_TRUNCATED):
            raise UnreadableImage(f"truncated JPEG data: the image data ends early ({exc})") from None


def ceiling_in_force() -> bool:
    """Whether OpenCV refuses, from the header alone, a PNG just over :func:`pixel_ceiling`.

    False means ``cv2`` was imported before :mod:`app.vision` set the variable, so only
    OpenCV's own 2**30-pixel cap protects the process.
    """
    side = int(pixel_ceiling() ** 0.5) + 1
    try:
        cv2.imdecode(np.frombuffer(png_header(side, side), dtype=np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as exc:
        return "validateInputImageSize" in str(exc)
    return False


def png_header(width: int, height: int) -> bytes:
    """A well-formed PNG claiming ``width`` x ``height`` RGB pixels but holding one byte of data.

    OpenCV reads up to the first IDAT chunk before judging the size, so one is included.
    """

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    fields = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", fields)
        + chunk(b"IDAT", zlib.compress(b"\0"))
        + chunk(b"IEND", b"")
    )


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[-1] if text else type(exc).__name__
