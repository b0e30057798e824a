"""What a camera processor hands out, in the worker's own types (the socket adapter converts them).

Each carries what the wire message needs plus what only in-process users want (the
embedding as a numpy array, the landmarks, the JPEGs as bytes), so these are not the
protocol's ``track_sample`` / ``track_ended`` / ``live_frame`` but their sources.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..vision.box import Box


@dataclass(frozen=True)
class FaceSample:
    """One embedded face of a track: what the API matches against the gallery."""

    camera_id: int
    track_id: int
    sample_index: int
    """1 for a track's first sample, then 2, 3..."""
    timestamp: float
    """Wall-clock capture time of the frame."""
    frame_seq: int
    box: Box
    """In the original frame's pixels, clipped to it."""
    score: float
    """The detector's confidence."""
    quality: dict[str, float]
    """:meth:`app.vision.quality.FaceQuality.to_dict`: size, sharpness, visible, score."""
    landmarks: tuple[tuple[int, int], ...]
    embedding: np.ndarray = field(repr=False)
    """128 ``float32`` values."""
    face_jpeg: bytes = field(repr=False)
    """The face with a margin (``app.vision.crop``), at most 256 px."""
    snapshot_jpeg: bytes = field(repr=False)
    """The whole frame, shrunk to ``snapshot_width``."""
    frame_width: int
    frame_height: int
    """The original frame's size: ``box`` is in these pixels (scale it to draw on the snapshot)."""


@dataclass(frozen=True)
class TrackFinished:
    camera_id: int
    track_id: int
    first_seen: float
    last_seen: float
    """Wall-clock times of the first and last frames the face was in."""
    samples: int
    """How many :class:`FaceSample` were emitted for the track (0 if its face stayed too small)."""
    reason: str
    """``"gone"`` (not seen for ``track_ttl``) or ``"stopped"`` (the camera stopped)."""


@dataclass(frozen=True)
class LiveImage:
    """One live-view JPEG: the newest frame with the tracks' boxes and labels drawn."""

    camera_id: int
    timestamp: float
    frame_seq: int
    jpeg: bytes = field(repr=False)
    width: int
    height: int


SampleCallback = Callable[[FaceSample], None]
TrackFinishedCallback = Callable[[TrackFinished], None]
LiveImageCallback = Callable[[LiveImage], None]
