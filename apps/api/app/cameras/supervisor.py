"""The camera supervisor: keeps every enabled camera running on exactly one worker.

It owns the current assignment and the latest status each worker reported. Any
change — a camera added, edited, disabled or deleted, a worker joining or leaving —
goes through :meth:`rebalance`, which compares the plan with what runs and sends
`stop_camera` / `start_camera` for the difference, under one lock.

A worker that cannot start a camera at all reports it ``failed``: the camera then frees
that worker's slot and goes to another worker, or to none (shown as ``failed`` with the
worker's reason). It is not offered to that worker again until the camera is changed or
the worker reconnects. A camera that starts but cannot connect (``reconnecting``,
``error``) keeps its slot: its worker retries, and cameras come back — unless it has not
streamed for ``CAMERA_YIELD_SECONDS`` and another camera waits for a slot it could take: then
it gives way (``plan``'s ``failing``) and waits in turn, counted as failing until it is changed
or gets a slot again, so it never takes a slot back from a camera that works.

Every camera that runs nowhere has a reason a person can act on (:func:`why_waiting`).

Whether someone watches a camera live is kept apart from where it runs: whichever worker
starts it next (after a move, an edit, or being disabled and enabled again) is asked for
live frames at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
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
from .assignment import Slot, plan, why_waiting
from .store import CameraStore

log = logging.getLogger(__name__)

NOT_STREAMING = ("reconnecting", "error", "stopped")
"""States of a running camera that yields no frames (retrying, or a file that ended)."""


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
    since: float = 0.0
    """When (monotonic) it was started on its worker or last reported streaming."""
    failing_noted: bool = False
    """It has been failing for ``yield_after`` since then, and a plan has been made knowing it."""
    gave_way: str = ""
    """Why it was failing when it gave its slot to a waiting camera (redacted); "" if it did not."""
    waiting: str = ""
    """Why it runs nowhere, while it does."""


class CameraSupervisor:
    def __init__(self, hub: WorkerHub, store: CameraStore, yield_after: float = 60.0) -> None:
        """``yield_after``: seconds without streaming after which a camera gives way to one that
        waits (``CAMERA_YIELD_SECONDS``)."""
        self._hub = hub
        self._store = store
        self._yield_after = yield_after
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
                watch.failure = watch.gave_way = ""
            if changed and watch.worker_id is not None:
                watch.since, watch.failing_noted = time.monotonic(), False
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
            sessions = self._hub.sessions()
            live = {s.id: s for s in sessions if not s.draining}
            draining = {s.id for s in sessions if s.draining}
            for watch in self._watches.values():
                if watch.worker_id is not None and watch.worker_id not in live:
                    watch.worker_id = None  # its worker is gone: that camera is not running
                watch.refused_by &= live.keys()  # a worker that reconnects may try again
            slots = [Slot(w, s.info.capabilities.max_cameras) for w, s in live.items()]
            current = {cid: w.worker_id for cid, w in self._watches.items() if w.worker_id is not None}
            refused = {cid: w.refused_by for cid, w in self._watches.items()}
            now = time.monotonic()
            failing = {cid for cid, w in self._watches.items() if self._failing(w, now)}
            pins = {cid: w.pinned for cid, w in self._watches.items()}
            wanted = plan(pins, slots, current, refused, failing)
            for camera_id, watch in self._watches.items():
                target = wanted.get(camera_id)
                moved = target != watch.worker_id
                if moved:
                    await self._move(camera_id, watch, target, camera_id in failing, now)
                if target is None:
                    watch.waiting = why_waiting(watch.pinned, slots, wanted, watch.refused_by, draining)
                    if watch.gave_way:
                        watch.waiting += f"; it kept failing ({watch.gave_way}), so working cameras go first"
                    if moved:
                        log.warning("camera %d runs on no worker: %s", camera_id, watch.waiting)

    async def _move(
        self, camera_id: int, watch: Watch, target: str | None, failing: bool, now: float
    ) -> None:
        if watch.worker_id is not None:
            await self._send(watch.worker_id, StopCamera(camera_id=camera_id))
            if target is None and failing and watch.status is not None:
                watch.gave_way = redact(watch.status.reason).split("; retrying in")[0] or watch.status.state
                log.info("camera %d gives its slot on %s to a waiting camera", camera_id, watch.worker_id)
        watch.worker_id, watch.status = target, None
        if target is None:
            return
        watch.since, watch.failing_noted, watch.gave_way = now, False, ""
        log.info("camera %d (%s) -> worker %s", camera_id, redact(watch.config.url), target)
        await self._start(target, watch.config)

    def _failing(self, watch: Watch, now: float) -> bool:
        """Has it been failing for a while: running without streaming for ``yield_after``, or
        waiting since it gave way?"""
        if watch.worker_id is None:
            return bool(watch.gave_way)
        status = watch.status
        return status is not None and status.state in NOT_STREAMING and now - watch.since >= self._yield_after

    # --- what workers report -------------------------------------------------

    async def status_reported(self, worker_id: str, status: CameraStatus) -> None:
        watch = self._watches.get(status.camera_id)
        if watch is None or watch.worker_id != worker_id:
            return
        if status.state != "failed":
            now = time.monotonic()
            watch.status = status
            if status.state == "streaming":
                watch.since, watch.failing_noted = now, False
            elif not watch.failing_noted and self._failing(watch, now):
                watch.failing_noted = True  # once: later changes rebalance anyway
                if self._someone_waits():
                    await self.rebalance()  # it may give its slot to a camera that waits
            return
        watch.failure = redact(status.reason) or "the worker could not start it"
        log.warning("camera %d: worker %s could not start it: %s", status.camera_id, worker_id, watch.failure)
        watch.refused_by.add(worker_id)
        watch.worker_id, watch.status = None, None  # it runs nowhere now: free the slot
        await self.rebalance()

    def _someone_waits(self) -> bool:
        return any(w.worker_id is None for w in self._watches.values())

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
