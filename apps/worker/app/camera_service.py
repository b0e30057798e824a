"""Cameras on the socket: the API's camera commands in, track messages and live frames out.

The camera manager works in threads; the socket lives in the event loop. Threads hand
their output over with `call_soon_threadsafe`. Track messages wait in a bounded outbox
while the link is down and go out in order once it is back; when the outbox is full
the oldest are dropped and counted (reported in `camera_status`). Live frames are
never queued: only the newest per camera is sent, and none while disconnected.

A camera's status goes out when it starts, at once whenever its state changes, and
every `CAMERA_STATUS_INTERVAL` seconds (its fps and counters change all the time).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, deque
from collections.abc import Callable
from typing import TypeVar

from facegrid_common.camera_source import redact
from facegrid_protocol import (
    CameraState,
    CameraStatus,
    LabelTrack,
    LiveFrame,
    Message,
    SetLive,
    StartCamera,
    StopCamera,
    TrackEnded,
    TrackSample,
)

from .cameras import manager as cams
from .cameras.outputs import FaceSample, LiveImage, TrackFinished
from .cameras.processor import ProcessorSettings
from .cameras.reader import ReaderOptions, ReaderState
from .config import WorkerSettings
from .vision.pipeline import FacePipeline
from .worker_client import WorkerClient

log = logging.getLogger(__name__)

T = TypeVar("T")

_STATES: dict[ReaderState, CameraState] = {
    ReaderState.STARTING: "starting",
    ReaderState.STREAMING: "streaming",
    ReaderState.RECONNECTING: "reconnecting",
    ReaderState.ERROR: "error",
    ReaderState.ENDED: "stopped",
    ReaderState.STOPPED: "stopped",
}


class CameraService:
    """Owns the camera manager and the loop that sends what cameras produce."""

    def __init__(self, settings: WorkerSettings, client: WorkerClient) -> None:
        self._client = client
        self._loop = asyncio.get_running_loop()
        self._manager = cams.CameraManager(
            self._make_pipeline,
            max_cameras=settings.max_cameras,
            on_sample=lambda s: self._from_thread(self._queue_sample, s),
            on_track_ended=lambda e: self._from_thread(self._queue_ended, e),
            on_live_frame=lambda f: self._from_thread(self._queue_live, f),
            on_state_change=lambda camera_id: self._from_thread(self._state_changed, camera_id),
            reader_options=ReaderOptions(
                open_timeout=settings.camera_open_timeout,
                read_timeout=settings.camera_open_timeout,
                stall_timeout=settings.stall_timeout,
            ),
            processor_defaults=ProcessorSettings(scan_interval=settings.camera_scan_interval),
        )
        self._settings = settings
        self._draining = False
        self._outbox: deque[tuple[Message, bytes | None]] = deque()
        self._live: dict[int, LiveImage] = {}
        self._dropped: Counter[int] = Counter()
        self._wake = asyncio.Event()
        self._changed: set[int] = set()
        self._status_wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def _from_thread(self, handler: Callable[[T], None], item: T) -> None:
        self._loop.call_soon_threadsafe(handler, item)

    def _make_pipeline(self) -> FacePipeline:
        """The cameras' pipeline. Its detector does not shrink: each camera's processor already
        shrinks frames to that camera's ``detection_width``, and ``DETECT_MAX_SIDE`` (for photos)
        must not cap it again."""
        s = self._settings
        return FacePipeline(
            s.detector, upsample=s.detect_upsample, detection_max_side=None, max_pixels=s.max_image_pixels
        )

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._send_forever(), name="camera-outbox"),
            asyncio.create_task(self._report_forever(), name="camera-status"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._stop_cameras()

    async def drain(self) -> None:
        """The worker is stopping: end its cameras now (the API gives them to other workers) and
        start no more, so no camera is still opening when the process exits."""
        self._draining = True
        await self._stop_cameras()

    async def registered(self) -> None:
        """A new session: the API re-sends the cameras it wants here, so drop the old ones."""
        await self._stop_cameras()

    async def _stop_cameras(self) -> None:
        if self._manager.camera_ids:
            await asyncio.to_thread(self._manager.stop_all, 5.0)

    # --- commands from the API ---------------------------------------------------

    async def handle(self, message: Message) -> None:
        if isinstance(message, StartCamera):
            if self._draining:  # sent before the API heard that this worker is stopping
                log.info("camera %d: not started, the worker is stopping", message.camera.camera_id)
                return
            await self._start(message)
        elif isinstance(message, StopCamera):
            with contextlib.suppress(cams.UnknownCamera):
                await asyncio.to_thread(self._manager.stop, message.camera_id)
            self._live.pop(message.camera_id, None)
        elif isinstance(message, SetLive):
            with contextlib.suppress(cams.UnknownCamera):
                self._manager.set_live(message.camera_id, message.enabled, message.max_fps, message.max_width)
        elif isinstance(message, LabelTrack):
            with contextlib.suppress(cams.UnknownCamera, ValueError):
                self._manager.set_label(message.camera_id, int(message.track_id), message.label)

    async def _start(self, message: StartCamera) -> None:
        c = message.camera
        running = c.camera_id in self._manager.camera_ids
        try:
            await asyncio.to_thread(self._manager.update if running else self._manager.start, c)
        except Exception as exc:  # a bad camera is reported, never fatal
            reason = redact(str(exc))
            log.warning("camera %d could not start: %s", c.camera_id, reason)
            with contextlib.suppress(cams.UnknownCamera):  # an update that failed: run nothing stale
                await asyncio.to_thread(self._manager.stop, c.camera_id)
            await self._client.send(CameraStatus(camera_id=c.camera_id, state="failed", reason=reason))
            return
        await self._report(c.camera_id)

    # --- what cameras produce ------------------------------------------------------

    def _queue(self, camera_id: int, message: Message, payload: bytes | None) -> None:
        if len(self._outbox) >= self._settings.camera_outbox:
            dropped, _ = self._outbox.popleft()
            self._dropped[getattr(dropped, "camera_id", camera_id)] += 1
        self._outbox.append((message, payload))
        self._wake.set()

    def _queue_sample(self, sample: FaceSample) -> None:
        message = TrackSample(
            camera_id=sample.camera_id,
            track_id=str(sample.track_id),
            at=sample.timestamp,
            box=sample.box.to_dict(),
            frame_width=sample.frame_width,
            frame_height=sample.frame_height,
            quality=sample.quality,
            embedding=[float(v) for v in sample.embedding],
            crop_bytes=len(sample.face_jpeg),
        )
        self._queue(sample.camera_id, message, sample.face_jpeg + sample.snapshot_jpeg)

    def _queue_ended(self, ended: TrackFinished) -> None:
        message = TrackEnded(
            camera_id=ended.camera_id,
            track_id=str(ended.track_id),
            last_seen=ended.last_seen,
        )
        self._queue(ended.camera_id, message, None)

    def _queue_live(self, frame: LiveImage) -> None:
        self._live[frame.camera_id] = frame
        self._wake.set()

    async def _send_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._client.registered.wait()
            while self._outbox:
                message, payload = self._outbox[0]
                if not await self._client.send(message, payload):
                    break  # link down: keep it for the next session
                self._outbox.popleft()
            for camera_id in list(self._live):
                frame = self._live.pop(camera_id)
                await self._client.send(LiveFrame(camera_id=camera_id), frame.jpeg)

    # --- status --------------------------------------------------------------------

    def _state_changed(self, camera_id: int) -> None:
        self._changed.add(camera_id)
        self._status_wake.set()

    async def _report_forever(self) -> None:
        period = self._settings.camera_status_interval
        next_all = self._loop.time() + period
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._status_wake.wait(), max(0.0, next_all - self._loop.time()))
            self._status_wake.clear()
            if self._loop.time() >= next_all:
                due, next_all = self._manager.camera_ids, self._loop.time() + period
            else:
                due = sorted(self._changed)
            self._changed.clear()
            if self._client.registered.is_set():
                for camera_id in due:
                    await self._report(camera_id)

    async def _report(self, camera_id: int) -> None:
        try:
            status = self._manager.status(camera_id)
        except cams.UnknownCamera:
            return
        reader, stats = status.reader, status.processor
        await self._client.send(
            CameraStatus(
                camera_id=camera_id,
                state=_STATES.get(reader.state, "error"),
                reason=reader.reason,
                input_fps=reader.input_fps,
                processed_fps=stats.processed_fps,
                processed_frames=stats.processed_frames,
                scans=stats.scans,
                scan_fps=stats.scan_fps,
                last_frame_at=reader.last_frame_at,
                faces_seen=stats.faces_seen,
                embeddings=stats.embeddings,
                detect_ms=stats.detect_ms,
                follow_ms=stats.follow_ms,
                embed_ms=stats.embed_ms,
                events_dropped=self._dropped[camera_id],
            )
        )
