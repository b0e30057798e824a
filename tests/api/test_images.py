"""inspect_image: each accepted type is recognised by content with its true size; each refusal says why.

Images are made with OpenCV here (the test environment has it; the API does not), and
the few header variants OpenCV never writes (big-endian TIFF, OS/2 BMP) are built byte
by byte and checked to be images OpenCV itself can read.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from app.images import (
    ACCEPTED_TYPES,
    ImageError,
    ImageInfo,
    InvalidImage,
    TooManyPixels,
    UnsupportedImageType,
    inspect_image,
)

LIMIT = 50_000_000
WIDTH, HEIGHT = 123, 45  # unequal and odd, so swapped or rounded sizes show


def picture(channels: int = 3, dtype: type = np.uint8) -> np.ndarray:
    """A WIDTH x HEIGHT gradient with some texture, so every encoder has something to do."""
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH]
    planes = [(xs * 2 + ys) % 256, (ys * 5) % 256, (xs ^ ys) % 256, np.full_like(xs, 200)][:channels]
    image = np.dstack(planes).astype(np.uint8)
    if dtype is np.uint16:
        return image.astype(np.uint16) * 257
    return image[..., 0] if channels == 1 else image


def encode(ext: str, image: np.ndarray, *params: int) -> bytes:
    ok, buffer = cv2.imencode(ext, image, list(params))
    assert ok
    return buffer.tobytes()


def opencv_reads(data: bytes) -> tuple[int, int]:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image is not None
    return image.shape[1], image.shape[0]


def tiff(order: str, size_type: int, claim: tuple[int, int] = (WIDTH, HEIGHT)) -> bytes:
    """A baseline uncompressed 8-bit grayscale TIFF, ``order`` "<" or ">", sizes as SHORT (3) or LONG (4).

    ``claim`` overrides the width and height written in the header (not the pixels).
    """
    pixels = picture(1).tobytes()
    entries = [
        (256, size_type, claim[0]),
        (257, size_type, claim[1]),
        (258, 3, 8),  # BitsPerSample
        (259, 3, 1),  # Compression: none
        (262, 3, 1),  # PhotometricInterpretation: black is zero
        (273, 4, 8),  # StripOffsets: pixels right after the header
        (277, 3, 1),  # SamplesPerPixel
        (278, 4, HEIGHT),  # RowsPerStrip
        (279, 4, len(pixels)),  # StripByteCounts
    ]
    ifd = struct.pack(order + "H", len(entries))
    for tag, kind, value in entries:
        packed = struct.pack(order + "H2x", value) if kind == 3 else struct.pack(order + "I", value)
        ifd += struct.pack(order + "HHI", tag, kind, 1) + packed
    ifd += struct.pack(order + "I", 0)
    magic = b"II*\x00" if order == "<" else b"MM\x00*"
    return magic + struct.pack(order + "I", 8 + len(pixels)) + pixels + ifd


def os2_bmp() -> bytes:
    """A 24-bit BMP with the 12-byte OS/2 BITMAPCOREHEADER (16-bit sizes)."""
    rows = picture(3)[::-1]  # BMP stores bottom-up
    stride = (WIDTH * 3 + 3) // 4 * 4
    pixels = b"".join(row.tobytes().ljust(stride, b"\0") for row in rows)
    header = struct.pack("<IHHHH", 12, WIDTH, HEIGHT, 1, 24)
    offset = 14 + len(header)
    return b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + header + pixels


def top_down_bmp() -> bytes:
    """OpenCV's BMP with the height made negative (rows stored top-down), rows flipped to match."""
    data = bytearray(encode(".bmp", picture(3)))
    offset = struct.unpack_from("<I", data, 10)[0]
    stride = (WIDTH * 3 + 3) // 4 * 4
    rows = [data[offset + i * stride : offset + (i + 1) * stride] for i in range(HEIGHT)]
    data[offset:] = b"".join(reversed(rows))
    struct.pack_into("<i", data, 22, -HEIGHT)
    return bytes(data)


def with_exif(jpeg: bytes) -> bytes:
    """A JPEG with an EXIF APP1 segment before its frame header, as cameras write them."""
    tiff_header = (
        b"MM\x00\x2a" + struct.pack(">IH", 8, 1) + struct.pack(">HHIHH", 0x0112, 3, 1, 1, 0) + b"\0" * 4
    )
    app1 = b"Exif\x00\x00" + tiff_header
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]


def webp_chunk(data: bytes) -> bytes:
    return data[12:16]


ACCEPTED = {
    "jpeg-baseline": ("JPEG", lambda: encode(".jpg", picture(3))),
    "jpeg-progressive": ("JPEG", lambda: encode(".jpg", picture(3), cv2.IMWRITE_JPEG_PROGRESSIVE, 1)),
    "jpeg-grayscale": ("JPEG", lambda: encode(".jpg", picture(1))),
    "jpeg-exif": ("JPEG", lambda: with_exif(encode(".jpg", picture(3)))),
    "png-rgb": ("PNG", lambda: encode(".png", picture(3))),
    "png-gray": ("PNG", lambda: encode(".png", picture(1))),
    "png-rgba": ("PNG", lambda: encode(".png", picture(4))),
    "png-16-bit": ("PNG", lambda: encode(".png", picture(3, np.uint16))),
    "webp-lossy": ("WebP", lambda: encode(".webp", picture(3), cv2.IMWRITE_WEBP_QUALITY, 80)),
    "webp-lossless": ("WebP", lambda: encode(".webp", picture(3), cv2.IMWRITE_WEBP_QUALITY, 101)),
    "webp-alpha": ("WebP", lambda: encode(".webp", picture(4), cv2.IMWRITE_WEBP_QUALITY, 80)),
    "bmp": ("BMP", lambda: encode(".bmp", picture(3))),
    "bmp-top-down": ("BMP", top_down_bmp),
    "bmp-os2": ("BMP", os2_bmp),
    "tiff-little-endian": ("TIFF", lambda: encode(".tiff", picture(3))),
    "tiff-big-endian-short": ("TIFF", lambda: tiff(">", 3)),
    "tiff-big-endian-long": ("TIFF", lambda: tiff(">", 4)),
    "tiff-little-endian-short": ("TIFF", lambda: tiff("<", 3)),
}


@pytest.mark.parametrize("case", ACCEPTED)
def test_accepted_types_are_recognised_with_their_size(case: str):
    kind, make = ACCEPTED[case]
    data = make()
    assert opencv_reads(data) == (WIDTH, HEIGHT)  # a real image, not just a plausible header
    assert inspect_image(data, max_pixels=LIMIT) == ImageInfo(kind, WIDTH, HEIGHT)


def test_all_three_webp_headers_are_covered():
    kinds = {webp_chunk(ACCEPTED[c][1]()) for c in ("webp-lossy", "webp-lossless", "webp-alpha")}
    assert kinds == {b"VP8 ", b"VP8L", b"VP8X"}


def test_file_name_and_extension_are_ignored(tmp_path: Path):
    misnamed = tmp_path / "holiday.jpg"
    misnamed.write_bytes(encode(".png", picture(3)))
    assert inspect_image(misnamed.read_bytes(), max_pixels=LIMIT).format == "PNG"
    renamed_text = tmp_path / "photo.png"
    renamed_text.write_text("this is not a picture\n")
    with pytest.raises(UnsupportedImageType):
        inspect_image(renamed_text.read_bytes(), max_pixels=LIMIT)


def test_large_real_photo_is_inspected_from_its_header():
    ys, xs = np.mgrid[0:3000, 0:4000]
    photo = np.dstack([xs % 256, ys % 256, (xs + ys) % 256]).astype(np.uint8)
    for ext in (".jpg", ".png"):
        data = encode(ext, photo)
        info = inspect_image(data, max_pixels=LIMIT)
        assert (info.width, info.height, info.pixels) == (4000, 3000, 12_000_000)


# --- refusals -----------------------------------------------------------------------------


def test_empty_file_is_invalid():
    with pytest.raises(InvalidImage, match="empty") as caught:
        inspect_image(b"", max_pixels=LIMIT)
    assert caught.value.code == "invalid_image"


@pytest.mark.parametrize(
    ("data", "detected"),
    [
        (bytes(range(256)) * 8, None),
        (b"name,age\nalice,31\n", None),
        (b"BMW is a car, not a bitmap", None),
        (b"GIF89a" + b"\x7b\x00\x2d\x00" + b"\0" * 40, "GIF"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "HEIC"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1", "AVIF"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"/>', "SVG or XML"),
        (b"II+\x00\x08\x00\x00\x00" + b"\0" * 16, "BigTIFF"),
    ],
    ids=["random", "text", "bm-text", "gif", "heic", "avif", "pdf", "svg", "bigtiff"],
)
def test_other_types_are_unsupported_and_named_when_known(data: bytes, detected: str | None):
    with pytest.raises(UnsupportedImageType) as caught:
        inspect_image(data, max_pixels=LIMIT)
    error = caught.value
    assert (error.code, error.detected) == ("unsupported_type", detected)
    assert error.accepted == ACCEPTED_TYPES
    assert "accepted: JPEG, PNG, WebP, BMP, TIFF" in str(error)
    if detected:
        assert f"looks like {detected}" in str(error)


def test_image_error_is_the_root():
    for error in (UnsupportedImageType, InvalidImage, TooManyPixels):
        assert issubclass(error, ImageError)


JPEG = encode(".jpg", picture(3))
PNG = encode(".png", picture(3))
WEBP = encode(".webp", picture(3), cv2.IMWRITE_WEBP_QUALITY, 80)
BMP = encode(".bmp", picture(3))
TIFF = tiff(">", 4)


def patched(data: bytes, offset: int, fmt: str, *values: int | bytes) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, *values)
    return bytes(out)


def sof_offset(jpeg: bytes) -> int:
    """Byte offset of the SOF0 frame header's height field in an OpenCV JPEG."""
    return jpeg.index(b"\xff\xc0") + 5


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (JPEG[: len(JPEG) // 2], "truncated: no end-of-image marker after the image data"),
        (JPEG[:-2], "truncated: no end-of-image marker"),
        (JPEG[:30], "truncated"),
        (JPEG[:4] + b"\x00\x10JFIF\x00" + b"\x00" * 20, "corrupt: no segment marker"),
        (JPEG[:2] + b"\xff\xd9", "end-of-image marker before any image data"),
        (patched(JPEG, sof_offset(JPEG), ">H", 0), "DNL"),
        (PNG[: len(PNG) // 2], "truncated: the file ends inside"),
        (PNG[:20], "truncated: the file ends inside its header"),
        (PNG[:8] + b"\x00\x00\x00\x0dIHDX" + PNG[16:], "the first chunk is not a 13-byte IHDR"),
        (patched(PNG, 16, ">I", 0), "empty size, 0x45"),
        (patched(PNG, 16, ">I", 2**31), "exceeds PNG's 2^31-1 limit"),
        (WEBP[: len(WEBP) - 10], "truncated"),
        (patched(WEBP, 23, "3s", b"xyz"), "VP8 key frame start code"),
        (WEBP[:12] + b"ABCD" + WEBP[16:], "unknown first chunk"),
        (BMP[: len(BMP) // 2], "truncated"),
        (patched(BMP, 18, "<i", -5), "empty size"),
        (TIFF[:10], "truncated"),
        (patched(TIFF, 4, ">I", 4), "inside the header"),
        (patched(TIFF, 4, ">I", len(TIFF) + 100), "truncated"),
    ],
    ids=[
        "jpeg-half",
        "jpeg-no-eoi",
        "jpeg-header-cut",
        "jpeg-no-marker",
        "jpeg-eoi-first",
        "jpeg-dnl",
        "png-half",
        "png-header-cut",
        "png-no-ihdr",
        "png-zero-width",
        "png-width-over-spec",
        "webp-cut",
        "webp-bad-start-code",
        "webp-unknown-chunk",
        "bmp-half",
        "bmp-negative-width",
        "tiff-header-cut",
        "tiff-ifd-in-header",
        "tiff-ifd-past-end",
    ],
)
def test_truncated_and_corrupt_images_are_invalid_with_a_reason(data: bytes, reason: str):
    with pytest.raises(InvalidImage) as caught:
        inspect_image(data, max_pixels=LIMIT)
    assert reason in caught.value.reason
    assert caught.value.format in ACCEPTED_TYPES
    assert str(caught.value).startswith(f"invalid {caught.value.format} image: ")


def png_claiming(width: int, height: int) -> bytes:
    """A structurally complete PNG whose IHDR claims ``width`` x ``height`` (one byte of data)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0"))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    "data",
    [
        png_claiming(100_000, 100_000),
        patched(JPEG, sof_offset(JPEG), ">HH", 60_000, 60_000),
        patched(BMP, 18, "<ii", 100_000, 100_000),
        tiff(">", 4, claim=(100_000, 100_000)),
    ],
    ids=["png", "jpeg", "bmp", "tiff"],
)
def test_decompression_bombs_are_refused_from_the_header(data: bytes):
    with pytest.raises(TooManyPixels) as caught:
        inspect_image(data, max_pixels=LIMIT)
    error = caught.value
    assert (error.code, error.limit) == ("too_large", LIMIT)
    assert error.width * error.height > LIMIT
    assert f"over the {LIMIT:,}-pixel limit" in str(error)


def test_pixel_limit_is_inclusive():
    assert inspect_image(PNG, max_pixels=WIDTH * HEIGHT).pixels == WIDTH * HEIGHT
    with pytest.raises(TooManyPixels, match=r"123x45 = 5,535 pixels, over the 5,534-pixel limit"):
        inspect_image(PNG, max_pixels=WIDTH * HEIGHT - 1)
