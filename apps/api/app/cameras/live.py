"""Live view relay: worker JPEG frames -> every viewer, only while someone watches.

The first viewer of a camera turns its worker's frame stream on; the last one to
leave turns it off. Each viewer has a one-frame mailbox: a slow viewer skips frames
(it always gets the newest), never piles them up, and never slows anyone else. A camera
disabled while watched keeps its viewers waiting, and they see it again when it is
enabled; a deleted camera ends its viewers' streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator

from facegrid_protocol import SetLive

from .supervisor import CameraSupervisor

LIVE_MAX_FPS = 5.0
LIVE_MAX_WIDTH = 960
FRESH_FOR = 2.0
"""A frame younger than this (seconds) serves a snapshot without asking the worker."""


class LiveRelay:
    def __init__(self, supervisor: CameraSupervisor) -> None:
        self._supervisor = supervisor
        self._viewers: dict[int, set[asyncio.Queue[bytes | None]]] = {}
        """Each viewer's mailbox; ``None`` in it ends the viewer's stream."""
        self._latest: dict[int, tuple[float, bytes]] = {}

    def viewers(self, camera_id: int) -> int:
        return len(self._viewers.get(camera_id, ()))

    def frame_arrived(self, camera_id: int, jpeg: bytes) -> None:
        self._latest[camera_id] = (time.monotonic(), jpeg)
        self._post(camera_id, jpeg)

    def camera_deleted(self, camera_id: int) -> None:
        """End the streams of everyone watching ``camera_id``."""
        self._latest.pop(camera_id, None)
        self._post(camera_id, None)

    def _post(self, camera_id: int, item: bytes | None) -> None:
        for mailbox in self._viewers.get(camera_id, ()):
            if mailbox.full():
                mailbox.get_nowait()  # drop the frame this viewer has not taken yet
            mailbox.put_nowait(item)

    async def frames(self, camera_id: int) -> AsyncGenerator[bytes, None]:
        """Frames of one camera for one viewer, until the viewer goes away."""
        mailbox: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=1)
        viewers = self._viewers.setdefault(camera_id, set())
        viewers.add(mailbox)
        if len(viewers) == 1:
            await self._supervisor.set_live(
                camera_id,
                SetLive(camera_id=camera_id, enabled=True, max_fps=LIVE_MAX_FPS, max_width=LIVE_MAX_WIDTH),
            )
        try:
            while (jpeg := await mailbox.get()) is not None:
                yield jpeg
        finally:
            viewers.discard(mailbox)
            if not viewers:
                del self._viewers[camera_id]
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._supervisor.set_live(camera_id, None))

    async def snapshot(self, camera_id: int, timeout: float) -> bytes | None:
        """The newest frame; asks the worker for one if none is fresh. None if none came in time."""
        latest = self._latest.get(camera_id)
        if latest is not None and time.monotonic() - latest[0] < FRESH_FOR:
            return latest[1]
        stream = self.frames(camera_id)
        try:
            return await asyncio.wait_for(stream.__anext__(), timeout)
        except (asyncio.TimeoutError, StopAsyncIteration):  # no frame in time, or the camera was deleted
            return None
        finally:
            await stream.aclose()
