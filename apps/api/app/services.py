"""The collaborators one API instance is built from, created and torn down in one place."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Engine

from . import db
from .config import Settings
from .jobs import Dispatcher
from .metrics import Metrics
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
        return cls(settings, engine, metrics, hub, WorkerStore(db.session_factory(engine)), dispatcher)

    async def start(self) -> None:
        db.migrate(self.engine)
        self.hub.start()
        log.info("API ready; data in %s", self.settings.data_dir.resolve())

    async def stop(self) -> None:
        await self.hub.stop()
        self.engine.dispose()
