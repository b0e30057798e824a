"""Turns the tracks workers report into events: one event per appearance, its identity voted by
all of its samples.

A worker sends a `track_sample` (an embedding, a face crop, a snapshot) for each new
track and then about once a second per track, and `track_ended` when the face leaves.
Trackers lose faces (fast motion, a missed detection, a turned head), so one appearance
often arrives as several track pieces, and a piece's first samples may be just over the
match threshold. So a new piece continues an appearance on the same camera that is still
in view or was last seen within `merge_gap` seconds when its face is within the
threshold of that appearance's recent faces, known or unknown alike; failing that, when
both are the same known person. Only otherwise does it start a new event.

The identity is decided from all of the appearance's samples (`identity.decide`), its
images, box and descriptor follow the best-quality sample of the whole appearance, and
it ends once `merge_gap` seconds pass with no track continuing it: `ended` turns true
once and never back. Events still open when the API stopped (or crashed) are ended when
it starts again: nothing can continue them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
from facegrid_protocol import LabelTrack, TrackEnded, TrackSample

from ..cameras.supervisor import CameraSupervisor
from ..models import Event
from ..people import People
from .feed import EventFeed
from .identity import Vote, decide, vote
from .store import EventStore

log = logging.getLogger(__name__)

TrackKey = tuple[str, int, str]
RECENT = 64
"""Faces kept per track and per appearance to compare new ones with (the latest matter most)."""


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


def _recent() -> deque[np.ndarray]:
    return deque(maxlen=RECENT)


def _nearest(faces: deque[np.ndarray], embedding: np.ndarray) -> float:
    return min((float(np.linalg.norm(e - embedding)) for e in faces), default=math.inf)


@dataclass
class Appearance:
    """One event while it can still grow: its votes, recent faces, best view and open tracks."""

    event_id: int
    camera_id: int
    last_seen: float
    votes: list[Vote] = field(default_factory=list)
    samples: int = 0
    faces: deque[np.ndarray] = field(default_factory=_recent)
    person_id: int | None = None
    assigned: int | None = None
    """A person given through the API: outranks the vote."""
    best_quality: float = -math.inf
    tracks: int = 0
    ending: asyncio.Task[None] | None = None
    announced: bool = False

    def identity(self) -> tuple[int | None, float | None]:
        if self.assigned is not None:
            return self.assigned, 0.0  # its own best face is now one of that person's
        return decide(self.votes)


@dataclass
class OpenTrack:
    appearance: Appearance
    faces: deque[np.ndarray] = field(default_factory=_recent)
    label: str = ""

    def is_someone_else(self, embedding: np.ndarray, threshold: float) -> bool:
        """True when a new face is far from every face seen so far on this track: the tracker
        followed a box across a scene cut or a crossing, and it is another person now."""
        return bool(self.faces) and _nearest(self.faces, embedding) > threshold


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
        self._appearances: dict[int, Appearance] = {}  # by event id, until it ends
        # Samples are applied one at a time, and nothing outside changes an event half-way.
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        ended = await asyncio.to_thread(self._store.end_open)
        if ended:
            log.info("ended %d events left open when the API last stopped", ended)

    async def stop(self) -> None:
        endings = [a.ending for a in self._appearances.values() if a.ending is not None]
        for task in endings:
            task.cancel()
        for task in endings:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def sample(self, worker_id: str, message: TrackSample, payload: bytes) -> None:
        if self._supervisor.watch(message.camera_id) is None:
            return  # deleted or disabled since the worker saw it
        key = (worker_id, message.camera_id, message.track_id)
        embedding = np.asarray(message.embedding, np.float32)
        gallery = self._people.gallery
        nearest = await asyncio.to_thread(gallery.search, embedding, 1)
        async with self._lock:
            if self._supervisor.watch(message.camera_id) is None:
                return  # deleted or disabled while its face was looked up: no event for it
            if nearest and nearest[0].face_id not in gallery:  # deleted meanwhile: look again
                nearest = await asyncio.to_thread(gallery.search, embedding, 1)
            ballot = vote(nearest[0] if nearest else None, self._threshold)
            track = await self._track(key, message, embedding, ballot)
            name = await self._apply(track.appearance, message, embedding, ballot, payload)
            track.faces.append(embedding)
        await self._label(key, track, name)

    async def ended(self, worker_id: str, message: TrackEnded) -> None:
        async with self._lock:
            track = self._open.pop((worker_id, message.camera_id, message.track_id), None)
            if track is not None:
                appearance = track.appearance
                appearance.last_seen = max(appearance.last_seen, message.last_seen)
                self._release(appearance)

    async def worker_lost(self, worker_id: str) -> None:
        """Its tracks will never end by message: end them now (their events may still continue)."""
        async with self._lock:
            for key in [k for k in self._open if k[0] == worker_id]:
                self._release(self._open.pop(key).appearance)

    async def camera_removed(self, camera_id: int) -> None:
        """Forget its open tracks and appearances: the camera and its events are going.

        Call once the supervisor no longer watches it: a sample being applied meanwhile is
        finished first, and none after it makes an event for the camera."""
        async with self._lock:
            for key in [k for k in self._open if k[1] == camera_id]:
                del self._open[key]
            for event_id in [e for e, a in self._appearances.items() if a.camera_id == camera_id]:
                ending = self._appearances.pop(event_id).ending
                if ending is not None:
                    ending.cancel()

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """Hold while changing events' identity from outside: no sample is half-applied meanwhile."""
        async with self._lock:
            yield

    def assigned(self, person_id: int, name: str, events: list[Event]) -> None:
        """These events were given to this person (call inside :meth:`exclusive`): the open ones
        keep that identity from now on, and every client hears of the change."""
        for event in events:
            appearance = self._appearances.get(event.id)
            if appearance is not None:
                appearance.assigned = appearance.person_id = person_id
            self._feed.publish(_notice(event, name, created=False))

    def person_deleted(self, person_id: int) -> None:
        """This person was just deleted (call inside :meth:`exclusive`): their open events turn
        unknown (the database has already cleared them), and their samples' votes are dropped:
        the person enrolled again, the next samples name them as in a new appearance."""
        for appearance in self._appearances.values():
            appearance.votes = [v for v in appearance.votes if v.person_id != person_id]
            if appearance.assigned == person_id:
                appearance.assigned = None
            appearance.person_id = appearance.identity()[0]

    # --- internals -----------------------------------------------------------

    async def _track(
        self, key: TrackKey, message: TrackSample, embedding: np.ndarray, ballot: Vote
    ) -> OpenTrack:
        track = self._open.get(key)
        if track is not None and track.is_someone_else(embedding, self._threshold):
            del self._open[key]
            self._release(track.appearance)
            track = None
        if track is None:
            appearance = self._continued(message, embedding, ballot.person_id)
            if appearance is None:
                appearance = await self._new_event(message)
            appearance.tracks += 1
            if appearance.ending is not None:
                appearance.ending.cancel()
                appearance.ending = None
            track = self._open[key] = OpenTrack(appearance)
        return track

    def _continued(self, message: TrackSample, embedding: np.ndarray, known: int | None) -> Appearance | None:
        """The appearance a new track piece continues, if any (see the module docstring)."""
        candidates = [
            a
            for a in self._appearances.values()
            if a.camera_id == message.camera_id and (a.tracks or message.at - a.last_seen <= self._merge_gap)
        ]
        distances = {a.event_id: _nearest(a.faces, embedding) for a in candidates}
        closest = min(candidates, key=lambda a: distances[a.event_id], default=None)
        if closest is not None and distances[closest.event_id] <= self._threshold:
            return closest
        same_person = [a for a in candidates if known is not None and a.person_id == known]
        return max(same_person, key=lambda a: a.last_seen, default=None)

    async def _new_event(self, message: TrackSample) -> Appearance:
        event = await asyncio.to_thread(
            self._store.create,
            {
                "camera_id": message.camera_id,
                "first_seen": _utc(message.at),
                "last_seen": _utc(message.at),
                "box": message.box,
                "frame_width": message.frame_width,
                "frame_height": message.frame_height,
                "samples": 0,
                "ended": False,
            },
        )
        appearance = self._appearances[event.id] = Appearance(event.id, message.camera_id, message.at)
        return appearance

    async def _apply(
        self, a: Appearance, message: TrackSample, embedding: np.ndarray, ballot: Vote, payload: bytes
    ) -> str | None:
        """Add one sample to its appearance and save what changed; returns the name it now shows."""
        a.votes.append(ballot)
        a.samples += 1
        a.faces.append(embedding)
        a.last_seen = max(a.last_seen, message.at)
        a.person_id, distance = a.identity()
        changes: dict[str, Any] = {
            "person_id": a.person_id,
            "distance": distance,
            "last_seen": _utc(a.last_seen),
            "samples": a.samples,
        }
        quality = float(message.quality.get("score", message.quality.get("size", 0)))
        if quality > a.best_quality:  # the best view so far: its images, box and descriptor together
            a.best_quality = quality
            crop, snapshot = payload[: message.crop_bytes], payload[message.crop_bytes :]
            await asyncio.to_thread(self._store.save_images, a.event_id, crop, snapshot)
            changes.update(
                box=message.box,
                frame_width=message.frame_width,
                frame_height=message.frame_height,
                embedding=embedding.tobytes(),
                quality=message.quality,
            )
        created, a.announced = not a.announced, True
        return await self._save(a.event_id, changes, created=created)

    def _release(self, appearance: Appearance) -> None:
        """One of its tracks is gone; with none left, it ends unless continued within merge_gap."""
        appearance.tracks -= 1
        if appearance.tracks == 0 and appearance.ending is None:
            appearance.ending = asyncio.create_task(
                self._end_later(appearance), name=f"event-{appearance.event_id}-ending"
            )

    async def _end_later(self, appearance: Appearance) -> None:
        await asyncio.sleep(self._merge_gap)
        async with self._lock:
            if appearance.tracks or self._appearances.get(appearance.event_id) is not appearance:
                return
            del self._appearances[appearance.event_id]
            changes = {"ended": True, "last_seen": _utc(appearance.last_seen)}
            await self._save(appearance.event_id, changes, created=False)

    async def _save(self, event_id: int, changes: dict[str, Any], *, created: bool) -> str | None:
        """Save and announce; returns the name of the person the event shows (read once here)."""
        event = await asyncio.to_thread(self._store.update, event_id, changes)
        if event is None:
            return None
        name = None
        if event.person_id is not None:
            name = (await asyncio.to_thread(self._people.names, {event.person_id})).get(event.person_id)
        self._feed.publish(_notice(event, name, created=created))
        return name

    async def _label(self, key: TrackKey, track: OpenTrack, name: str | None) -> None:
        """Tell the track's worker the name to draw, if the camera is still that worker's."""
        worker_id, camera_id, track_id = key
        label = name or "unknown"
        if label != track.label and self._supervisor.worker_of(camera_id) == worker_id:
            track.label = label
            await self._supervisor.send_to_camera_worker(
                camera_id, LabelTrack(camera_id=camera_id, track_id=track_id, label=label)
            )


def _notice(event: Event, name: str | None, *, created: bool) -> dict[str, Any]:
    return {
        "kind": "created" if created else "updated",
        "event_id": event.id,
        "camera_id": event.camera_id,
        "person_id": event.person_id,
        "name": name,
        "ended": event.ended,
    }
