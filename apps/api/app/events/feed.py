"""The live feed of events for clients (Server-Sent Events).

Each subscriber has a bounded mailbox; one that does not keep up loses the oldest
notices rather than growing memory or slowing the recorder.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

MAILBOX = 100


class EventFeed:
    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()

    def publish(self, notice: dict[str, Any]) -> None:
        for mailbox in self._subscribers:
            if mailbox.full():
                mailbox.get_nowait()
            mailbox.put_nowait(notice)

    async def subscribe(self) -> AsyncGenerator[dict[str, Any], None]:
        mailbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(MAILBOX)
        self._subscribers.add(mailbox)
        try:
            while True:
                yield await mailbox.get()
        finally:
            self._subscribers.discard(mailbox)
