"""The collaborators one API instance is built from, created and torn down in one place."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Engine

from . import db
from .config import Settings
from .gallery import Gallery
from .jobs import Dispatcher
from .metrics import Metrics
from .people import People
from .recognition import Recognition
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

    @classmethod
    def build(cls, settings: Settings) -> Services:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = db.make_engine(settings.db_url)
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
        return cls(settings, engine, metrics, hub, WorkerStore(sessions), dispatcher, people, recognition)

    async def start(self) -> None:
        db.migrate(self.engine)
        faces = self.people.load_gallery()
        self.hub.start()
        log.info("API ready; data in %s; %d enrolled faces", self.settings.data_dir.resolve(), faces)

    async def stop(self) -> None:
        await self.hub.stop()
        self.engine.dispose()
