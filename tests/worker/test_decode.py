"""decode_image: every kind of bad input is refused with a reason; odd but valid images come out BGR uint8."""

from __future__ import annotations

import os
import struct
from collections.abc import Callable

import cv2
import numpy as np
import pytest
from app.vision import PIXEL_CEILING_ENV
from app.vision.decode import ceiling_in_force, decode_image, png_header
from app.vision.errors import ImageTooLarge, UnreadableImage, UnsupportedImageType, VisionError

ReadSample = Callable[[str], bytes]


@pytest.fixture(scope="module")
def photo(read_sample: ReadSample) -> np.ndarray:
    """A real photo (obama.jpg at half size, 455x568) as BGR; small keeps WebP encoding quick."""
    full = decode_image(read_sample("obama.jpg"))
    return cv2.resize(full, (455, 568), interpolation=cv2.INTER_AREA)


def encode(ext: str, image: np.ndarray, *params: int) -> bytes:
    ok, buffer = cv2.imencode(ext, image, list(params))
    assert ok
    return buffer.tobytes()


def unchanged(data: bytes) -> np.ndarray:
    """What OpenCV reads with no conversion at all, to check a test image is what it claims."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image is not None
    return image


def with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """``jpeg`` with an APP1 EXIF segment holding only the Orientation tag."""
    ifd = struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + ifd
    app1 = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]


# --- refusals ----------------------------------------------------------------


def test_zero_bytes_is_refused_as_empty():
    with pytest.raises(UnreadableImage, match="empty") as caught:
        decode_image(b"")
    assert caught.value.code == "invalid_image"


@pytest.mark.parametrize(
    "keep",
    [lambda n: n // 2, lambda n: n * 99 // 100, lambda n: n - 2],
    ids=["half", "99-percent", "missing-EOI"],
)
def test_truncated_jpeg_is_refused(read_sample: ReadSample, keep: Callable[[int], int]):
    data = read_sample("obama.jpg")
    # A JPEG that simply stops: OpenCV 5.1 itself decodes nothing.
    with pytest.raises(UnreadableImage, match="corrupt or truncated JPEG"):
        decode_image(data[: keep(len(data))])


@pytest.mark.parametrize("progressive", [0, 1], ids=["baseline", "progressive"])
@pytest.mark.parametrize("keep", [0.36, 0.5, 0.99], ids=["36-percent", "half", "99-percent"])
def test_a_cut_jpeg_with_an_end_marker_appended_is_refused(photo: np.ndarray, keep: float, progressive: int):
    data = encode(".jpg", photo, cv2.IMWRITE_JPEG_PROGRESSIVE, progressive)
    cut = data[: int(len(data) * keep)] + b"\xff\xd9"
    # OpenCV alone decodes this to a picture whose missing part is grey...
    assert cv2.imdecode(np.frombuffer(cut, np.uint8), cv2.IMREAD_COLOR) is not None
    # ...so the worker asks libjpeg-turbo, which says the image data ended early.
    with pytest.raises(UnreadableImage, match="truncated JPEG data: the image data ends early") as caught:
        decode_image(cut)
    assert caught.value.code == "invalid_image" and "premature end" in caught.value.reason


def test_a_harmless_libjpeg_warning_is_not_a_refusal(read_sample: ReadSample):
    data = read_sample("obama.jpg")
    padded = data[:-2] + b"\x00\x00\xff\xd9"  # "extraneous bytes before marker 0xd9", as some cameras write
    assert decode_image(padded).shape == decode_image(data).shape


@pytest.mark.parametrize("ext", [".png", ".webp", ".bmp", ".tiff"])
def test_truncated_other_types_are_refused(photo: np.ndarray, ext: str):
    data = encode(ext, photo)
    with pytest.raises(UnreadableImage):
        decode_image(data[: len(data) // 2])


def test_random_bytes_are_an_unsupported_type():
    data = np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    with pytest.raises(UnsupportedImageType, match="accepted: JPEG, PNG, WebP, BMP, TIFF") as caught:
        decode_image(data)
    assert caught.value.code == "unsupported_type"


@pytest.mark.parametrize(
    "text",
    [b"name,age\nalice,31\nbob,27\n" * 20, b"BMW is a car, not a bitmap\n" * 20],
    ids=["csv", "bm-text"],
)
def test_text_file_is_an_unsupported_type(text: bytes):
    # "BM" alone does not make a bitmap: the worker tells types apart as the API's gate does.
    with pytest.raises(UnsupportedImageType):
        decode_image(text)


def test_a_type_opencv_could_read_is_still_refused(photo: np.ndarray):
    # OpenCV decodes PPM; only the five types the API accepts reach its decoders.
    data = encode(".ppm", photo)
    assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) is not None
    with pytest.raises(UnsupportedImageType):
        decode_image(data)


def test_garbage_after_jpeg_magic_is_corrupt():
    with pytest.raises(UnreadableImage, match="JPEG") as caught:
        decode_image(b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + os.urandom(2000))
    assert not isinstance(caught.value, UnsupportedImageType)


def test_png_claiming_huge_dimensions_is_refused_before_decoding():
    bomb = png_header(100_000, 100_000)  # 10 gigapixels claimed in 60 bytes
    with pytest.raises(ImageTooLarge) as caught:
        decode_image(bomb)
    # OpenCV refused the header: the dimensions never reached Python.
    assert caught.value.width is None
    assert caught.value.code == "too_large"


def test_opencv_pixel_ceiling_is_in_force():
    assert PIXEL_CEILING_ENV in os.environ
    assert ceiling_in_force()


def test_image_over_max_pixels_is_refused_with_its_size(read_sample: ReadSample):
    with pytest.raises(
        ImageTooLarge, match=r"910x1137 = 1,034,670 pixels, over the 1,000,000-pixel limit"
    ) as caught:
        decode_image(read_sample("obama.jpg"), max_pixels=1_000_000)
    assert (caught.value.width, caught.value.height, caught.value.limit) == (910, 1137, 1_000_000)


def test_every_refusal_is_a_vision_error():
    assert issubclass(UnreadableImage, VisionError)
    assert issubclass(UnsupportedImageType, UnreadableImage)
    assert issubclass(ImageTooLarge, VisionError)


# --- unusual but valid images ---------------------------------------------------


@pytest.mark.parametrize("ext", [".jpg", ".png", ".webp", ".bmp", ".tiff"])
def test_each_accepted_type_decodes_to_bgr(photo: np.ndarray, ext: str):
    image = decode_image(encode(ext, photo))
    assert image.shape == photo.shape
    assert image.dtype == np.uint8
    assert image.flags["C_CONTIGUOUS"]


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_grayscale_becomes_three_equal_channels(photo: np.ndarray, ext: str):
    gray = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)
    image = decode_image(encode(ext, gray))
    assert image.shape == (*gray.shape, 3)
    assert np.array_equal(image[..., 0], image[..., 1]) and np.array_equal(image[..., 1], image[..., 2])


def test_16_bit_png_is_scaled_to_8_bit(photo: np.ndarray):
    deep = photo.astype(np.uint16) * 257  # 0..255 -> 0..65535
    data = encode(".png", deep)
    assert unchanged(data).dtype == np.uint16
    image = decode_image(data)
    assert image.dtype == np.uint8
    assert np.array_equal(image, photo)


def test_rgba_png_drops_alpha_and_keeps_colour(photo: np.ndarray):
    alpha = np.tile(np.linspace(0, 255, photo.shape[1], dtype=np.uint8), (photo.shape[0], 1))
    image = decode_image(encode(".png", np.dstack([photo, alpha])))
    assert image.shape == photo.shape
    assert np.array_equal(image, photo)


def test_32_bit_sample_png_decodes(read_sample: ReadSample):
    raw = read_sample("32bit.png")
    assert unchanged(raw).shape[2] == 4
    assert decode_image(raw).shape == (1200, 626, 3)


def test_exif_orientation_is_applied(photo: np.ndarray):
    small = photo[:200, :300]
    rotated = decode_image(with_exif_orientation(encode(".jpg", small, cv2.IMWRITE_JPEG_QUALITY, 95), 6))
    # Orientation 6: the stored image is shown turned 90 degrees clockwise.
    assert rotated.shape == (300, 200, 3)
    expected = cv2.rotate(small, cv2.ROTATE_90_CLOCKWISE)
    assert np.abs(rotated.astype(int) - expected.astype(int)).mean() < 3
