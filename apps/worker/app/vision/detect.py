"""Face detectors behind one small interface, chosen by name.

Every detector takes an RGB image at its original resolution and returns boxes in that
image's coordinates. Large images are first shrunk so their longest side is at most
``max_side``: HOG's cost grows with the pixel count, and faces big enough to recognise
stay big enough to find. Measured on this 2-core machine (HOG, 1920x1080 frame with
faces pasted at known sizes):

==========================  ======  ======================
upsample, max_side          time    smallest face found
==========================  ======  ======================
0, none                     254 ms  60 px
1, 640                      143 ms  90 px
1, 960 (the default)        362 ms  55 px
1, 1280                     521 ms  44 px
1, none                     1.2 s   36 px
==========================  ======  ======================

Upsampling stays on (``upsample=1``) because without it HOG misses faces under about
80 px in small images (a 640x360 camera frame); at 960 px the face photos this was
measured on lost no face compared with full resolution.

Boxes are mapped back but *not* clipped: a face cut by the frame keeps its full
extent (negative or past-the-edge coordinates), the kind of box the landmark model was
trained on, and its size stays the face's size. (On the two partial-face samples the
unclipped box gave 0.236 and 0.288 to a full Obama photo, the clipped one 0.278 and
0.270: no clear difference either way.) The pipeline clips what it reports.

Thread safety: one dlib HOG detector used from two threads at once crashed the process
(segfault) in a test here, and dlib releases the GIL while it runs, so each thread gets
its own copy (a pickle round-trip: 3 ms, against 1.2 s for ``get_frontal_face_detector``).
The CNN detector shares one network under a lock.
"""

from __future__ import annotations

import pickle
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import dlib
import numpy as np

from .box import Box
from .errors import UnknownDetector
from .models import MMOD_DETECTOR, model_path, model_version

DEFAULT_UPSAMPLE = 1
DEFAULT_MAX_SIDE = 960


@dataclass(frozen=True, slots=True)
class Detection:
    """One face found: its box in original-image pixels (possibly past the edges) and a score.

    ``score`` is the detector's own confidence, not comparable across detectors: the HOG
    SVM margin (found faces are > 0, clear frontal faces ~1-3), or the CNN's MMOD
    confidence (~1 for a clear face).
    """

    box: Box
    score: float


class Detector(Protocol):
    """Finds faces in an RGB ``uint8`` image; safe to call from several threads at once."""

    name: str

    def detect(self, image: np.ndarray) -> list[Detection]: ...

    def describe(self) -> str:
        """A short version string for :meth:`FacePipeline.models`."""
        ...


def shrink(image: np.ndarray, max_side: int | None) -> tuple[np.ndarray, float, float]:
    """``image`` resized so its longest side is at most ``max_side``, and the factors back.

    Returns ``(small, fx, fy)`` where multiplying a coordinate of ``small`` by ``fx``
    (``fy``) gives the original's. ``INTER_AREA`` averages instead of skipping pixels,
    so the shrunk image does not alias.
    """
    height, width = image.shape[:2]
    if not max_side or max(width, height) <= max_side:
        return image, 1.0, 1.0
    scale = max_side / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return small, width / size[0], height / size[1]


def _to_box(rect: Any, fx: float, fy: float) -> Box:
    # dlib's right()/bottom() are inclusive; Box's are exclusive.
    return Box.from_edges(
        rect.left() * fx, rect.top() * fy, (rect.right() + 1) * fx, (rect.bottom() + 1) * fy
    )


class HogDetector:
    """dlib's HOG + linear SVM frontal face detector: fast on CPU, frontal faces only."""

    name = "hog"

    def __init__(
        self,
        *,
        upsample: int = DEFAULT_UPSAMPLE,
        max_side: int | None = DEFAULT_MAX_SIDE,
        template: bytes = b"",
    ) -> None:
        """``template``: another HogDetector's pickled model (see :meth:`variant`)."""
        if upsample < 0:
            raise ValueError("upsample must be >= 0")
        self.upsample = upsample
        self.max_side = max_side
        self._template = template or pickle.dumps(dlib.get_frontal_face_detector())
        self._local = threading.local()

    def variant(self, *, upsample: int, max_side: int | None) -> HogDetector:
        """The same model at other settings, without loading it again (1.2 s); threads still get their own."""
        return HogDetector(upsample=upsample, max_side=max_side, template=self._template)

    def _detector(self) -> Any:
        detector = getattr(self._local, "detector", None)
        if detector is None:
            detector = self._local.detector = pickle.loads(self._template)
        return detector

    def detect(self, image: np.ndarray) -> list[Detection]:
        small, fx, fy = shrink(image, self.max_side)
        rects, scores, _ = self._detector().run(small, self.upsample, 0.0)
        return [Detection(_to_box(r, fx, fy), float(s)) for r, s in zip(rects, scores, strict=True)]

    def describe(self) -> str:
        return f"dlib-hog-frontal (upsample={self.upsample}, max_side={self.max_side})"


class CnnDetector:
    """dlib's MMOD CNN detector: finds turned and partly hidden faces HOG misses.

    Optional: without BLAS it took 3.5 s for a 512x640 image at upsample 0 here (17 s at
    upsample 1), so it suits a GPU build of dlib or offline jobs, not cameras.
    """

    name = "cnn"

    def __init__(self, *, upsample: int = 0, max_side: int | None = DEFAULT_MAX_SIDE) -> None:
        if upsample < 0:
            raise ValueError("upsample must be >= 0")
        self.upsample = upsample
        self.max_side = max_side
        self._net = dlib.cnn_face_detection_model_v1(str(model_path(MMOD_DETECTOR)))
        self._lock = threading.Lock()

    def detect(self, image: np.ndarray) -> list[Detection]:
        small, fx, fy = shrink(image, self.max_side)
        with self._lock:
            found = self._net(small, self.upsample)
        return [Detection(_to_box(d.rect, fx, fy), float(d.confidence)) for d in found]

    def describe(self) -> str:
        return f"{model_version(MMOD_DETECTOR)} (upsample={self.upsample}, max_side={self.max_side})"


DetectorFactory = Callable[..., Detector]
DETECTORS: dict[str, DetectorFactory] = {"hog": HogDetector, "cnn": CnnDetector}
"""Registered detectors by name; each factory takes ``upsample`` and ``max_side`` keywords."""


def create_detector(
    name: str, *, upsample: int = DEFAULT_UPSAMPLE, max_side: int | None = DEFAULT_MAX_SIDE
) -> Detector:
    """Build the detector registered as ``name``, or raise :class:`UnknownDetector`."""
    factory = DETECTORS.get(name)
    if factory is None:
        raise UnknownDetector(name, sorted(DETECTORS))
    return factory(upsample=upsample, max_side=max_side)
