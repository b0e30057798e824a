"""A worker's job totals across its connections, in process: the real hub and store on a real
SQLite database. A connection that replaces a silent one starts from totals that hold the
replaced one's jobs, however late that one's end is stored, and no job is counted twice."""

from __future__ import annotations

import asyncio
from pathlib import Path

from app import db
from app.metrics import Metrics
from app.workers.hub import WorkerHub
from app.workers.session import WorkerSession, utcnow
from app.workers.store import WorkerStore


async def _connect(hub: WorkerHub, store: WorkerStore, session: WorkerSession) -> None:
    """What the socket handler does once a worker has registered."""
    await hub.earlier_recorded(session.id, timeout=5)
    await asyncio.to_thread(store.connected, session)
    hub.attach(session)


async def _end(hub: WorkerHub, store: WorkerStore, session: WorkerSession) -> None:
    """What the socket handler does when a connection ends."""
    current = hub.detach(session)
    await asyncio.to_thread(store.disconnected, session, utcnow(), current=current)
    hub.recorded(session)


def test_a_replacement_starts_from_totals_with_the_replaced_connections_jobs(tmp_path: Path, worker_session):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'workers.db'}")
    db.migrate(engine)
    store = WorkerStore(db.session_factory(engine))
    metrics = Metrics()

    async def main() -> None:
        hub = WorkerHub(heartbeat_interval=0.01, heartbeat_timeout=60)
        old = worker_session("w", metrics)
        assert hub.admit("w") is None
        await _connect(hub, store, old)
        old.jobs_done, old.jobs_failed = 2, 1
        await asyncio.sleep(0.05)  # silent for over two heartbeat intervals
        assert hub.admit("w") is None and old.expired_reason == "replaced by a new connection"
        new = worker_session("w", metrics)
        connecting = asyncio.create_task(_connect(hub, store, new))
        await asyncio.sleep(0.1)
        assert not connecting.done()  # it waits for the replaced connection's end to be stored
        await _end(hub, store, old)  # late, as when its handler is slow to wind up
        await connecting
        assert (new.earlier_done, new.earlier_failed) == (2, 1)
        new.jobs_done = 1
        await _end(hub, store, new)

    asyncio.run(main())
    record = store.get("w")
    assert record is not None and (record.jobs_done, record.jobs_failed) == (3, 1)
    engine.dispose()
