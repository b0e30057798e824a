"""EVENT_RETENTION_DAYS: events (and their images) older than that are deleted, hourly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta, timezone

from .store import EventStore

log = logging.getLogger(__name__)

PERIOD = 3600.0


class EventRetention:
    def __init__(self, store: EventStore, days: float) -> None:
        self._store = store
        self._days = days
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._days > 0:
            self._task = asyncio.create_task(self._run(), name="event-retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def sweep(self) -> int:
        cutoff = datetime.now(timezone.utc) - timedelta(days=self._days)
        removed = await asyncio.to_thread(self._store.delete_before, cutoff)
        if removed:
            log.info("deleted %d events older than %g days", removed, self._days)
        return removed

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:  # a failed sweep is retried next period
                log.exception("event retention sweep failed")
            await asyncio.sleep(PERIOD)
