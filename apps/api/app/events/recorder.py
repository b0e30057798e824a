"""Turns the tracks workers report into events: who it is, decided from all of a track's faces.

A worker sends a `track_sample` (an embedding, a face crop, a snapshot) for each new
track and then about once a second per track, and `track_ended` when the face
leaves. Each sample is matched against the gallery; the track's identity is the
person most of its samples match within the threshold (ties: the closer one), else
unknown. The event is created with the first sample, updated as samples come in
(identity included), and closed when the track ends. Trackers lose faces (fast
motion, a missed detection): a new track whose face is the same — the same known
person, or for an unknown face a descriptor within the threshold — on the same camera
within `merge_gap` seconds continues the same event: one event per appearance, not
per track fragment.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
from facegrid_protocol import LabelTrack, TrackEnded, TrackSample

from ..cameras.supervisor import CameraSupervisor
from ..people import People
from .feed import EventFeed
from .store import EventStore

log = logging.getLogger(__name__)

TrackKey = tuple[str, int, str]


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


@dataclass
class Appearance:
    """What a new track is compared with to decide whether it continues an event."""

    event_id: int
    camera_id: int
    first_seen: float
    last_seen: float
    person_id: int | None = None
    embeddings: list[np.ndarray] = field(default_factory=list)
    samples: int = 0
    announced: bool = False

    def same_face(self, person_id: int | None, embedding: np.ndarray, threshold: float) -> bool:
        if person_id is not None or self.person_id is not None:
            return person_id == self.person_id
        return any(np.linalg.norm(e - embedding) <= threshold for e in self.embeddings)


@dataclass
class OpenTrack:
    event_id: int
    camera_id: int
    first_seen: float
    last_seen: float
    matches: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    nearest: float | None = None
    best_quality: float = -1.0
    samples: int = 0
    label: str = ""
    embeddings: list[np.ndarray] = field(default_factory=list)

    def is_someone_else(self, embedding: np.ndarray, threshold: float) -> bool:
        """True when a new face is far from every face seen so far on this track: the tracker
        followed a box across a scene cut or a crossing, and it is another person now."""
        if not self.embeddings:
            return False
        return bool(min(np.linalg.norm(e - embedding) for e in self.embeddings) > threshold)

    def add(self, person_id: int | None, distance: float | None, threshold: float) -> None:
        self.samples += 1
        if distance is not None:
            self.nearest = distance if self.nearest is None else min(self.nearest, distance)
            if person_id is not None and distance <= threshold:
                self.matches[person_id].append(distance)

    def identity(self) -> tuple[int | None, float | None]:
        if not self.matches:
            return None, self.nearest
        person = max(self.matches, key=lambda p: (len(self.matches[p]), -float(np.mean(self.matches[p]))))
        return person, min(self.matches[person])


class EventRecorder:
    def __init__(
        self,
        people: People,
        store: EventStore,
        feed: EventFeed,
        supervisor: CameraSupervisor,
        *,
        threshold: float,
        merge_gap: float,
    ) -> None:
        self._people = people
        self._store = store
        self._feed = feed
        self._supervisor = supervisor
        self._threshold = threshold
        self._merge_gap = merge_gap
        self._open: dict[TrackKey, OpenTrack] = {}
        # By event id, kept for merge_gap after the last sighting.
        self._appearances: dict[int, Appearance] = {}

    async def sample(self, worker_id: str, message: TrackSample, payload: bytes) -> None:
        key = (worker_id, message.camera_id, message.track_id)
        embedding = np.asarray(message.embedding, np.float32)
        nearest = await asyncio.to_thread(self._people.gallery.search, embedding, 1)
        person_id = nearest[0].person_id if nearest else None
        distance = nearest[0].distance if nearest else None
        track = self._open.get(key)
        if track is not None and track.is_someone_else(embedding, self._threshold):
            del self._open[key]
            await self._close(track, track.last_seen)
            track = None
        if track is None:
            track = await self._open_track(key, message, person_id, distance)
        track.embeddings.append(embedding)
        track.add(person_id, distance, self._threshold)
        track.last_seen = max(track.last_seen, message.at)
        identity, best = track.identity()
        changes: dict[str, Any] = {
            "person_id": identity,
            "distance": best,
            "last_seen": _utc(track.last_seen),
        }
        quality = float(message.quality.get("score", message.quality.get("size", 0)))
        if quality > track.best_quality:  # the best view so far: its images and its box, together
            track.best_quality = quality
            crop, snapshot = payload[: message.crop_bytes], payload[message.crop_bytes :]
            await asyncio.to_thread(self._store.save_images, track.event_id, crop, snapshot)
            changes.update(
                box=message.box, frame_width=message.frame_width, frame_height=message.frame_height
            )
        appearance = self._appearances.setdefault(
            track.event_id, Appearance(track.event_id, track.camera_id, track.first_seen, track.last_seen)
        )
        appearance.person_id, appearance.last_seen = identity, max(appearance.last_seen, track.last_seen)
        appearance.embeddings.append(embedding)
        appearance.samples += 1
        changes["samples"] = appearance.samples
        created, appearance.announced = not appearance.announced, True
        await self._save(track, {**changes, "ended": False}, created=created)
        await self._label(key, track, identity)

    async def ended(self, worker_id: str, message: TrackEnded) -> None:
        track = self._open.pop((worker_id, message.camera_id, message.track_id), None)
        if track is not None:
            await self._close(track, max(track.last_seen, message.last_seen))

    async def worker_lost(self, worker_id: str) -> None:
        """Its tracks will never end by message: close them now."""
        for key in [k for k in self._open if k[0] == worker_id]:
            track = self._open.pop(key)
            await self._close(track, track.last_seen)

    def camera_removed(self, camera_id: int) -> None:
        """Forget its open tracks: the camera and its events are gone."""
        for key in [k for k in self._open if k[1] == camera_id]:
            del self._open[key]
        for event_id in [e for e, a in self._appearances.items() if a.camera_id == camera_id]:
            del self._appearances[event_id]

    # --- internals -----------------------------------------------------------

    async def _open_track(
        self, key: TrackKey, message: TrackSample, person_id: int | None, distance: float | None
    ) -> OpenTrack:
        known = person_id if distance is not None and distance <= self._threshold else None
        embedding = np.asarray(message.embedding, np.float32)
        horizon = message.at - self._merge_gap
        for event_id in [e for e, a in self._appearances.items() if a.last_seen < horizon]:
            del self._appearances[event_id]
        resumed = next(
            (
                a
                for a in self._appearances.values()
                if a.camera_id == message.camera_id and a.same_face(known, embedding, self._threshold)
            ),
            None,
        )
        if resumed is not None:
            track = OpenTrack(resumed.event_id, message.camera_id, resumed.first_seen, message.at)
            track.best_quality = float("inf")  # keep the images already chosen for this appearance
        else:
            event = await asyncio.to_thread(
                self._store.create,
                {
                    "camera_id": message.camera_id,
                    "person_id": known,
                    "distance": distance,
                    "first_seen": _utc(message.at),
                    "last_seen": _utc(message.at),
                    "box": message.box,
                    "frame_width": message.frame_width,
                    "frame_height": message.frame_height,
                    "samples": 0,
                    "ended": False,
                },
            )
            track = OpenTrack(event.id, message.camera_id, message.at, message.at)
            self._appearances[event.id] = Appearance(
                event.id, message.camera_id, message.at, message.at, known
            )
        self._open[key] = track
        return track

    async def _close(self, track: OpenTrack, last_seen: float) -> None:
        """End the track; its event ends too unless another open track continues it."""
        if not any(t.event_id == track.event_id for t in self._open.values()):
            await self._save(track, {"ended": True, "last_seen": _utc(last_seen)}, created=False)

    async def _save(self, track: OpenTrack, changes: dict[str, Any], *, created: bool) -> None:
        event = await asyncio.to_thread(self._store.update, track.event_id, changes)
        if event is None:
            return
        names = await asyncio.to_thread(self._people.names, {event.person_id} if event.person_id else set())
        self._feed.publish(
            {
                "kind": "created" if created else "updated",
                "event_id": event.id,
                "camera_id": event.camera_id,
                "person_id": event.person_id,
                "name": names.get(event.person_id or -1),
                "ended": event.ended,
            }
        )

    async def _label(self, key: TrackKey, track: OpenTrack, identity: int | None) -> None:
        names = await asyncio.to_thread(self._people.names, {identity} if identity is not None else set())
        label = names.get(identity or -1, "unknown")
        if label != track.label:
            track.label = label
            await self._supervisor.send_to_camera_worker(
                track.camera_id, LabelTrack(camera_id=track.camera_id, track_id=key[2], label=label)
            )
