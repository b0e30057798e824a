"""The API's gate for uploaded images: type by content, size from the header, no decoding.

Every image is checked here before a worker sees it. The API has no image library, so
this reads only the few header bytes each format needs, with the standard library:

* the type comes from the magic bytes, never the file name or the Content-Type;
* width and height come from the header (JPEG: the SOF segment, found by walking the
  segments; PNG: IHDR; WebP: the VP8, VP8L or VP8X chunk; BMP: the DIB header; TIFF:
  the first IFD, either byte order), so a decompression bomb (a small file claiming
  100000x100000 pixels) is refused in microseconds, before anything allocates it;
* truncation is caught where it is cheap: a JPEG without its end-of-image marker after
  the scan data, a PNG whose chunks stop before IEND, a WebP or BMP shorter than its
  header says. The worker's decoder refuses the rest.

Which bytes are which type is one definition both apps share
(:func:`facegrid_common.images.sniff_type`); the worker's decoder is the second line behind
this one (OpenCV refuses oversized headers there). Errors carry the same ``code`` values on
both sides.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from facegrid_common.images import ACCEPTED_TYPES, sniff_type

_JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM and RST0-7 carry no length
_PNG_MAX_SIDE = 2**31 - 1


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What the header says: the type (one of :data:`ACCEPTED_TYPES`) and the stored size.

    For a JPEG with an EXIF rotation the upright image has width and height swapped;
    the pixel count, which is what the limit is about, is the same.
    """

    format: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


class ImageError(Exception):
    """An image the API refuses; ``code`` is the machine-readable reason (its HTTP status is in
    :data:`app.errors.CODE_STATUS`)."""

    code = "invalid_image"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnsupportedImageType(ImageError):
    """Not JPEG, PNG, WebP, BMP or TIFF; ``detected`` names what it looks like, when known."""

    code = "unsupported_type"

    def __init__(self, detected: str | None = None) -> None:
        looks_like = f" (this looks like {detected})" if detected else ""
        super().__init__(f"unsupported image type{looks_like}; accepted: {', '.join(ACCEPTED_TYPES)}")
        self.detected = detected
        self.accepted = ACCEPTED_TYPES


class InvalidImage(ImageError):
    """Empty, truncated or corrupt: ``reason`` says which, and where."""

    code = "invalid_image"

    def __init__(self, format: str | None, reason: str) -> None:
        super().__init__(f"invalid {format} image: {reason}" if format else f"invalid image: {reason}")
        self.format = format
        self.reason = reason


class TooManyPixels(ImageError):
    """The header claims more than ``limit`` pixels (a decompression bomb, or just too big)."""

    code = "too_large"

    def __init__(self, width: int, height: int, limit: int) -> None:
        super().__init__(
            f"image is {width}x{height} = {width * height:,} pixels, over the {limit:,}-pixel limit"
        )
        self.width = width
        self.height = height
        self.limit = limit


def inspect_image(data: bytes, *, max_pixels: int) -> ImageInfo:
    """Identify ``data`` by content and read its size, or raise an :class:`ImageError` subclass."""
    if not data:
        raise InvalidImage(None, "the file is empty (zero bytes)")
    kind = sniff_type(data)
    if kind is None:
        raise UnsupportedImageType(_guess_other_type(data))
    try:
        width, height = _READERS[kind](data)
    except struct.error:  # a read past the end of the data
        raise InvalidImage(kind, "truncated: the file ends inside its header") from None
    if width <= 0 or height <= 0:
        raise InvalidImage(kind, f"the header gives an empty size, {width}x{height}")
    if width * height > max_pixels:
        raise TooManyPixels(width, height, max_pixels)
    return ImageInfo(kind, width, height)


def _jpeg_size(data: bytes) -> tuple[int, int]:
    size: tuple[int, int] | None = None
    pos = 2  # after SOI
    while True:
        if pos >= len(data):
            raise InvalidImage("JPEG", "truncated: the file ends before the image data")
        if data[pos] != 0xFF:
            raise InvalidImage("JPEG", f"corrupt: no segment marker at byte {pos}")
        while pos < len(data) and data[pos] == 0xFF:  # a marker may be preceded by fill bytes
            pos += 1
        if pos >= len(data):
            raise InvalidImage("JPEG", "truncated: the file ends inside a marker")
        marker = data[pos]
        pos += 1
        if marker in _JPEG_STANDALONE:
            continue
        if marker == 0xD9:
            raise InvalidImage("JPEG", "corrupt: end-of-image marker before any image data")
        (length,) = struct.unpack_from(">H", data, pos)
        if length < 2:
            raise InvalidImage("JPEG", f"corrupt: segment at byte {pos - 2} has length {length}")
        if marker in _JPEG_SOF:
            _precision, height, width = struct.unpack_from(">BHH", data, pos + 2)
            if height == 0:
                raise InvalidImage("JPEG", "height defined after the scan (DNL marker) is not supported")
            size = (width, height)
        elif marker == 0xDA:  # start of scan: every header is behind us
            if size is None:
                raise InvalidImage("JPEG", "corrupt: image data before the frame header")
            # 0xFF in entropy-coded data is always followed by 0x00 or a restart marker, so
            # FF D9 after the scan header can only be the end-of-image marker.
            if data.find(b"\xff\xd9", pos + length) < 0:
                raise InvalidImage("JPEG", "truncated: no end-of-image marker after the image data")
            return size
        pos += length


def _png_size(data: bytes) -> tuple[int, int]:
    length, kind = struct.unpack_from(">I4s", data, 8)
    if kind != b"IHDR" or length != 13:
        raise InvalidImage("PNG", "corrupt: the first chunk is not a 13-byte IHDR")
    width, height = struct.unpack_from(">II", data, 16)
    if width > _PNG_MAX_SIDE or height > _PNG_MAX_SIDE:
        raise InvalidImage("PNG", f"corrupt: size {width}x{height} exceeds PNG's 2^31-1 limit")
    pos = 8
    while True:  # walk the chunk headers to IEND: a few hundred steps for a large photo
        if pos + 8 > len(data):
            raise InvalidImage("PNG", "truncated: the file ends before the IEND chunk")
        length, kind = struct.unpack_from(">I4s", data, pos)
        pos += 12 + length  # length, type, data, CRC
        if pos > len(data):
            raise InvalidImage("PNG", f"truncated: the file ends inside a {kind.decode('latin-1')!r} chunk")
        if kind == b"IEND":
            return width, height


def _webp_size(data: bytes) -> tuple[int, int]:
    (riff_size,) = struct.unpack_from("<I", data, 4)
    if len(data) < 8 + riff_size:
        raise InvalidImage("WebP", f"truncated: {len(data)} bytes of the {8 + riff_size} its header gives")
    chunk = data[12:16]
    if chunk == b"VP8 ":  # lossy: a key frame's header holds 14-bit sizes
        if data[23:26] != b"\x9d\x01\x2a":
            raise InvalidImage("WebP", "corrupt: the VP8 key frame start code is missing")
        width, height = struct.unpack_from("<HH", data, 26)
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":  # lossless: 14-bit sizes minus one, after a signature byte
        if data[20:21] != b"\x2f":
            raise InvalidImage("WebP", "corrupt: the VP8L signature byte is missing")
        (bits,) = struct.unpack_from("<I", data, 21)
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":  # extended: 24-bit canvas sizes minus one
        width_low, width_high, height_low, height_high = struct.unpack_from("<HBHB", data, 24)
        return (width_low | width_high << 16) + 1, (height_low | height_high << 16) + 1
    raise InvalidImage("WebP", f"corrupt: unknown first chunk {chunk!r}")


def _bmp_size(data: bytes) -> tuple[int, int]:
    file_size, _reserved, pixel_offset, header_size = struct.unpack_from("<IIII", data, 2)
    if header_size == 12:  # OS/2 BITMAPCOREHEADER: unsigned 16-bit sizes
        width, height = struct.unpack_from("<HH", data, 18)
    else:  # BITMAPINFOHEADER and its successors: signed, negative height = top-down rows
        width, height = struct.unpack_from("<ii", data, 18)
        height = abs(height)
    if file_size and len(data) < file_size:
        raise InvalidImage("BMP", f"truncated: {len(data)} bytes of the {file_size} its header gives")
    if pixel_offset >= len(data):
        raise InvalidImage("BMP", "truncated: the pixel data is missing")
    return width, height


def _tiff_size(data: bytes) -> tuple[int, int]:
    order = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack_from(order + "I", data, 4)
    if ifd < 8:
        raise InvalidImage("TIFF", f"corrupt: first directory at offset {ifd}, inside the header")
    (count,) = struct.unpack_from(order + "H", data, ifd)
    found: dict[int, int] = {}
    for index in range(count):
        entry = ifd + 2 + 12 * index
        tag, kind = struct.unpack_from(order + "HH", data, entry)
        if tag not in (256, 257):  # ImageWidth, ImageLength
            continue
        if kind == 3:  # SHORT, left-justified in the 4-byte value field
            found[tag] = struct.unpack_from(order + "H", data, entry + 8)[0]
        elif kind == 4:  # LONG
            found[tag] = struct.unpack_from(order + "I", data, entry + 8)[0]
        else:
            raise InvalidImage("TIFF", f"corrupt: tag {tag} has type {kind}, not SHORT or LONG")
    if 256 not in found or 257 not in found:
        raise InvalidImage("TIFF", "corrupt: the first directory lacks ImageWidth or ImageLength")
    return found[256], found[257]


_READERS: dict[str, Callable[[bytes], tuple[int, int]]] = {
    "JPEG": _jpeg_size,
    "PNG": _png_size,
    "WebP": _webp_size,
    "BMP": _bmp_size,
    "TIFF": _tiff_size,
}

_ISO_BRANDS = {
    b"heic": "HEIC",
    b"heix": "HEIC",
    b"mif1": "HEIF",
    b"msf1": "HEIF",
    b"avif": "AVIF",
    b"avis": "AVIF",
}


def _guess_other_type(data: bytes) -> str | None:
    """Name a common refused type, so the message can say "HEIC" rather than just "no"."""
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data[4:8] == b"ftyp":
        return _ISO_BRANDS.get(data[8:12], "an ISO media file such as MP4")
    if data.startswith(b"%PDF"):
        return "PDF"
    if data[:4] in (b"II+\x00", b"MM\x00+"):
        return "BigTIFF"
    if data.startswith(b"\x00\x00\x00\x0cjP  "):
        return "JPEG 2000"
    if data.lstrip()[:5].lower() in (b"<?xml", b"<svg ", b"<svg>"):
        return "SVG or XML"
    return None
