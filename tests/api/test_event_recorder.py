"""EventRecorder in-process, on a real SQLite database and gallery, fed track messages made of
synthetic descriptors: which pieces make one event, who it is, its best view, when it ends."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from app import db
from app.cameras.store import CameraStore
from app.cameras.supervisor import CameraSupervisor
from app.events.feed import EventFeed
from app.events.recorder import EventRecorder
from app.events.store import EventFilter, EventStore
from app.gallery import DIM, Gallery
from app.models import Event
from app.people import NewFace, People
from app.workers.hub import WorkerHub
from facegrid_protocol import TrackEnded, TrackSample

THRESHOLD = 0.6
GAP = 0.5  # EVENT_MERGE_SECONDS, short so that a test waits for it in well under a second
WORKER = "w1"
RNG = np.random.default_rng(11)


def _unit() -> np.ndarray:
    v = RNG.normal(size=DIM)
    return (v / np.linalg.norm(v)).astype(np.float32)


@dataclass
class Rig:
    """A recorder with its real collaborators, one camera, and everything the feed announced."""

    recorder: EventRecorder
    store: EventStore
    people: People
    camera_id: int
    supervisor: CameraSupervisor
    cameras: CameraStore
    notices: list[dict[str, Any]] = field(default_factory=list)
    clock: float = 1_700_000_000.0

    async def sample(self, track: str, embedding: np.ndarray, quality: float = 0.5, tag: bytes = b"") -> None:
        self.clock += 0.1  # within GAP of the previous sample
        crop, snapshot = b"crop:" + tag, b"snapshot:" + tag
        message = TrackSample(
            camera_id=self.camera_id,
            track_id=track,
            at=self.clock,
            box={"x": round(quality * 100), "y": 10, "width": 50, "height": 50},
            frame_width=640,
            frame_height=360,
            quality={"size": 50.0, "sharpness": 100.0, "visible": 1.0, "score": quality},
            embedding=[float(x) for x in embedding],
            crop_bytes=len(crop),
        )
        await self.recorder.sample(WORKER, message, crop + snapshot)

    async def end(self, track: str) -> None:
        message = TrackEnded(camera_id=self.camera_id, track_id=track, last_seen=self.clock)
        await self.recorder.ended(WORKER, message)

    def events(self) -> list[Event]:
        return sorted(self.store.query(EventFilter(), 100, 0)[0], key=lambda e: e.id)

    def enroll(self, name: str, face: np.ndarray) -> int:
        person, _ = self.people.create(name, None, {})
        box = {"x": 0, "y": 0, "width": 50, "height": 50}
        self.people.add_face(person.id, NewFace(face, box, {"size": 50, "sharpness": 1.0}, b"jpg", name))
        return person.id

    async def settle(self) -> None:
        """Wait out the merge window (and a margin): whatever is still open ends now."""
        await asyncio.sleep(GAP * 3)


def run(tmp_path: Path, scenario: Callable[[Rig], Awaitable[None]]) -> None:
    async def main() -> None:
        engine = db.make_engine(f"sqlite:///{tmp_path / 'events.db'}")
        db.migrate(engine)
        sessions = db.session_factory(engine)
        cameras = CameraStore(sessions)
        camera = cameras.create({"name": "Hall", "url": "/dev/null"})
        supervisor = CameraSupervisor(WorkerHub(heartbeat_interval=1, heartbeat_timeout=3), cameras)
        await supervisor.load()
        people = People(sessions, Gallery(), tmp_path / "faces")
        store = EventStore(sessions, tmp_path / "events")
        feed = EventFeed()
        recorder = EventRecorder(people, store, feed, supervisor, threshold=THRESHOLD, merge_gap=GAP)
        rig = Rig(recorder, store, people, camera.id, supervisor, cameras)

        async def listen() -> None:
            async for notice in feed.subscribe():
                rig.notices.append(notice)

        listener = asyncio.create_task(listen())
        await asyncio.sleep(0)  # subscribed before anything happens
        try:
            await scenario(rig)
        finally:
            listener.cancel()
            await recorder.stop()
            engine.dispose()

    asyncio.run(main())


def test_pieces_just_over_the_threshold_join_the_known_persons_open_event(tmp_path):
    """A tracker loses Ada twice; the new pieces start 0.62-0.65 from her enrolled face but
    close to what the event has seen of her: one event, hers."""
    ada = _unit()
    drift = _unit()

    async def scenario(rig: Rig) -> None:
        ada_id = rig.enroll("Ada", ada)
        for _ in range(3):
            await rig.sample("1", ada + 0.5 * drift)
        await rig.sample("2", ada + 0.63 * drift)  # track 1 still open: a duplicate track
        await rig.end("1")
        await rig.sample("3", ada + 0.65 * drift)  # after track 1 was lost
        await rig.sample("3", ada + 0.62 * drift)
        events = rig.events()
        assert [(e.person_id, e.samples) for e in events] == [(ada_id, 6)]

    run(tmp_path, scenario)


def test_an_unknown_piece_joins_an_unknown_appearance_and_a_stranger_does_not(tmp_path):
    someone, stranger = _unit(), _unit()

    async def scenario(rig: Rig) -> None:
        await rig.sample("1", someone)
        await rig.end("1")
        await rig.sample("2", someone + 0.2 * _unit())
        await rig.sample("3", stranger)
        assert [(e.person_id, e.samples) for e in rig.events()] == [(None, 2), (None, 1)]

    run(tmp_path, scenario)


def test_one_close_sample_does_not_name_a_stranger(tmp_path):
    ada, stranger = _unit(), _unit()

    async def scenario(rig: Rig) -> None:
        rig.enroll("Ada", ada)
        lookalike = ada + 0.55 * _unit()
        await rig.sample("1", lookalike)  # the first frame resembles Ada...
        for _ in range(4):
            await rig.sample("1", lookalike + 0.3 * stranger)  # ...the rest match nobody
        [event] = rig.events()
        assert event.person_id is None and event.samples == 5

    run(tmp_path, scenario)


def test_a_merged_event_is_named_from_all_its_samples(tmp_path):
    """Track 1 starts far from anyone enrolled; track 2, the same face, matches Ada several times:
    the event is Ada's once most of its samples say so."""
    ada = _unit()
    drift = _unit()

    async def scenario(rig: Rig) -> None:
        ada_id = rig.enroll("Ada", ada)
        await rig.sample("1", ada + 0.66 * drift)
        await rig.sample("1", ada + 0.64 * drift)
        await rig.end("1")
        assert rig.events()[0].person_id is None
        for _ in range(3):
            await rig.sample("2", ada + 0.5 * drift)
        [event] = rig.events()
        assert (event.person_id, event.samples) == (ada_id, 5)

    run(tmp_path, scenario)


def test_ended_turns_true_once_after_the_merge_window(tmp_path):
    face = _unit()

    async def scenario(rig: Rig) -> None:
        await rig.sample("1", face)
        await rig.end("1")  # lost...
        await rig.sample("2", face)  # ...and found again at once
        await rig.end("2")
        await rig.sample("3", face)
        await rig.end("3")
        assert not rig.events()[0].ended  # the window is still open
        await rig.settle()
        [event] = rig.events()
        assert event.ended and event.samples == 3
        assert [n["ended"] for n in rig.notices] == [False, False, False, True]
        assert [n["kind"] for n in rig.notices] == ["created", "updated", "updated", "updated"]
        await rig.sample("4", face)  # back after the window: a new appearance
        assert [e.ended for e in rig.events()] == [True, False]

    run(tmp_path, scenario)


def test_a_lost_worker_ends_its_events_only_after_the_window(tmp_path):
    face = _unit()

    async def scenario(rig: Rig) -> None:
        await rig.sample("1", face)
        await rig.recorder.worker_lost(WORKER)
        assert not rig.events()[0].ended
        await rig.sample("1", face)  # what it buffered arrives: the same appearance
        await rig.recorder.worker_lost(WORKER)
        await rig.settle()
        [event] = rig.events()
        assert event.ended and event.samples == 2

    run(tmp_path, scenario)


def test_the_best_view_follows_the_best_sample_of_the_whole_appearance(tmp_path):
    face = _unit()

    async def scenario(rig: Rig) -> None:
        await rig.sample("1", face, quality=0.3, tag=b"small")
        await rig.end("1")
        await rig.sample("2", face, quality=0.9, tag=b"best")  # a later piece, a better view
        await rig.sample("2", face, quality=0.6, tag=b"worse")
        [event] = rig.events()
        assert rig.store.image_path(event.id, "face").read_bytes() == b"crop:best"
        assert rig.store.image_path(event.id, "snapshot").read_bytes() == b"snapshot:best"
        assert event.box["x"] == 90
        assert event.quality is not None and event.quality["score"] == 0.9
        assert event.embedding == face.tobytes()

    run(tmp_path, scenario)


def test_events_left_open_by_a_previous_run_are_ended_at_start(tmp_path):
    face = _unit()

    async def scenario(rig: Rig) -> None:
        await rig.sample("1", face)
        [before] = rig.events()
        assert not before.ended
        await rig.recorder.start()  # as after a crash: a new recorder finds the row still open
        [after] = rig.events()
        assert after.ended and after.last_seen == before.last_seen

    run(tmp_path, scenario)


def test_samples_arriving_while_their_camera_is_deleted_leave_no_event_behind(tmp_path):
    async def scenario(rig: Rig) -> None:
        await rig.sample("open", _unit())  # an event in progress
        racing = [asyncio.create_task(rig.sample(str(i), _unit())) for i in range(6)]
        await asyncio.sleep(0)  # they are past the camera check, looking their faces up
        # DELETE /api/cameras/{id}, step by step as the route does it:
        await rig.supervisor.camera_removed(rig.camera_id)
        await rig.recorder.camera_removed(rig.camera_id)
        await asyncio.to_thread(rig.store.delete_for_camera, rig.camera_id)
        await asyncio.to_thread(rig.cameras.delete, rig.camera_id)
        await asyncio.gather(*racing)  # none of them fails
        await rig.sample("late", _unit())  # nor does one arriving afterwards
        await rig.settle()
        assert rig.events() == []
        assert list((tmp_path / "events").iterdir()) == []
        assert not rig.recorder._appearances and not rig.recorder._open  # nothing left to end

    run(tmp_path, scenario)


def test_a_person_deleted_while_in_view_leaves_their_open_event_unknown_and_recording(tmp_path):
    """DELETE /api/persons/{id} while a camera shows them: the event goes on as unknown, also
    for a sample whose face was looked up just before the deletion; enrolled again, they are
    named by the next samples, however long the event was theirs before."""
    ada = _unit()

    async def delete(rig: Rig, person_id: int) -> None:  # as the route does it
        rig.people.delete(person_id)
        rig.recorder.person_deleted(person_id)

    async def scenario(rig: Rig) -> None:
        ada_id = rig.enroll("Ada", ada)
        for _ in range(5):
            await rig.sample("t", ada)
        assert rig.events()[0].person_id == ada_id
        async with rig.recorder.exclusive():
            racing = asyncio.create_task(rig.sample("t", ada))
            await asyncio.sleep(0.1)  # it has looked Ada up and waits for the lock
            await delete(rig, ada_id)
        await racing
        await rig.sample("t", ada)
        [event] = rig.events()
        assert (event.person_id, event.samples, event.ended) == (None, 7, False)
        assert rig.notices[-1]["person_id"] is None and rig.notices[-1]["name"] is None
        again = rig.enroll("Ada", ada)
        for _ in range(3):  # 3 of the 5 votes left: hers
            await rig.sample("t", ada)
        assert (rig.events()[0].person_id, rig.events()[0].samples) == (again, 10)
        await rig.end("t")
        await rig.settle()
        assert rig.events()[0].ended

    run(tmp_path, scenario)
