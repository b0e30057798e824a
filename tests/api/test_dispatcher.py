"""The dispatcher's own refusals, in process: the real hub, session and metrics, no socket reached."""

from __future__ import annotations

import asyncio

import pytest
from app.jobs import Dispatcher, JobTooLarge
from app.metrics import Metrics
from app.workers.hub import WorkerHub
from facegrid_protocol import MAX_MESSAGE_BYTES


def test_a_job_too_large_for_one_message_fails_alone_and_no_worker_is_dropped(worker_session):
    hub = WorkerHub(heartbeat_interval=1, heartbeat_timeout=3)
    metrics = Metrics()
    workers = [worker_session("w1", metrics), worker_session("w2", metrics)]
    for worker in workers:
        hub.attach(worker)
    dispatcher = Dispatcher(hub, metrics, queue_size=10, max_attempts=3)

    async def submit() -> JobTooLarge:
        with pytest.raises(JobTooLarge) as caught:
            await dispatcher.run("analyze", {}, b"\0" * MAX_MESSAGE_BYTES, timeout=5)
        await asyncio.sleep(0.1)  # any send the job had started would have run by now
        return caught.value

    error = asyncio.run(submit())
    assert error.code == "too_large"
    assert f"over the {MAX_MESSAGE_BYTES:,}-byte limit of one message to a worker" in error.message
    for worker in workers:
        assert worker.expired_reason is None and not worker.in_flight
        assert hub.get(worker.id) is worker
    assert dispatcher.queued == 0
    assert 'facegrid_jobs_total{kind="analyze",outcome="too_large"} 1.0' in metrics.render().decode()
