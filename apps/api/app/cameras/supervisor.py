"""The camera supervisor: keeps every enabled camera running on exactly one worker.

It owns the current assignment and the latest status each worker reported. Any
change — a camera added, edited, disabled or deleted, a worker joining or leaving —
goes through :meth:`rebalance`, which compares the plan with what runs and sends
`stop_camera` / `start_camera` for the difference, under one lock.

A worker that cannot start a camera at all reports it ``failed``: the camera then frees
that worker's slot and goes to another worker, or to none (shown as ``failed`` with the
worker's reason). It is not offered to that worker again until the camera is changed or
the worker reconnects. A camera that starts but cannot connect (``reconnecting``,
``error``) keeps its slot: its worker retries, and cameras come back.

Whether someone watches a camera live is kept apart from where it runs: whichever worker
starts it next (after a move, an edit, or being disabled and enabled again) is asked for
live frames at once.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from facegrid_common.camera_source import redact
from facegrid_protocol import (
    CameraConfig,
    CameraStatus,
    Message,
    SetLive,
    StartCamera,
    StopCamera,
)

from ..models import Camera
from ..workers.hub import WorkerHub
from .assignment import Slot, plan
from .store import CameraStore

log = logging.getLogger(__name__)


@dataclass
class Watch:
    """What the API knows of one running camera."""

    config: CameraConfig
    pinned: str | None
    worker_id: str | None = None
    status: CameraStatus | None = None
    refused_by: set[str] = field(default_factory=set)
    """Connected workers that could not start this configuration."""
    failure: str = ""
    """Why the last of them could not (redacted), shown while no worker runs the camera."""


class CameraSupervisor:
    def __init__(self, hub: WorkerHub, store: CameraStore) -> None:
        self._hub = hub
        self._store = store
        self._watches: dict[int, Watch] = {}
        self._live: dict[int, SetLive] = {}
        """Cameras someone watches, by id: outlives the camera's watch (disabled while watched)."""
        self._lock = asyncio.Lock()

    async def load(self) -> None:
        cameras = await asyncio.to_thread(self._store.all)
        self._watches = {c.id: Watch(_config(c), c.pinned_worker) for c in cameras if c.enabled}

    # --- changes -----------------------------------------------------------

    async def camera_saved(self, camera: Camera) -> None:
        watch = self._watches.get(camera.id)
        if not camera.enabled:
            await self.camera_removed(camera.id)
            return
        config = _config(camera)
        if watch is None:
            self._watches[camera.id] = Watch(config, camera.pinned_worker)
        else:
            changed = watch.config != config
            watch.config, watch.pinned = config, camera.pinned_worker
            if changed:
                watch.refused_by.clear()  # a new configuration deserves a new try everywhere
                watch.failure = ""
            if changed and watch.worker_id is not None:
                await self._start(watch.worker_id, config)  # a new URL restarts it there
        await self.rebalance()

    async def camera_removed(self, camera_id: int) -> None:
        watch = self._watches.pop(camera_id, None)
        if watch is not None and watch.worker_id is not None:
            await self._send(watch.worker_id, StopCamera(camera_id=camera_id))
        await self.rebalance()

    async def worker_changed(self) -> None:
        """A worker joined, left or changed its draining state."""
        await self.rebalance()

    async def rebalance(self) -> None:
        async with self._lock:
            live = {s.id: s for s in self._hub.sessions() if not s.draining}
            for watch in self._watches.values():
                if watch.worker_id is not None and watch.worker_id not in live:
                    watch.worker_id = None  # its worker is gone: that camera is not running
                watch.refused_by &= live.keys()  # a worker that reconnects may try again
            slots = [Slot(w, s.info.capabilities.max_cameras) for w, s in live.items()]
            current = {cid: w.worker_id for cid, w in self._watches.items() if w.worker_id is not None}
            refused = {cid: w.refused_by for cid, w in self._watches.items()}
            wanted = plan({cid: w.pinned for cid, w in self._watches.items()}, slots, current, refused)
            for camera_id, watch in self._watches.items():
                target = wanted.get(camera_id)
                if target == watch.worker_id:
                    continue
                if watch.worker_id is not None:
                    await self._send(watch.worker_id, StopCamera(camera_id=camera_id))
                watch.worker_id, watch.status = target, None
                if target is None:
                    log.warning("camera %d has no worker with room to run it", camera_id)
                    continue
                log.info("camera %d (%s) -> worker %s", camera_id, redact(watch.config.url), target)
                await self._start(target, watch.config)

    # --- what workers report -------------------------------------------------

    async def status_reported(self, worker_id: str, status: CameraStatus) -> None:
        watch = self._watches.get(status.camera_id)
        if watch is None or watch.worker_id != worker_id:
            return
        if status.state != "failed":
            watch.status = status
            return
        watch.failure = redact(status.reason) or "the worker could not start it"
        log.warning("camera %d: worker %s could not start it: %s", status.camera_id, worker_id, watch.failure)
        watch.refused_by.add(worker_id)
        watch.worker_id, watch.status = None, None  # it runs nowhere now: free the slot
        await self.rebalance()

    def worker_of(self, camera_id: int) -> str | None:
        watch = self._watches.get(camera_id)
        return watch.worker_id if watch else None

    def watch(self, camera_id: int) -> Watch | None:
        return self._watches.get(camera_id)

    async def set_live(self, camera_id: int, message: SetLive | None) -> None:
        """Ask the camera's worker for live frames (a SetLive) or to stop them (None); a camera
        that is not running now gets the request when it starts."""
        if message is None:
            self._live.pop(camera_id, None)
        else:
            self._live[camera_id] = message
        worker_id = self.worker_of(camera_id)
        if worker_id is not None:
            await self._send(worker_id, message or SetLive(camera_id=camera_id, enabled=False))

    async def send_to_camera_worker(self, camera_id: int, message: Message) -> None:
        worker_id = self.worker_of(camera_id)
        if worker_id is not None:
            await self._send(worker_id, message)

    async def _start(self, worker_id: str, config: CameraConfig) -> None:
        """Start (or restart) a camera on a worker, with its live view if someone watches."""
        await self._send(worker_id, StartCamera(camera=config))
        live = self._live.get(config.camera_id)
        if live is not None:
            await self._send(worker_id, live)

    async def _send(self, worker_id: str, message: Message) -> None:
        session = self._hub.get(worker_id)
        if session is None:
            return
        try:
            await session.send(message)
        except Exception as exc:  # the socket handler notices the broken link and rebalances
            log.warning("could not send %s to %s: %s", message.type, worker_id, exc)


def _config(camera: Camera) -> CameraConfig:
    return CameraConfig(
        camera_id=camera.id,
        url=camera.url,
        process_fps=camera.process_fps,
        detection_width=camera.detection_width,
        min_face_size=camera.min_face_size,
        loop=camera.loop,
    )
