"""FaceRecognitionWorker: the basic socket-only worker.

It owns the socket client and the jobs in flight. Start-up and shutdown are a
few named steps here; shutdown drains with a deadline and hands back what did
not finish, so the API can retry it on another worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time

from facegrid_protocol import (
    PROTOCOL_VERSION,
    CancelJob,
    Capabilities,
    Draining,
    Heartbeat,
    Job,
    JobError,
    JobRelease,
    JobResult,
    Message,
    MessageTooLarge,
    Register,
)

from . import __version__
from .camera_service import CameraService
from .config import WorkerSettings
from .engine import FaceEngine
from .engine_child import EngineConfig
from .jobs import Handler, JobInputError
from .jobs.analyze import analyze_handler
from .jobs.echo import run_echo
from .worker_client import WorkerClient

log = logging.getLogger(__name__)


class StartupFailed(Exception):
    """The worker cannot work (its models do not load or run): it must not register."""


class FaceRecognitionWorker:
    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.engine = FaceEngine(
            EngineConfig(
                detector=settings.detector,
                upsample=settings.detect_upsample,
                detection_max_side=settings.detect_max_side,
                max_pixels=settings.max_image_pixels,
            ),
            processes=settings.max_jobs,
        )
        self._handlers: dict[str, Handler] = {"echo": run_echo, "analyze": analyze_handler(self.engine)}
        self._running: dict[str, asyncio.Task[None]] = {}
        self._cancelled: set[str] = set()  # jobs the API gave up on: answered 'cancelled', not handed back
        self._draining = False
        self._stopped = asyncio.Event()
        self._stop_requested_at = 0.0
        self.client = WorkerClient(
            url=settings.socket_url,
            token=settings.worker_token,
            registration=self._registration,
            on_message=self._dispatch,
            on_registered=self._registered,
            heartbeat=lambda: Heartbeat(jobs_in_flight=len(self._running)),
            reconnect_max_delay=settings.reconnect_max_delay,
        )

    def _registration(self) -> Register:
        s = self.settings
        return Register(
            worker_id=s.worker_id,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            version=__version__,
            protocol_version=PROTOCOL_VERSION,
            capabilities=Capabilities(
                job_types=sorted(self._handlers),
                models=self.engine.models,
                max_jobs=s.max_jobs,
                max_cameras=s.max_cameras,
                cpu_count=os.cpu_count() or 1,
            ),
        )

    async def run(self) -> None:
        """Check the models, then serve until SIGINT/SIGTERM, then drain and return."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self.request_stop)
            except NotImplementedError:  # Windows: no loop signal handlers
                signal.signal(sig, lambda *_: loop.call_soon_threadsafe(self.request_stop))
        self.cameras = CameraService(self.settings, self.client)
        try:
            await self._check_models()
            self.cameras.start()
            await self._serve()
        finally:
            await self.cameras.stop()
            await self.engine.close()

    async def _check_models(self) -> None:
        try:
            timings = await self.engine.start()
        except Exception as exc:
            raise StartupFailed(f"face models failed their start-up check: {exc}") from exc
        log.info(
            "models ready (%s; self-test %s)",
            ", ".join(f"{k} {v}" for k, v in self.engine.models.items()),
            ", ".join(f"{k} {v:.0f}" for k, v in timings.items()),
        )

    async def _serve(self) -> None:
        link = asyncio.create_task(self.client.run(), name="link")
        stop = asyncio.create_task(self._stopped.wait(), name="stop")
        done, _ = await asyncio.wait({link, stop}, return_when=asyncio.FIRST_COMPLETED)
        if link in done:
            stop.cancel()
            link.result()  # raises RegistrationRefused: nothing to drain
            return
        await self._drain()
        await self.client.close()  # a normal close handshake, when connected
        link.cancel()  # stops a pending reconnect as well
        with contextlib.suppress(asyncio.CancelledError):
            await link

    def request_stop(self) -> None:
        if self._stopped.is_set():
            # Tools like `timeout` deliver one stop twice within milliseconds: only a
            # deliberate second signal forces the exit.
            if time.monotonic() - self._stop_requested_at > 1.0:
                log.warning("second stop signal: exiting now")
                os._exit(1)
            return
        self._stop_requested_at = time.monotonic()
        log.info("stop requested: draining")
        self._stopped.set()

    async def _drain(self) -> None:
        """Take no more work, let jobs finish until the deadline, stop the rest and hand them back."""
        self._draining = True
        await self.client.send(Draining(reason="worker stopping"))
        await self.cameras.drain()
        if self._running:
            log.info("waiting up to %.0f s for %d job(s)", self.settings.shutdown_timeout, len(self._running))
            await asyncio.wait(list(self._running.values()), timeout=self.settings.shutdown_timeout)
        unfinished = dict(self._running)
        for task in unfinished.values():
            task.cancel()
        # Closing the engine before the cancelled jobs resume means none of them starts a fresh
        # engine process; every child is stopped, a busy one too, so the worker exits now.
        await self.engine.close()
        await asyncio.gather(*unfinished.values(), return_exceptions=True)
        for job_id in unfinished:
            await self.client.send(JobRelease(job_id=job_id, reason="worker stopped before finishing"))
            log.warning("handed job %s back to the API", job_id)

    # --- messages from the API ----------------------------------------------

    async def _registered(self) -> None:
        await self.cameras.registered()

    async def _dispatch(self, message: Message, payload: bytes | None) -> None:
        if isinstance(message, Job):
            await self._accept(message, payload)
        elif isinstance(message, CancelJob):
            self._cancel(message)
        else:
            await self.cameras.handle(message)

    # --- jobs --------------------------------------------------------------

    async def _accept(self, job: Job, payload: bytes | None) -> None:
        if self._draining:
            await self.client.send(JobRelease(job_id=job.job_id, reason="worker is draining"))
            return
        task = asyncio.create_task(self._execute(job, payload), name=f"job-{job.job_id}")
        self._running[job.job_id] = task
        task.add_done_callback(lambda _: self._running.pop(job.job_id, None))

    def _cancel(self, message: CancelJob) -> None:
        """Stop the job (a face job's engine process is killed) and answer 'cancelled', freeing
        the slot the API keeps taken until this worker answers."""
        task = self._running.get(message.job_id)
        if task is not None and not task.done():
            log.info("API cancelled job %s: stopping it", message.job_id)
            self._cancelled.add(message.job_id)
            task.cancel()

    async def _execute(self, job: Job, payload: bytes | None) -> None:
        try:
            try:
                answer, out_payload = await self._outcome(job, payload)
            except asyncio.CancelledError:
                if job.job_id not in self._cancelled:
                    raise  # the worker is stopping: the drain hands the job back
                answer, out_payload = _failure(job, "cancelled", "the API cancelled the job"), None
            # Shielded: a cancel arriving while the answer is sent must not cut it off.
            await asyncio.shield(self._answer(job, answer, out_payload))
        finally:
            self._cancelled.discard(job.job_id)

    async def _outcome(self, job: Job, payload: bytes | None) -> tuple[JobResult, bytes | None]:
        """Run the job's handler within the job's timeout; every failure becomes an answer."""
        handler = self._handlers.get(job.kind)
        try:
            if handler is None:
                raise JobInputError("unsupported", f"this worker does not run '{job.kind}' jobs")
            output = await asyncio.wait_for(handler(job, payload), job.timeout)
        except asyncio.TimeoutError:
            log.warning("job %s (%s) ran past its %g s timeout: stopped", job.job_id, job.kind, job.timeout)
            message = f"the job ran past its {job.timeout:g} s timeout and was stopped"
            return _failure(job, "timeout", message), None
        except JobInputError as exc:
            return _failure(job, exc.code, exc.message), None
        except Exception as exc:  # a bad job must never take the worker down
            log.exception("job %s (%s) failed", job.job_id, job.kind)
            return _failure(job, "internal", f"{type(exc).__name__}: {exc}"), None
        return JobResult(job_id=job.job_id, result=output.result), output.payload

    async def _answer(self, job: Job, answer: JobResult, out_payload: bytes | None) -> None:
        try:
            delivered = await self.client.send(answer, out_payload)
        except MessageTooLarge as exc:
            delivered = await self.client.send(_failure(job, "too_large", f"result too large: {exc.reason}"))
        if not delivered:
            log.warning("job %s finished while disconnected; the API will have re-queued it", job.job_id)


def _failure(job: Job, code: str, message: str) -> JobResult:
    return JobResult(job_id=job.job_id, error=JobError(code=code, message=message))
