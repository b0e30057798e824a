"""Regions of interest: looking for a face already tracked near where it was, cheaply.

A full-frame HOG pass at upsample 1 on a 640x360 frame costs ~120 ms here; the processor
runs one only every ``scan_interval`` seconds. In between, each tracked face is looked for
only near its last box: the box grown by ``MARGIN`` face sizes on every side (as far as the
tracker's centre-distance gate lets a face move from one frame to the next), clipped to the
frame, and resized so the face is ``FACE_SIZE`` pixels across. At that size HOG finds the
face without upsampling (it needs ~80 px), so each region is a ~300x300 upsample-0 pass,
~10 ms of CPU here, whatever the face's size in the frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2  # after app.vision's pixel cap: the package __init__ imports it first
import numpy as np

from ..vision.box import Box
from ..vision.detect import Detection, Detector
from .track import iou

MARGIN = 1.0
"""Face sizes added on each side of the last box: the tracker's default ``max_distance``."""
FACE_SIZE = 100
"""Pixels across the face is scaled to: above HOG's ~80 px window at upsample 0, with room to shrink."""
DUPLICATE_IOU = 0.5
"""Two detections overlapping this much are one face seen from two overlapping regions."""


@dataclass(frozen=True, slots=True)
class Region:
    """A part of the frame and the size it is resized to before detection."""

    box: Box
    """In frame pixels, inside the frame, never empty."""
    size: tuple[int, int]
    """(width, height) of the resized crop the detector sees."""

    def crop(self, image: np.ndarray) -> np.ndarray:
        """The region of a BGR frame, resized, as RGB (what dlib's models expect)."""
        b = self.box
        part = image[b.y : b.bottom, b.x : b.right]
        shrinking = self.size[0] < b.width
        resized = cv2.resize(part, self.size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
        return cv2.cvtColor(resized, cv2.COLOR_BGR2RGB)

    def to_frame(self, box: Box) -> Box:
        """A box found in the resized crop, in frame pixels (unclipped, like every detection)."""
        x, y = self.box.x, self.box.y
        fx, fy = self.box.width / self.size[0], self.box.height / self.size[1]
        return Box.from_edges(x + box.x * fx, y + box.y * fy, x + box.right * fx, y + box.bottom * fy)


def region_around(face: Box, width: int, height: int) -> Region | None:
    """Where to look for ``face`` in the next ``width`` x ``height`` frame; ``None`` if it lies outside."""
    grown = Box.from_edges(
        face.x - MARGIN * face.width,
        face.y - MARGIN * face.height,
        face.right + MARGIN * face.width,
        face.bottom + MARGIN * face.height,
    ).clip(width, height)
    if grown.width == 0 or grown.height == 0:
        return None
    scale = FACE_SIZE / max(face.width, face.height, 1)
    return Region(grown, (max(1, round(grown.width * scale)), max(1, round(grown.height * scale))))


def detect_near(detector: Detector, image: np.ndarray, faces: Sequence[Box]) -> list[Detection]:
    """Faces found in the regions around ``faces`` of a BGR frame, in frame pixels, each once."""
    height, width = image.shape[:2]
    found: list[Detection] = []
    for face in faces:
        region = region_around(face, width, height)
        if region is not None:
            found += [Detection(region.to_frame(d.box), d.score) for d in detector.detect(region.crop(image))]
    return distinct(found)


def distinct(detections: Sequence[Detection], min_iou: float = DUPLICATE_IOU) -> list[Detection]:
    """The best-scoring of each group of detections overlapping by ``min_iou`` or more."""
    kept: list[Detection] = []
    for detection in sorted(detections, key=lambda d: -d.score):
        if all(iou(detection.box, k.box) < min_iou for k in kept):
            kept.append(detection)
    return kept
