"""The server is stopping: long-lived responses end now rather than hold up the shutdown.

uvicorn's graceful shutdown waits for every open response to finish. An event feed or
a live view never finishes by itself, so without this signal each one held the API
for the whole graceful timeout and was then cancelled with an error.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TypeVar

T = TypeVar("T")


class Stopping:
    """Set once, when the server begins to shut down (see `main.ApiServer`)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    async def cut(self, stream: AsyncIterator[T]) -> AsyncIterator[T]:
        """`stream`'s items until the server begins to stop; then `stream` is closed (its
        `finally` runs) and this ends normally, so the response ends complete."""
        stop = asyncio.ensure_future(self._event.wait())
        step: asyncio.Future[T] | None = None
        try:
            while not self._event.is_set():
                step = asyncio.ensure_future(anext(stream))
                await asyncio.wait({step, stop}, return_when=asyncio.FIRST_COMPLETED)
                if not step.done():  # stopping, while the stream waits for its next item
                    step.cancel()  # the stream's own cleanup runs in that task: let it finish
                    await asyncio.wait({step})
                    return
                try:
                    item = step.result()
                except StopAsyncIteration:
                    return
                yield item
        finally:
            stop.cancel()
            if step is not None and not step.done():
                step.cancel()  # we were cancelled (the client left): that task closes the stream
            elif isinstance(stream, AsyncGenerator):
                await stream.aclose()  # runs its `finally` now, not whenever it is collected
