"""Job dispatch: request/response over the worker socket.

A job is encoded into its socket message once, when it is submitted: one that
would not fit in a message fails at once (:class:`JobTooLarge`), before any worker
is chosen, so an oversized job never costs a worker its connection. It then waits
in one FIFO queue until a worker that can run its kind has a free slot; the
least-loaded such worker gets it. A job whose worker disconnects (or hands it back
while stopping) goes back to the head of the queue, up to ``max_attempts`` tries.
A request only ever waits up to its timeout.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from facegrid_protocol import CancelJob, Job, JobRelease, JobResult, MessageTooLarge, encode

from .metrics import Metrics
from .workers.hub import WorkerHub
from .workers.session import WorkerSession

log = logging.getLogger(__name__)


class DispatchError(Exception):
    """Root of the ways a job can end without a result; ``code`` names the way for programs."""

    code = "unavailable"


class NoWorkerAvailable(DispatchError):
    def __init__(self, kind: str) -> None:
        super().__init__(f"no worker available for '{kind}' jobs (none connected, or all draining)")


class QueueFull(DispatchError):
    def __init__(self, size: int) -> None:
        super().__init__(f"all workers are busy and {size} jobs are already waiting")


class JobTimeout(DispatchError):
    code = "timeout"

    def __init__(self, kind: str, timeout: float) -> None:
        super().__init__(f"'{kind}' job got no answer within {timeout:g} s")


class WorkerLost(DispatchError):
    def __init__(self, attempts: int) -> None:
        super().__init__(f"the worker running the job disconnected ({attempts} attempts)")


class JobFailed(DispatchError):
    """The worker ran the job and reported an error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class JobTooLarge(JobFailed):
    """The job with its payload would not fit in one socket message: no worker ever sees it."""

    def __init__(self, error: MessageTooLarge) -> None:
        super().__init__(
            "too_large",
            f"the job is {error.size:,} bytes with its image, over the {error.limit:,}-byte limit "
            "of one message to a worker",
        )


@dataclass(frozen=True)
class JobOutcome:
    result: dict[str, Any]
    payload: bytes | None
    worker_id: str


@dataclass(eq=False)
class PendingJob:
    job_id: str
    kind: str
    frame: str | bytes
    """The `job` message with its payload, encoded once and sent as is on every attempt."""
    future: asyncio.Future[JobOutcome]
    attempts: int = 0
    submitted: float = field(default_factory=time.monotonic)


class Dispatcher:
    def __init__(self, hub: WorkerHub, metrics: Metrics, *, queue_size: int, max_attempts: int) -> None:
        self._hub = hub
        self._metrics = metrics
        self._queue_size = queue_size
        self._max_attempts = max_attempts
        self._queue: deque[PendingJob] = deque()
        self._assigned = 0
        self._sends: set[asyncio.Task[None]] = set()  # held so they are not garbage-collected mid-send

    @property
    def queued(self) -> int:
        return len(self._queue)

    def capacity(self, kind: str) -> int:
        """Job slots, busy or free, of the workers taking ``kind`` jobs: more at once only queue."""
        ready = (s for s in self._hub.sessions() if not s.draining)
        return sum(s.info.capabilities.max_jobs for s in ready if kind in s.info.capabilities.job_types)

    async def run(
        self, kind: str, params: dict[str, Any], payload: bytes | None = None, *, timeout: float
    ) -> JobOutcome:
        """Run one job on some worker and return its answer, or raise a :class:`DispatchError`."""
        job_id = uuid.uuid4().hex
        try:
            frame = encode(Job(job_id=job_id, kind=kind, params=params, timeout=timeout), payload)
        except MessageTooLarge as exc:
            self._metrics.jobs.labels(kind, "too_large").inc()
            raise JobTooLarge(exc) from None
        if not self._hub.can_serve(kind):
            self._metrics.jobs.labels(kind, "no_worker").inc()
            raise NoWorkerAvailable(kind)
        if len(self._queue) >= self._queue_size:
            self._metrics.jobs.labels(kind, "queue_full").inc()
            raise QueueFull(len(self._queue))
        job = PendingJob(job_id, kind, frame, asyncio.get_running_loop().create_future())
        self._queue.append(job)
        self._pump()
        try:
            outcome = await asyncio.wait_for(job.future, timeout)
        except asyncio.TimeoutError:
            self._abandon(job)
            self._metrics.jobs.labels(kind, "timeout").inc()
            raise JobTimeout(kind, timeout) from None
        except DispatchError as exc:
            outcome_label = "failed" if isinstance(exc, JobFailed) else "worker_lost"
            self._metrics.jobs.labels(kind, outcome_label).inc()
            raise
        self._metrics.jobs.labels(kind, "ok").inc()
        self._metrics.job_latency.labels(kind).observe(time.monotonic() - job.submitted)
        return outcome

    # --- events from the socket handler ---------------------------------

    def worker_available(self) -> None:
        self._pump()

    def worker_lost(self, worker: WorkerSession) -> None:
        """Re-queue (at the head, keeping order) what the worker had in flight."""
        lost = [job for job in worker.in_flight.values() if not job.future.done()]
        worker.in_flight.clear()
        for job in reversed(lost):
            self._retry_or_fail(job, f"worker {worker.id} disconnected")
        self._pump()

    def job_result(self, worker: WorkerSession, message: JobResult, payload: bytes | None) -> None:
        job = worker.in_flight.pop(message.job_id, None)
        if job is None:
            log.debug("late or unknown result for job %s from %s", message.job_id, worker.id)
        elif message.error is not None:
            worker.jobs_failed += 1
            if not job.future.done():
                job.future.set_exception(JobFailed(message.error.code, message.error.message))
        else:
            worker.jobs_done += 1
            if not job.future.done():
                job.future.set_result(JobOutcome(message.result or {}, payload, worker.id))
        self._pump()

    def job_released(self, worker: WorkerSession, message: JobRelease) -> None:
        job = worker.in_flight.pop(message.job_id, None)
        if job is not None and not job.future.done():
            self._retry_or_fail(job, f"worker {worker.id} released it: {message.reason}")
        self._pump()

    # --- internals -------------------------------------------------------

    def _retry_or_fail(self, job: PendingJob, why: str) -> None:
        if job.attempts < self._max_attempts:
            log.info("job %s (%s) goes back to the queue: %s", job.job_id, job.kind, why)
            self._queue.appendleft(job)
        else:
            job.future.set_exception(WorkerLost(job.attempts))

    def _pump(self) -> None:
        """Hand queued jobs, in order, to the least-loaded worker that can take each."""
        self._assign_queued()
        self._metrics.jobs_queued.set(len(self._queue))

    def _assign_queued(self) -> None:
        for job in list(self._queue):
            if job.future.done():
                self._queue.remove(job)
                continue
            worker = self._hub.pick(job.kind)
            if worker is None:
                if not self._hub.can_serve(job.kind):  # the last capable worker left: say so now
                    self._queue.remove(job)
                    job.future.set_exception(NoWorkerAvailable(job.kind))
                continue
            self._queue.remove(job)
            job.attempts += 1
            self._assigned += 1
            worker.last_assigned = self._assigned
            worker.in_flight[job.job_id] = job
            self._spawn(self._send(worker, job))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    async def _send(self, worker: WorkerSession, job: PendingJob) -> None:
        try:
            await worker.send_frame(job.frame, "job")
        except Exception as exc:  # a socket error: the handler sees the disconnect and re-queues
            log.warning("could not send job %s to %s: %r", job.job_id, worker.id, exc)
            worker.expire(f"send failed: {exc}")

    def _abandon(self, job: PendingJob) -> None:
        """The requester gave up: drop the job if queued, else tell its worker."""
        if job in self._queue:
            self._queue.remove(job)
            self._metrics.jobs_queued.set(len(self._queue))
            return
        for worker in self._hub.sessions():
            if job.job_id in worker.in_flight:
                # The slot stays taken until the worker answers: its CPU is still busy.
                self._spawn(worker.send(CancelJob(job_id=job.job_id)))
