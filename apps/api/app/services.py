"""The collaborators one API instance is built from, created and torn down in one place."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy import Engine

from . import db
from .cameras.live import LiveRelay
from .cameras.store import CameraStore
from .cameras.supervisor import CameraSupervisor
from .config import Settings
from .events.assign import EventAssigner
from .events.feed import EventFeed
from .events.recorder import EventRecorder
from .events.retention import EventRetention
from .events.store import EventStore
from .gallery import Gallery
from .jobs import Dispatcher
from .metrics import Metrics
from .people import People
from .recognition import Recognition
from .stopping import Stopping
from .workers.hub import WorkerHub
from .workers.store import WorkerStore

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    engine: Engine
    metrics: Metrics
    hub: WorkerHub
    store: WorkerStore
    dispatcher: Dispatcher
    people: People
    recognition: Recognition
    camera_store: CameraStore
    cameras: CameraSupervisor
    live: LiveRelay
    events: EventStore
    feed: EventFeed
    recorder: EventRecorder
    assigner: EventAssigner
    retention: EventRetention
    stopping: Stopping
    """Set when the server begins to shut down: endless responses end through `stopping.cut`."""

    @classmethod
    def build(cls, settings: Settings, engine: Engine) -> Services:
        """``engine``: the database, migrated (``startup.open_database``)."""
        metrics = Metrics()
        hub = WorkerHub(
            heartbeat_interval=settings.heartbeat_interval, heartbeat_timeout=settings.heartbeat_timeout
        )
        dispatcher = Dispatcher(
            hub, metrics, queue_size=settings.job_queue_size, max_attempts=settings.job_max_attempts
        )
        sessions = db.session_factory(engine)
        people = People(sessions, Gallery(), settings.data_dir / "faces")
        recognition = Recognition(settings, dispatcher, people)
        camera_store = CameraStore(sessions)
        cameras = CameraSupervisor(hub, camera_store, settings.camera_yield_seconds)
        events = EventStore(sessions, settings.data_dir / "events")
        feed = EventFeed()
        recorder = EventRecorder(
            people,
            events,
            feed,
            cameras,
            threshold=settings.match_threshold,
            merge_gap=settings.event_merge_seconds,
        )
        return cls(
            settings=settings,
            engine=engine,
            metrics=metrics,
            hub=hub,
            store=WorkerStore(sessions),
            dispatcher=dispatcher,
            people=people,
            recognition=recognition,
            camera_store=camera_store,
            cameras=cameras,
            live=LiveRelay(cameras),
            events=events,
            feed=feed,
            recorder=recorder,
            assigner=EventAssigner(people, events, recorder),
            retention=EventRetention(events, settings.event_retention_days),
            stopping=Stopping(),
        )

    async def start(self) -> None:
        # Off the event loop (the database was opened and migrated before uvicorn started): a
        # large gallery must not keep the loop (and its signal handlers) waiting.
        await asyncio.to_thread(self.store.all_offline)
        faces = await asyncio.to_thread(self.people.load_gallery)
        await self.cameras.load()
        await self.recorder.start()
        self.hub.start()
        self.retention.start()
        log.info("API ready; data in %s; %d enrolled faces", self.settings.data_dir.resolve(), faces)

    async def stop(self) -> None:
        await self.retention.stop()
        await self.hub.stop()
        await self.recorder.stop()
        self.engine.dispose()
