"""Worker records in the database: what `GET /api/workers` shows once a worker is gone."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from ..models import WorkerRecord
from .session import WorkerSession, utcnow


class WorkerStore:
    def __init__(self, sessions: sessionmaker) -> None:
        self._sessions = sessions

    def save(self, worker: WorkerSession, last_seen: datetime | None = None) -> None:
        with self._sessions.begin() as db:
            record = db.get(WorkerRecord, worker.id) or WorkerRecord(id=worker.id)
            record.hostname = worker.info.hostname
            record.pid = worker.info.pid
            record.version = worker.info.version
            record.capabilities = worker.info.capabilities.model_dump()
            record.connected_at = worker.connected_at
            record.last_seen = last_seen or utcnow()
            record.jobs_done = worker.jobs_done
            record.jobs_failed = worker.jobs_failed
            db.add(record)

    def recent(self, within: timedelta) -> list[WorkerRecord]:
        with self._sessions() as db:
            since = utcnow() - within
            return list(db.scalars(select(WorkerRecord).where(WorkerRecord.last_seen >= since)))

    def get(self, worker_id: str) -> WorkerRecord | None:
        with self._sessions() as db:
            return db.get(WorkerRecord, worker_id)
