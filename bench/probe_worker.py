"""A stand-in worker that speaks the real protocol but runs no vision: it isolates the API's share.

It registers like a worker (token, id and protocol headers, ``register``, heartbeats),
accepts the cameras the API pins to it, answers ``start_camera`` with a ``streaming``
status, and then sends what a camera worker sends, noting when it sent each:

* ``live_frame`` messages while the API asks for live view (``set_live``), at the asked
  fps, each the next JPEG of ``frames`` (their barcodes tell a viewer which one it got;
  :attr:`ProbeWorker.live_sent` keeps the send times);
* ``track_sample`` messages of new tracks on demand (:meth:`ProbeWorker.send_samples`),
  each with ``at`` = its send time and a random unit embedding: random 128-d unit
  vectors are ~1.4 apart, far over the 0.6 threshold, so each is a new unknown face and
  opens a new event. Compared with a real worker's, the time to the event is the API's
  part alone.

It runs its own event loop in a thread, so synchronous benchmark code can drive it.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import os
import socket
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import numpy as np
from facegrid_protocol import (
    HEADER_PROTOCOL,
    HEADER_WORKER_ID,
    MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
    CameraStatus,
    Capabilities,
    Heartbeat,
    LiveFrame,
    Register,
    Registered,
    SetLive,
    StartCamera,
    StopCamera,
    TrackEnded,
    TrackSample,
    decode,
    encode,
)
from websockets.asyncio.client import ClientConnection, connect

T = TypeVar("T")


class SendLog:
    """Send times of a looping sequence of numbered frames (index = sequence number mod ``period``).

    A receiver that decodes only the index (a 10-bit barcode) finds the send time of the
    copy it got with :meth:`sent_at`: the latest send of that index before it arrived.
    """

    def __init__(self, period: int) -> None:
        self.period = period
        self.times: list[float] = []
        self._lock = threading.Lock()

    def next(self) -> int:
        """Record a send now; returns the frame index to send."""
        with self._lock:
            self.times.append(time.time())
            return (len(self.times) - 1) % self.period

    def sent_at(self, index: int, arrived: float) -> float | None:
        with self._lock:
            last = bisect.bisect_right(self.times, arrived) - 1
            if last < 0:
                return None
            seq = last - (last - index) % self.period
            return self.times[seq] if seq >= 0 else None


class ProbeWorker:
    """See the module docstring. ``frames``: JPEGs with barcodes; ``crop``/``snapshot``: sample images."""

    def __init__(
        self,
        ws_url: str,
        token: str,
        worker_id: str,
        frames: list[bytes],
        *,
        crop: bytes,
        snapshot: bytes,
        max_cameras: int = 2,
    ) -> None:
        self.ws_url, self.token, self.id = ws_url, token, worker_id
        self.frames, self.crop, self.snapshot = frames, crop, snapshot
        self.max_cameras = max_cameras
        self.live_sent = SendLog(len(frames))
        self.samples_sent: dict[str, float] = {}
        self.live_requests: list[SetLive] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="probe-worker", daemon=True)
        self._ws: ClientConnection | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._live: dict[int, asyncio.Task[None]] = {}
        self._rng = np.random.default_rng(11)
        self._tracks = 0

    # --- driven from other threads ------------------------------------------------------

    def start(self, timeout: float = 15) -> None:
        self._thread.start()
        self._call(self._connect(), timeout)

    def send_samples(self, camera_id: int, count: int, interval: float) -> None:
        """``count`` new tracks, one sample each, ``interval`` seconds apart; then end them all."""
        self._call(self._samples(camera_id, count, interval), count * interval + 30)

    def stop(self) -> None:
        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                self._call(self._close(), 10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # --- on the probe's loop ------------------------------------------------------------

    async def _connect(self) -> None:
        headers = {
            "Authorization": f"Bearer {self.token}",
            HEADER_WORKER_ID: self.id,
            HEADER_PROTOCOL: str(PROTOCOL_VERSION),
        }
        self._ws = await connect(self.ws_url, additional_headers=headers, max_size=MAX_MESSAGE_BYTES)
        capabilities = Capabilities(job_types=[], max_jobs=1, max_cameras=self.max_cameras, cpu_count=1)
        register = Register(
            worker_id=self.id,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            version="bench-probe",
            protocol_version=PROTOCOL_VERSION,
            capabilities=capabilities,
        )
        await self._ws.send(encode(register))
        reply = decode(await self._ws.recv()).message
        if not isinstance(reply, Registered):
            raise RuntimeError(f"probe worker not registered: {reply!r}")
        self._tasks = [
            asyncio.create_task(self._heartbeat(reply.heartbeat_interval)),
            asyncio.create_task(self._receive()),
        ]

    async def _send(self, message: Any, payload: bytes | None = None) -> None:
        assert self._ws is not None
        await self._ws.send(encode(message, payload))

    async def _heartbeat(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self._send(Heartbeat(jobs_in_flight=0))

    async def _receive(self) -> None:
        assert self._ws is not None
        async for data in self._ws:
            message = decode(data).message
            if isinstance(message, StartCamera):
                camera_id = message.camera.camera_id
                await self._send(
                    CameraStatus(camera_id=camera_id, state="streaming", last_frame_at=time.time())
                )
            elif isinstance(message, SetLive):
                self.live_requests.append(message)
                self._stop_live(message.camera_id)
                if message.enabled:
                    task = asyncio.create_task(self._send_live(message.camera_id, message.max_fps))
                    self._live[message.camera_id] = task
            elif isinstance(message, StopCamera):
                self._stop_live(message.camera_id)

    def _stop_live(self, camera_id: int) -> None:
        task = self._live.pop(camera_id, None)
        if task is not None:
            task.cancel()

    async def _send_live(self, camera_id: int, fps: float) -> None:
        period = 1.0 / fps
        next_at = time.monotonic()
        while True:
            index = self.live_sent.next()
            await self._send(LiveFrame(camera_id=camera_id), self.frames[index])
            next_at += period
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def _samples(self, camera_id: int, count: int, interval: float) -> None:
        started: list[tuple[str, float]] = []
        for _ in range(count):
            self._tracks += 1
            track_id = f"probe-{self._tracks}"
            embedding = self._rng.normal(size=128)
            embedding /= np.linalg.norm(embedding)
            at = time.time()
            self.samples_sent[track_id] = at
            sample = TrackSample(
                camera_id=camera_id,
                track_id=track_id,
                at=at,
                box={"x": 200, "y": 120, "width": 110, "height": 110},
                frame_width=640,
                frame_height=360,
                quality={"size": 110.0, "sharpness": 1.0, "visible": 1.0, "score": 0.9},
                embedding=[float(v) for v in embedding],
                crop_bytes=len(self.crop),
            )
            await self._send(sample, self.crop + self.snapshot)
            started.append((track_id, at))
            await asyncio.sleep(interval)
        for track_id, at in started:
            await self._send(TrackEnded(camera_id=camera_id, track_id=track_id, last_seen=at))

    async def _close(self) -> None:
        for task in [*self._live.values(), *self._tasks]:
            task.cancel()
        if self._ws is not None:
            await self._ws.close()
