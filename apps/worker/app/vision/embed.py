"""Face box -> 5 landmarks -> 128-d descriptor, with dlib's models.

Both steps run on the *original-resolution* image with the detector's box mapped back,
not on the shrunk detection image: the aligner cuts a 150x150 chip around the face, and
a big face shrunk for detection and blown up again would lose detail for nothing.

The descriptor is dlib's ResNet (99.38% on LFW): two photos of one person are usually
closer than 0.6 (Euclidean), two people further. Measured here (dlib-bin, no BLAS)
~120-140 ms per face, the landmarks ~1-6 ms.

``num_jitters``: 0 and 1 give the identical single pass. N > 1 averages N randomly
jittered copies: N times slower and no longer deterministic (the same photo moved by
0.1), so the default is 0.

Thread safety: the landmark model is read-only once loaded and is shared. The ResNet
keeps per-call state in its layers and dlib holds the GIL while it runs (a 5 ms ticker
thread stalled ~150 ms), so concurrent calls gain nothing; it runs under a lock so that
a future dlib releasing the GIL cannot corrupt it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import dlib
import numpy as np

from .box import Box
from .errors import ModelUnavailable
from .models import LANDMARKS_5, RESNET_EMBEDDING, model_path

EMBEDDING_SIZE = 128
LANDMARK_NAMES = ("left_eye_outer", "left_eye_inner", "right_eye_outer", "right_eye_inner", "nose_base")
"""dlib's order for the 5 points; left/right are the subject's (their left eye is on the image's right)."""

Point = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Landmarks:
    """5 points (original pixels, :data:`LANDMARK_NAMES` order) and the box they were fitted in."""

    points: tuple[Point, ...]
    box: Box

    def to_list(self) -> list[list[int]]:
        return [[x, y] for x, y in self.points]


class FaceEmbedder:
    """Loads the landmark and descriptor models once; safe to share between threads."""

    def __init__(self, *, num_jitters: int = 0) -> None:
        if num_jitters < 0:
            raise ValueError("num_jitters must be >= 0")
        self.num_jitters = num_jitters
        self._predictor = _load(dlib.shape_predictor, LANDMARKS_5)
        self._resnet = _load(dlib.face_recognition_model_v1, RESNET_EMBEDDING)
        self._lock = threading.Lock()

    def landmarks(self, image: np.ndarray, box: Box) -> Landmarks:
        """Fit the 5 points inside ``box`` (unclipped: a cut face keeps its full extent) of an RGB image."""
        shape = self._predictor(image, _rectangle(box))
        points = tuple((int(p.x), int(p.y)) for p in shape.parts())
        return Landmarks(points, box)

    def embed(self, image: np.ndarray, landmarks: Landmarks) -> np.ndarray:
        """The 128-d descriptor (``float32``) of the face aligned on ``landmarks`` in an RGB image."""
        shape = dlib.full_object_detection(
            _rectangle(landmarks.box), [dlib.point(x, y) for x, y in landmarks.points]
        )
        with self._lock:
            descriptor = self._resnet.compute_face_descriptor(image, shape, self.num_jitters)
        return np.asarray(descriptor, dtype=np.float32)


def distance(a: np.ndarray | list[float], b: np.ndarray | list[float]) -> float:
    """Euclidean distance between two descriptors: the measure the 0.6 threshold is for."""
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)))


def _rectangle(box: Box) -> Any:
    # dlib's rectangle has inclusive right/bottom edges.
    return dlib.rectangle(box.x, box.y, box.right - 1, box.bottom - 1)


def _load(loader: Any, filename: str) -> Any:
    try:
        return loader(str(model_path(filename)))
    except RuntimeError as exc:  # dlib's error for unreadable or corrupt model files
        raise ModelUnavailable(filename, f"failed to load: {exc}") from None
