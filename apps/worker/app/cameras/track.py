"""Follow faces from one processed frame to the next: detections in, tracks with stable ids out.

A *track* is one face seen in consecutive processed frames. The processor embeds a
track when it starts and then about once a second, instead of every face in every
frame, and the API turns a track into one sighting; so ids must stay put while a face
moves, and a track must end when its face has been gone a while (``ttl``).

Matching is greedy on overlap: all (track, detection) pairs with an IoU of at least
``min_iou`` are taken best first. At 5 processed fps a face that moves fast may not
overlap its last box at all, so detections left over are then matched by centre
distance, in units of the box size: up to ``max_distance``, or further when more time
has passed since the track was last seen (``max_speed`` box sizes per second, capped at
``max_gate``), because on a busy machine processed frames can come a second apart.
Whatever is still unmatched starts a new track. Greedy matching is not optimal
assignment, but with a handful of faces per frame the two differ only in contrived cases.

Tracks are expired *after* matching: a track ends when a processed frame lacks its face
and it has not been seen for ``ttl``, not merely because no frame was processed for a
while (a slow frame must not split one person into two tracks). :meth:`FaceTracker.expire`
ends tracks by time alone, for when no frames come at all.

Pure Python and numpy-free on purpose: the unit tests feed boxes and times.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..vision.box import Box

DEFAULT_TTL = 2.0
DEFAULT_MIN_IOU = 0.3
DEFAULT_MAX_DISTANCE = 1.0
DEFAULT_MAX_SPEED = 3.0
DEFAULT_MAX_GATE = 3.0


@dataclass
class Track:
    """One face followed across frames. Only the tracker changes it; others read."""

    track_id: int
    box: Box
    first_seen: float
    last_seen: float
    hits: int = 1
    """Frames in which the face was matched (including the first)."""
    last_embedded: float | None = None
    """When the processor last computed an embedding for this track (it sets this)."""
    embeddings: int = 0
    """How many embeddings the processor computed for this track (it counts them)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Room for the processor's own per-track data."""


@dataclass(frozen=True)
class TrackUpdate:
    """The result of one :meth:`FaceTracker.update`."""

    assigned: tuple[Track, ...]
    """The track of each detection, in the detections' order."""
    started: tuple[Track, ...]
    """Tracks created by this update (also in ``assigned``)."""
    ended: tuple[Track, ...]
    """Tracks not seen for ``ttl`` seconds, removed by this update."""


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 when they do not overlap)."""
    w = min(a.right, b.right) - max(a.x, b.x)
    h = min(a.bottom, b.bottom) - max(a.y, b.y)
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / (a.area + b.area - inter)


def center_distance(a: Box, b: Box) -> float:
    """Distance between the boxes' centres divided by the larger box's mean side."""
    dx = (a.x + a.width / 2) - (b.x + b.width / 2)
    dy = (a.y + a.height / 2) - (b.y + b.height / 2)
    scale = max((a.width + a.height) / 2, (b.width + b.height) / 2, 1.0)
    return math.hypot(dx, dy) / scale


class FaceTracker:
    """Assigns detections to tracks frame after frame; one per camera, used from one thread."""

    def __init__(
        self,
        *,
        ttl: float = DEFAULT_TTL,
        min_iou: float = DEFAULT_MIN_IOU,
        max_distance: float = DEFAULT_MAX_DISTANCE,
        max_speed: float = DEFAULT_MAX_SPEED,
        max_gate: float = DEFAULT_MAX_GATE,
        ids: Iterator[int] | None = None,
    ) -> None:
        """``ids`` supplies track ids (default 1, 2, 3...); share one iterator to keep ids unique
        across trackers, e.g. across a camera's restarts."""
        if ttl <= 0:
            raise ValueError("ttl must be > 0")
        self.ttl = ttl
        self.min_iou = min_iou
        self.max_distance = max_distance
        self.max_speed = max_speed
        self.max_gate = max_gate
        self._ids = ids if ids is not None else itertools.count(1)
        self._tracks: dict[int, Track] = {}

    @property
    def tracks(self) -> list[Track]:
        """The live tracks, oldest first."""
        return list(self._tracks.values())

    def get(self, track_id: int) -> Track | None:
        return self._tracks.get(track_id)

    def update(self, boxes: Sequence[Box], now: float) -> TrackUpdate:
        """Match ``boxes`` (one processed frame's faces, seen at ``now``) to tracks; expire stale ones."""
        live = list(self._tracks.values())
        assigned: list[Track | None] = [None] * len(boxes)
        free_tracks = set(range(len(live)))
        free_boxes = set(range(len(boxes)))

        pairs = [(iou(t.box, b), ti, bi) for ti, t in enumerate(live) for bi, b in enumerate(boxes)]
        for score, ti, bi in sorted(pairs, reverse=True):
            if score < self.min_iou:
                break
            if ti in free_tracks and bi in free_boxes:
                free_tracks.discard(ti)
                free_boxes.discard(bi)
                assigned[bi] = live[ti]
        near = [(center_distance(live[ti].box, boxes[bi]), ti, bi) for ti in free_tracks for bi in free_boxes]
        for distance, ti, bi in sorted(near):
            if distance > self._gate(now - live[ti].last_seen):
                continue
            if ti in free_tracks and bi in free_boxes:
                free_tracks.discard(ti)
                free_boxes.discard(bi)
                assigned[bi] = live[ti]

        started: list[Track] = []
        for bi, box in enumerate(boxes):
            track = assigned[bi]
            if track is None:
                track = Track(next(self._ids), box, first_seen=now, last_seen=now)
                self._tracks[track.track_id] = track
                started.append(track)
                assigned[bi] = track
            else:
                track.box, track.last_seen = box, now
                track.hits += 1
        ended = self.expire(now)  # after matching: only tracks missing from this frame can end
        return TrackUpdate(tuple(t for t in assigned if t is not None), tuple(started), ended)

    def _gate(self, elapsed: float) -> float:
        """How far (in box sizes) a face may have moved in ``elapsed`` seconds and still match."""
        return min(self.max_gate, max(self.max_distance, self.max_speed * elapsed))

    def expire(self, now: float) -> tuple[Track, ...]:
        """Remove and return the tracks not seen for more than ``ttl`` seconds before ``now``."""
        ended = tuple(t for t in self._tracks.values() if now - t.last_seen > self.ttl)
        for track in ended:
            del self._tracks[track.track_id]
        return ended

    def clear(self) -> tuple[Track, ...]:
        """Remove and return every track (the camera is stopping)."""
        ended = tuple(self._tracks.values())
        self._tracks.clear()
        return ended
