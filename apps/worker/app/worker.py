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
        """Take no more work, let jobs finish until the deadline, hand back the rest."""
        self._draining = True
        await self.client.send(Draining(reason="worker stopping"))
        if self._running:
            log.info("waiting up to %.0f s for %d job(s)", self.settings.shutdown_timeout, len(self._running))
            await asyncio.wait(list(self._running.values()), timeout=self.settings.shutdown_timeout)
        for job_id, task in list(self._running.items()):
            task.cancel()
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
        # Work in a thread cannot be interrupted; its late result is simply ignored by the API.
        task = self._running.get(message.job_id)
        if task is not None:
            log.info("API gave up on job %s", message.job_id)

    async def _execute(self, job: Job, payload: bytes | None) -> None:
        handler = self._handlers.get(job.kind)
        try:
            if handler is None:
                raise JobInputError("unsupported", f"this worker does not run '{job.kind}' jobs")
            output = await handler(job, payload)
            answer = JobResult(job_id=job.job_id, result=output.result)
            out_payload = output.payload
        except JobInputError as exc:
            answer, out_payload = (
                JobResult(job_id=job.job_id, error=JobError(code=exc.code, message=exc.message)),
                None,
            )
        except Exception as exc:  # a bad job must never take the worker down
            log.exception("job %s (%s) failed", job.job_id, job.kind)
            error = JobError(code="internal", message=f"{type(exc).__name__}: {exc}")
            answer, out_payload = JobResult(job_id=job.job_id, error=error), None
        try:
            delivered = await self.client.send(answer, out_payload)
        except MessageTooLarge as exc:
            error = JobError(code="too_large", message=f"result too large: {exc.reason}")
            delivered = await self.client.send(JobResult(job_id=job.job_id, error=error))
        if not delivered:
            log.warning("job %s finished while disconnected; the API will have re-queued it", job.job_id)
