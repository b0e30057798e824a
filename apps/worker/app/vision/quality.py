"""How usable a detected face is for recognition: size, sharpness, how much is in frame.

Enrolment should keep only good faces and a camera should pick the best frame of a
track; both need one number, so :attr:`FaceQuality.score` folds three measures into
[0, 1] by multiplying them (any one being bad makes the face bad):

* ``size``: the shorter side of the detector's box in original pixels, unclipped (the
  face's resolution even when the frame cuts it). The descriptor network sees a 150 px
  chip in which the face spans about 100 px, so faces of 100 px and more lose nothing:
  factor ``min(1, size / 100)``.
* ``sharpness``: variance of the Laplacian of the grayscale face, first resized to
  64x64 so the value does not depend on the face's size. Measured on the 30 faces of
  the sample photos: 470-1870 as shot; 155-480 after a Gaussian blur of sigma = 1% of
  the face width; 21-60 at 2.3%. Factor ``min(1, sharpness / 300)``.
* ``visible``: the fraction of the box inside the image (1.0 unless the face is cut).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from .box import Box

SHARPNESS_SIDE = 64
"""Faces are resized to this square before measuring sharpness."""
FULL_SIZE = 100
"""Face size (px) from which the size factor is 1."""
FULL_SHARPNESS = 300.0
"""Laplacian variance from which the sharpness factor is 1."""


@dataclass(frozen=True, slots=True)
class FaceQuality:
    size: int
    """Shorter side of the face box in original pixels (unclipped)."""
    sharpness: float
    """Variance of the Laplacian of the face at 64x64; sharp photos score several hundred."""
    visible: float
    """Fraction of the face box inside the image, 0-1."""
    score: float
    """``size``, ``sharpness`` and ``visible`` folded into [0, 1]; higher is better."""

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def assess_quality(image: np.ndarray, box: Box) -> FaceQuality:
    """Measure the face in ``box`` (unclipped, original pixels) of an RGB or BGR image."""
    height, width = image.shape[:2]
    inside = box.clip(width, height)
    visible = inside.area / box.area if box.area else 0.0
    sharpness = _sharpness(image[inside.y : inside.bottom, inside.x : inside.right]) if inside.area else 0.0
    score = min(1.0, box.min_side / FULL_SIZE) * min(1.0, sharpness / FULL_SHARPNESS) * visible
    return FaceQuality(box.min_side, round(sharpness, 1), round(visible, 3), round(score, 3))


def _sharpness(face: np.ndarray) -> float:
    gray = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY) if face.ndim == 3 else face
    shrinking = min(gray.shape[:2]) > SHARPNESS_SIDE
    # INTER_AREA when shrinking so downscaling does not alias into fake detail.
    resized = cv2.resize(
        gray,
        (SHARPNESS_SIDE, SHARPNESS_SIDE),
        interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR,
    )
    return float(cv2.Laplacian(resized, cv2.CV_64F).var())
