"""The whole face pipeline behind one object: image bytes in, faces out.

Job handlers and the camera processor build one :class:`FacePipeline` at start-up (the
models take about two seconds to load) and share it: every method is safe to call from
several threads at once (see ``detect.py`` and ``embed.py`` for how each model is
guarded). Calls block for hundreds of milliseconds, so run them off the event loop (the
worker runs them in its engine processes).

:meth:`FacePipeline.analyze` returns a :class:`FaceAnalysis`: the image's size (after
EXIF rotation, so not always the header's) and :class:`DetectedFace` items, largest
first, whose ``to_dict()`` is plain JSON; crops stay bytes, for the job's binary payload.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import cv2
import dlib
import numpy as np

from .box import Box
from .crop import DEFAULT_MARGIN, crop_face
from .decode import DEFAULT_MAX_PIXELS, ceiling_in_force, decode_image, pixel_ceiling
from .detect import DEFAULT_MAX_SIDE, DEFAULT_UPSAMPLE, Detector, HogDetector, create_detector
from .embed import EMBEDDING_SIZE, FaceEmbedder, Point
from .errors import SelfTestFailed, VisionError
from .models import LANDMARKS_5, RESNET_EMBEDDING, model_version, package_version
from .quality import FaceQuality, assess_quality


@dataclass(frozen=True)
class DetectedFace:
    """One face, in the original (EXIF-upright) image's pixel coordinates."""

    box: Box
    """Clipped to the image."""
    score: float
    """The detector's confidence (see :class:`app.vision.detect.Detection`)."""
    landmarks: tuple[Point, ...]
    """5 points in ``embed.LANDMARK_NAMES`` order; may lie outside the image when the face is cut."""
    quality: FaceQuality
    embedding: np.ndarray | None = None
    """128 ``float32`` values, or ``None`` when not asked for."""
    crop_jpeg: bytes | None = None
    """JPEG thumbnail of the face with a margin, or ``None`` when not asked for."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types; ``embedding`` only when computed. The crop is left out: it travels
        better as raw bytes in the job's binary payload than as base64 inside the JSON."""
        result: dict[str, Any] = {
            "box": self.box.to_dict(),
            "score": round(self.score, 4),
            "landmarks": [[x, y] for x, y in self.landmarks],
            "quality": self.quality.to_dict(),
        }
        if self.embedding is not None:
            result["embedding"] = self.embedding.tolist()
        return result


@dataclass(frozen=True)
class FaceAnalysis:
    """What one image holds: its size and its largest faces."""

    width: int
    height: int
    faces: list[DetectedFace]
    """Largest first, at most ``max_faces``."""
    found: int
    """Every face found of at least ``min_face_size``: more than ``len(faces)`` when capped."""


class FacePipeline:
    """Decode, detect, align, describe: models loaded once, shared by all threads."""

    def __init__(
        self,
        detector: str = "hog",
        *,
        upsample: int = DEFAULT_UPSAMPLE,
        detection_max_side: int | None = DEFAULT_MAX_SIDE,
        num_jitters: int = 0,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        crop_margin: float = DEFAULT_MARGIN,
    ) -> None:
        """Load the models (raises :class:`UnknownDetector` or :class:`ModelUnavailable`).

        ``detection_max_side``: images are shrunk to this longest side for detection
        only (``None`` never shrinks); landmarks, embeddings and crops use full resolution.
        ``max_pixels``: larger images are refused with :class:`ImageTooLarge`.
        """
        self.detector: Detector = create_detector(detector, upsample=upsample, max_side=detection_max_side)
        self.embedder = FaceEmbedder(num_jitters=num_jitters)
        self.max_pixels = max_pixels
        self.crop_margin = crop_margin

    @cached_property
    def region_detector(self) -> HogDetector:
        """HOG at upsample 0 without shrinking: for a small crop already scaled to suit the face
        (cameras follow tracked faces with it, see ``cameras/regions.py``). Built on first use:
        job engines never need it. Two threads racing here get two equal detectors, which is fine."""
        if isinstance(self.detector, HogDetector):
            return self.detector.variant(upsample=0, max_side=None)
        return HogDetector(upsample=0, max_side=None)

    def analyze(
        self,
        data: bytes,
        *,
        min_face_size: int = 0,
        max_faces: int | None = None,
        embed: bool = True,
        crops: bool = False,
    ) -> FaceAnalysis:
        """Faces in an encoded image (JPEG, PNG, WebP, BMP or TIFF), largest first.

        ``min_face_size`` drops faces whose box's shorter side is smaller (pixels);
        ``max_faces`` describes only the largest ones (bounding the ~130 ms per embedding);
        ``embed`` adds the descriptor, ``crops`` a JPEG thumbnail per face. Raises
        :class:`UnreadableImage` or :class:`ImageTooLarge` for bad input.
        """
        if max_faces is not None and max_faces < 0:
            raise ValueError("max_faces must be >= 0 or None")
        frame = decode_image(data, max_pixels=self.max_pixels)
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)  # dlib's models were trained on RGB
        height, width = frame.shape[:2]
        found = [d for d in self.detector.detect(rgb) if d.box.min_side >= min_face_size]
        found.sort(key=lambda d: (-d.box.area, d.box.x, d.box.y))
        faces: list[DetectedFace] = []
        for detection in found[:max_faces]:
            landmarks = self.embedder.landmarks(rgb, detection.box)
            faces.append(
                DetectedFace(
                    box=detection.box.clip(width, height),
                    score=detection.score,
                    landmarks=landmarks.points,
                    quality=assess_quality(rgb, detection.box),
                    embedding=self.embedder.embed(rgb, landmarks) if embed else None,
                    crop_jpeg=crop_face(frame, detection.box, margin=self.crop_margin) if crops else None,
                )
            )
        return FaceAnalysis(width, height, faces, len(found))

    def models(self) -> dict[str, str]:
        """Model name -> version, for the worker's capabilities (and to stamp stored embeddings)."""
        return {
            "detector": self.detector.describe(),
            "landmarks": model_version(LANDMARKS_5),
            "embedding": model_version(RESNET_EMBEDDING),
            "dlib": dlib.__version__,
            "opencv": cv2.__version__,
            "face_recognition_models": package_version(),
        }

    def self_test(self) -> dict[str, float]:
        """Run every stage once on a synthetic image; raise :class:`SelfTestFailed` if any fails.

        Proves the models load and run and that OpenCV's pixel cap is in force, so a
        broken install stops the worker at start-up instead of failing every job.
        Returns each stage's time in milliseconds, worth logging.
        """
        if not ceiling_in_force():
            raise SelfTestFailed(
                f"OpenCV ignores OPENCV_IO_MAX_IMAGE_PIXELS={pixel_ceiling()}: cv2 was imported "
                "before app.vision; import app.vision first so oversized images are refused unread"
            )
        timings: dict[str, float] = {}
        try:
            started = time.perf_counter()
            _, encoded = cv2.imencode(".jpg", _synthetic_image())
            image = decode_image(encoded.tobytes(), max_pixels=self.max_pixels)
            rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
            timings["decode_ms"] = _ms_since(started)

            started = time.perf_counter()
            found = self.detector.detect(rgb)
            timings["detect_ms"] = _ms_since(started)

            # No face to find, so align and describe a made-up box: the models still run.
            started = time.perf_counter()
            landmarks = self.embedder.landmarks(rgb, Box(100, 60, 120, 120))
            embedding = self.embedder.embed(rgb, landmarks)
            timings["embed_ms"] = _ms_since(started)
            self.models()
        except (VisionError, cv2.error, RuntimeError, ValueError) as exc:
            raise SelfTestFailed(f"pipeline failed on a synthetic image: {exc}") from exc
        if found:
            raise SelfTestFailed(f"detector found {len(found)} face(s) in a synthetic image with none")
        if embedding.shape != (EMBEDDING_SIZE,) or not np.isfinite(embedding).all() or not embedding.any():
            raise SelfTestFailed(f"embedding model returned an invalid descriptor of shape {embedding.shape}")
        return timings


def _synthetic_image() -> np.ndarray:
    """A 320x240 BGR gradient with fixed noise: image-like, deterministic, faceless."""
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:240, 0:320]
    base = np.stack([xs * 0.7, ys * 0.9, (xs + ys) * 0.4], axis=-1)
    return np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
