"""Frames to smaller frames and to JPEG: for detection, snapshots and the live view."""

from __future__ import annotations

import cv2  # after app.vision's pixel cap: the package __init__ imports it first
import numpy as np


def shrink_to_width(image: np.ndarray, width: int) -> np.ndarray:
    """``image`` scaled down to ``width`` (aspect kept), or ``image`` itself if it is not wider.

    ``INTER_AREA`` averages instead of skipping pixels, so the result does not alias.
    """
    height, current = image.shape[:2]
    if current <= width:
        return image
    size = (width, max(1, round(height * width / current)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - OpenCV's JPEG encoder does not fail on a valid uint8 image
        raise RuntimeError("JPEG encoding failed")
    return encoded.tobytes()
