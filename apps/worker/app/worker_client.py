"""The socket client: dials the API, registers, keeps the link alive, reconnects forever.

Reconnection is the websockets library's own `async for ws in connect(...)` loop,
with its backoff (random first delay, exponential, capped) and its keepalive pings;
this module adds registration, heartbeats and the decision of which refusals are
final. The client opens outbound connections only: it never listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections.abc import Awaitable, Callable

from facegrid_protocol import (
    HEADER_PROTOCOL,
    HEADER_WORKER_ID,
    MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
    CancelJob,
    CloseCode,
    Heartbeat,
    Job,
    Message,
    ProtocolError,
    Refusal,
    Register,
    Registered,
    decode,
    encode,
)
from websockets.asyncio.client import ClientConnection, connect
from websockets.client import backoff
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.protocol import State

log = logging.getLogger(__name__)

OPEN_TIMEOUT = 10.0
KEEPALIVE_INTERVAL = 5.0
KEEPALIVE_TIMEOUT = 10.0

JobHandler = Callable[[Job, bytes | None], Awaitable[None]]
CancelHandler = Callable[[CancelJob], None]
HeartbeatSource = Callable[[], Heartbeat]


class RegistrationRefused(Exception):
    """The API refused this worker for a reason that retrying cannot fix."""


def _refusal_detail(exc: InvalidStatus) -> str:
    try:
        return str(json.loads(exc.response.body or b"{}").get("detail", ""))
    except ValueError:
        return (exc.response.body or b"").decode(errors="replace")[:200]


def _process_exception(exc: Exception) -> Exception | None:
    """Retry transient failures (network, 5xx, duplicate id); give up on the rest."""
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        detail = _refusal_detail(exc) or exc.response.reason_phrase
        if status in Refusal._value2member_map_ and Refusal(status).permanent:
            return RegistrationRefused(f"API refused this worker ({status}): {detail}")
        log.warning("API refused the connection (%s): %s; will retry", status, detail)
        return None
    if isinstance(exc, (OSError, asyncio.TimeoutError, ConnectionClosed)):
        log.warning("cannot reach the API: %s", exc or type(exc).__name__)
        return None
    return exc


class WorkerClient:
    """Owns the connection; the only object that sends or receives on it."""

    def __init__(
        self,
        *,
        url: str,
        token: str,
        register: Register,
        on_job: JobHandler,
        on_cancel: CancelHandler,
        heartbeat: HeartbeatSource,
        reconnect_max_delay: float,
    ) -> None:
        self._url = url
        self._token = token
        self._register = register
        self._on_job = on_job
        self._on_cancel = on_cancel
        self._heartbeat = heartbeat
        self._delays = functools.partial(backoff, initial_delay=1.0, min_delay=1.0, max_delay=reconnect_max_delay)
        self._ws: ClientConnection | None = None
        self._stopping = False
        self.registered = asyncio.Event()

    async def run(self) -> None:
        """Connect, serve, reconnect, until :meth:`close`. Raises RegistrationRefused."""
        headers = {
            "Authorization": f"Bearer {self._token}",
            HEADER_WORKER_ID: self._register.worker_id,
            HEADER_PROTOCOL: str(PROTOCOL_VERSION),
        }
        async for ws in connect(
            self._url,
            additional_headers=headers,
            max_size=MAX_MESSAGE_BYTES,
            open_timeout=OPEN_TIMEOUT,
            ping_interval=KEEPALIVE_INTERVAL,
            ping_timeout=KEEPALIVE_TIMEOUT,
            close_timeout=5,
            process_exception=_process_exception,
            reconnect_delays=self._delays,
            logger=log,
        ):
            if self._stopping:
                await ws.close()
                return
            self._ws = ws
            try:
                await self._serve(ws)
            except ConnectionClosed as exc:
                self._log_closed(exc)
            except ProtocolError as exc:
                log.error("API sent an invalid message: %s", exc.reason)
                await ws.close(CloseCode.PROTOCOL_ERROR, exc.reason[:120])
            finally:
                self._ws = None
                self.registered.clear()
            if self._stopping:
                return
            # A link that dropped right after opening would otherwise spin: pause a little.
            await asyncio.sleep(1.0)

    async def send(self, message: Message, payload: bytes | None = None) -> bool:
        """Send if connected; False when the link is down (the API re-queues what it lost)."""
        ws = self._ws
        if ws is None or ws.state is not State.OPEN:
            return False
        try:
            await ws.send(encode(message, payload))
        except ConnectionClosed:
            return False
        return True

    async def close(self) -> None:
        """Close normally (code 1000) and stop reconnecting."""
        self._stopping = True
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close(CloseCode.NORMAL, "worker stopping")

    async def _serve(self, ws: ClientConnection) -> None:
        await ws.send(encode(self._register))
        first = decode(await asyncio.wait_for(ws.recv(), OPEN_TIMEOUT)).message
        if not isinstance(first, Registered):
            raise ProtocolError(f"expected 'registered', got {first.type!r}")
        log.info("registered with the API as %s", first.worker_id)
        self.registered.set()
        beat = asyncio.create_task(self._beat(ws, first.heartbeat_interval), name="heartbeat")
        try:
            async for data in ws:
                frame = decode(data)
                message = frame.message
                if isinstance(message, Job):
                    await self._on_job(message, frame.payload)
                elif isinstance(message, CancelJob):
                    self._on_cancel(message)
                else:
                    raise ProtocolError(f"the API may not send {message.type!r} now")
            # Iteration ends on a normal close (1000/1001): surface it like any other close.
            raise ws.protocol.close_exc
        finally:
            beat.cancel()

    async def _beat(self, ws: ClientConnection, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(ConnectionClosed):
                await ws.send(encode(self._heartbeat()))

    def _log_closed(self, exc: ConnectionClosed) -> None:
        if self._stopping:
            return
        frame = exc.rcvd
        if frame is None:
            log.warning("connection to the API lost (%s); reconnecting", exc)
        else:
            log.warning("API closed the connection (%s %s); reconnecting", frame.code, frame.reason or "")
