"""The socket client: dials the API, registers, keeps the link alive, reconnects forever.

The websockets library does the connection and its keepalive pings. The retry loop is
ours, not the library's `async for ws in connect(...)`, because it must: cap the backoff per
client from RECONNECT_MAX_DELAY (the library's cap is process-wide, the
WEBSOCKETS_BACKOFF_MAX_DELAY environment variable read at import); count a connection as
made only once `registered` arrives (the library resets its backoff on the handshake); and
end on a permanent refusal (bad token, protocol mismatch) with RegistrationRefused, which
main turns into exit code 3.
The client opens outbound connections only: it never listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable

from facegrid_protocol import (
    FROM_API,
    HEADER_PROTOCOL,
    HEADER_WORKER_ID,
    MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
    CloseCode,
    Heartbeat,
    Message,
    ProtocolError,
    Refusal,
    Register,
    Registered,
    decode,
    encode,
)
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidMessage, InvalidStatus
from websockets.protocol import State

from .backoff import backoff

log = logging.getLogger(__name__)

OPEN_TIMEOUT = 10.0
KEEPALIVE_INTERVAL = 5.0
KEEPALIVE_TIMEOUT = 10.0
RECONNECT_FIRST = 1.0
RECONNECT_FACTOR = 1.6

MessageHandler = Callable[[Message, bytes | None], Awaitable[None]]
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
    if isinstance(exc, (OSError, asyncio.TimeoutError, ConnectionClosed, InvalidMessage)):
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
        registration: Callable[[], Register],
        on_message: MessageHandler,
        on_registered: Callable[[], Awaitable[None]],
        heartbeat: HeartbeatSource,
        reconnect_max_delay: float,
    ) -> None:
        self._url = url
        self._token = token
        self._registration = registration
        self._on_message = on_message
        self._on_registered = on_registered
        self._heartbeat = heartbeat
        self._max_delay = reconnect_max_delay
        self._ws: ClientConnection | None = None
        self._stopping = False
        self.registered = asyncio.Event()

    async def run(self) -> None:
        """Connect, serve, reconnect, until :meth:`close`. Raises RegistrationRefused."""
        headers = {
            "Authorization": f"Bearer {self._token}",
            HEADER_WORKER_ID: self._registration().worker_id,
            HEADER_PROTOCOL: str(PROTOCOL_VERSION),
        }
        delays = backoff(RECONNECT_FIRST, self._max_delay, RECONNECT_FACTOR)
        while not self._stopping:
            try:
                ws = await connect(
                    self._url,
                    additional_headers=headers,
                    max_size=MAX_MESSAGE_BYTES,
                    open_timeout=OPEN_TIMEOUT,
                    ping_interval=KEEPALIVE_INTERVAL,
                    ping_timeout=KEEPALIVE_TIMEOUT,
                    close_timeout=5,
                    compression=None,  # images do not compress; deflating them only burns CPU
                )
            except Exception as exc:
                fatal = _process_exception(exc)
                if fatal is not None:
                    raise fatal from exc
                delay = next(delays)
                log.info("reconnecting in %.1f s", delay)
                await asyncio.sleep(delay)
                continue
            if await self._run_connection(ws):
                # It worked: start again from short delays.
                delays = backoff(RECONNECT_FIRST, self._max_delay, RECONNECT_FACTOR)
            else:
                await asyncio.sleep(next(delays))

    async def _run_connection(self, ws: ClientConnection) -> bool:
        """Serve one connection until it ends; True if registration succeeded."""
        self._ws = ws
        try:
            await self._serve(ws)
        except ConnectionClosed as exc:
            self._log_closed(exc)
        except ProtocolError as exc:
            log.error("API sent an invalid message: %s", exc.reason)
            await ws.close(CloseCode.PROTOCOL_ERROR, exc.reason[:120])
        except asyncio.TimeoutError:
            log.warning("API did not confirm registration in time")
            await ws.close(CloseCode.PROTOCOL_ERROR, "no 'registered' in time")
        finally:
            self._ws = None
        registered = self.registered.is_set()
        self.registered.clear()
        return registered

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
        await ws.send(encode(self._registration()))
        first = decode(await asyncio.wait_for(ws.recv(), OPEN_TIMEOUT)).message
        if not isinstance(first, Registered):
            raise ProtocolError(f"expected 'registered', got {first.type!r}")
        log.info("registered with the API as %s", first.worker_id)
        await self._on_registered()
        self.registered.set()
        beat = asyncio.create_task(self._beat(ws, first.heartbeat_interval), name="heartbeat")
        try:
            async for data in ws:
                frame = decode(data)
                if not isinstance(frame.message, FROM_API) or isinstance(frame.message, Registered):
                    raise ProtocolError(f"the API may not send {frame.message.type!r} now")
                await self._on_message(frame.message, frame.payload)
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
