"""Worker records in the database: what `GET /api/workers` shows once a worker is gone."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import sessionmaker

from ..models import WorkerRecord
from .session import WorkerSession, utcnow


class WorkerStore:
    def __init__(self, sessions: sessionmaker) -> None:
        self._sessions = sessions

    def connected(self, worker: WorkerSession) -> None:
        """Record a new connection, and give the session its earlier connections' job totals."""
        with self._sessions.begin() as db:
            record = db.get(WorkerRecord, worker.id)
            if record is None:
                record = WorkerRecord(id=worker.id, jobs_done=0, jobs_failed=0)
                db.add(record)
            worker.earlier_done, worker.earlier_failed = record.jobs_done, record.jobs_failed
            _copy_facts(record, worker)
            record.offline_since = None

    def disconnected(self, worker: WorkerSession, at: datetime, *, current: bool) -> None:
        """Add the connection's jobs to the totals; unless a newer connection took its place
        (``current`` False), also record when it was last heard from and that it went offline ``at``."""
        with self._sessions.begin() as db:
            record = db.get(WorkerRecord, worker.id)
            if record is None:
                return
            record.jobs_done += worker.jobs_done
            record.jobs_failed += worker.jobs_failed
            if current:
                _copy_facts(record, worker)
                record.offline_since = at

    def all_offline(self) -> None:
        """At start-up: connections the last run did not see end are over; they ended by the
        time each worker was last heard from."""
        with self._sessions.begin() as db:
            stale = update(WorkerRecord).where(WorkerRecord.offline_since.is_(None))
            db.execute(stale.values(offline_since=WorkerRecord.last_seen))

    def recent(self, within: timedelta) -> list[WorkerRecord]:
        with self._sessions() as db:
            since = utcnow() - within
            return list(db.scalars(select(WorkerRecord).where(WorkerRecord.last_seen >= since)))

    def get(self, worker_id: str) -> WorkerRecord | None:
        with self._sessions() as db:
            return db.get(WorkerRecord, worker_id)


def _copy_facts(record: WorkerRecord, worker: WorkerSession) -> None:
    record.hostname = worker.info.hostname
    record.pid = worker.info.pid
    record.version = worker.info.version
    record.capabilities = worker.info.capabilities.model_dump()
    record.connected_at = worker.connected_at
    record.last_seen = worker.last_seen
    record.last_heartbeat = worker.last_heartbeat
