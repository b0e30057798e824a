"""One connected worker, as the API sees it."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import TYPE_CHECKING

from facegrid_protocol import Message, Register, encode
from starlette.websockets import WebSocket

from ..metrics import Metrics

if TYPE_CHECKING:
    from ..jobs import PendingJob


class WorkerStatus(str, Enum):
    IDLE = "idle"
    BUSY = "busy"
    DRAINING = "draining"
    OFFLINE = "offline"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(eq=False)
class WorkerSession:
    """State of one live connection; only the hub, the socket handler and the dispatcher touch it."""

    info: Register
    websocket: WebSocket
    metrics: Metrics
    connected_at: datetime = field(default_factory=utcnow)
    last_seen: datetime = field(default_factory=utcnow)
    """When anything last arrived from the worker."""
    last_heartbeat: datetime | None = None
    draining: bool = False
    in_flight: dict[str, PendingJob] = field(default_factory=dict)
    jobs_done: int = 0
    """On this connection, like `jobs_failed`; `earlier_*` hold its earlier connections' totals."""
    jobs_failed: int = 0
    earlier_done: int = 0
    earlier_failed: int = 0
    receive_task: asyncio.Task[None] | None = None
    recorded: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the connection's end is in the store: its jobs are in the worker's totals."""
    expired_reason: str | None = None
    last_assigned: int = 0
    """Dispatch order of its latest job: ties in load go to the worker idle longest."""
    _last_heard: float = field(default_factory=time.monotonic)
    _send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def id(self) -> str:
        return self.info.worker_id

    @property
    def status(self) -> WorkerStatus:
        if self.draining:
            return WorkerStatus.DRAINING
        return WorkerStatus.BUSY if self.in_flight else WorkerStatus.IDLE

    @property
    def load(self) -> float:
        return len(self.in_flight) / self.info.capabilities.max_jobs

    def can_take(self, kind: str) -> bool:
        caps = self.info.capabilities
        return not self.draining and kind in caps.job_types and len(self.in_flight) < caps.max_jobs

    def heard(self) -> None:
        self._last_heard = time.monotonic()
        self.last_seen = utcnow()

    def quiet_for(self) -> float:
        """Seconds since anything arrived from this worker."""
        return time.monotonic() - self._last_heard

    async def send(self, message: Message, payload: bytes | None = None) -> None:
        await self.send_frame(encode(message, payload), message.type)

    async def send_frame(self, data: str | bytes, kind: str) -> None:
        """Send one encoded message of type `kind` (jobs are encoded once, before a worker is
        chosen); every message the API sends goes through here, and is counted here."""
        async with self._send_lock:
            if isinstance(data, bytes):
                await self.websocket.send_bytes(data)
            else:
                await self.websocket.send_text(data)
        self.metrics.socket_messages.labels("out", kind).inc()

    def expire(self, reason: str) -> None:
        """Drop the connection from the API's side (heartbeat timeout, replaced)."""
        self.expired_reason = reason
        if self.receive_task is not None:
            self.receive_task.cancel()
