"""The live view: boxes and labels drawn on a camera's newest frame, shrunk, as JPEG.

Rendered by the camera's processor thread only while someone watches (the API asks
with ``set_live``), at most ``max_fps`` times a second.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2  # after app.vision's pixel cap: the package __init__ imports it first
import numpy as np

from ..vision.box import Box
from .jpeg import encode_jpeg, shrink_to_width
from .outputs import LiveImage
from .reader import Frame

LIVE_QUALITY = 75
KNOWN = (80, 200, 60)
"""Green (BGR): the API said who it is."""
UNKNOWN = (0, 200, 255)
"""Amber: not identified (yet)."""


@dataclass(frozen=True)
class LiveSettings:
    enabled: bool = False
    max_fps: float = 5.0
    max_width: int = 640


def render(
    camera_id: int, frame: Frame, boxes: list[tuple[int, Box]], labels: dict[int, str], max_width: int
) -> LiveImage:
    """``frame`` at most ``max_width`` wide with every track drawn; the reader's frame is not touched."""
    image = shrink_to_width(frame.image, max_width)
    scale = image.shape[1] / frame.image.shape[1]
    if image is frame.image:
        image = image.copy()  # never draw on the reader's frame: others share it
    for track_id, box in boxes:
        draw_track(image, box.scaled(scale, scale), track_id, labels.get(track_id))
    jpeg = encode_jpeg(image, LIVE_QUALITY)
    return LiveImage(camera_id, frame.timestamp, frame.seq, jpeg, image.shape[1], image.shape[0])


def draw_track(image: np.ndarray, box: Box, track_id: int, label: str | None) -> None:
    """Draw a track's box and its caption (``#id`` and the label the API set) on a BGR image, in place."""
    color = KNOWN if label else UNKNOWN
    cv2.rectangle(image, (box.x, box.y), (box.right - 1, box.bottom - 1), color, 2)
    text = f"#{track_id} {label}" if label else f"#{track_id}"
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
    top = max(0, box.y - th - base - 4)
    cv2.rectangle(image, (box.x, top), (box.x + tw + 6, top + th + base + 4), color, -1)
    origin = (box.x + 3, top + th + 2)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
