"""A JPEG thumbnail of one face, for the API to store and show.

The API keeps a crop per enrolled face and per sighting but has no image library, so
the worker cuts and encodes it. The margin shows hair and chin, which people use to
check a match; the crop is capped at ``max_side`` so a face in a 40 MP photo does not
put megabytes into a job result.
"""

from __future__ import annotations

import cv2
import numpy as np

from .box import Box

DEFAULT_MARGIN = 0.25
DEFAULT_MAX_SIDE = 256
DEFAULT_JPEG_QUALITY = 90


def crop_face(
    image: np.ndarray,
    box: Box,
    *,
    margin: float = DEFAULT_MARGIN,
    max_side: int | None = DEFAULT_MAX_SIDE,
    jpeg_quality: int = DEFAULT_JPEG_QUALITY,
) -> bytes:
    """JPEG bytes of ``box`` grown by ``margin`` x its size on each side, clipped to the BGR ``image``."""
    height, width = image.shape[:2]
    dx, dy = box.width * margin, box.height * margin
    region = Box.from_edges(box.x - dx, box.y - dy, box.right + dx, box.bottom + dy).clip(width, height)
    if not region.area:
        raise ValueError(f"box {box} lies outside the {width}x{height} image")
    face = image[region.y : region.bottom, region.x : region.right]
    if max_side and max(region.width, region.height) > max_side:
        scale = max_side / max(region.width, region.height)
        size = (max(1, round(region.width * scale)), max(1, round(region.height * scale)))
        face = cv2.resize(face, size, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", face, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    if not ok:  # pragma: no cover - OpenCV's JPEG encoder does not fail on a valid uint8 image
        raise RuntimeError("JPEG encoding of a face crop failed")
    return encoded.tobytes()
