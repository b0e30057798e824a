"""The one WebSocket endpoint workers dial: handshake checks, registration, message loop."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from typing import TYPE_CHECKING

from facegrid_protocol import (
    HEADER_PROTOCOL,
    HEADER_WORKER_ID,
    MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
    CameraStatus,
    CloseCode,
    Draining,
    Frame,
    Heartbeat,
    JobRelease,
    JobResult,
    LiveFrame,
    ProtocolError,
    Refusal,
    Register,
    Registered,
    TrackEnded,
    TrackSample,
    decode,
)
from starlette.responses import JSONResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from .session import WorkerSession, utcnow

if TYPE_CHECKING:
    from ..services import Services

log = logging.getLogger(__name__)

REGISTER_TIMEOUT = 10.0
RECORD_TIMEOUT = 5.0
"""How long a new connection waits for the end of the one it replaces to be stored."""
# What a camera is doing now: heard only from the worker running it. Track samples and ends
# are what a worker saw, maybe buffered while its link was down, and arrive before the camera
# is assigned again: the recorder takes them for any camera still watched.
CameraNews = (CameraStatus, LiveFrame)


def _peer(websocket: WebSocket) -> str:
    client = websocket.client
    return f"{client.host}:{client.port}" if client else "?"


def check_handshake(websocket: WebSocket, services: Services) -> tuple[Refusal, str] | None:
    """Decide before accepting, so a refused worker never counts as connected."""
    headers = websocket.headers
    token = headers.get("authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(token.encode(), services.settings.worker_token.encode()):
        return Refusal.UNAUTHORIZED, "missing or invalid worker token"
    version = headers.get(HEADER_PROTOCOL, "")
    if version != str(PROTOCOL_VERSION):
        return (
            Refusal.INCOMPATIBLE_PROTOCOL,
            f"worker speaks protocol {version or 'unknown'}, this API speaks {PROTOCOL_VERSION}",
        )
    worker_id = headers.get(HEADER_WORKER_ID, "")
    if not worker_id:
        return Refusal.BAD_REQUEST, f"missing {HEADER_WORKER_ID} header"
    clash = services.hub.admit(worker_id)
    return (Refusal.DUPLICATE_ID, clash) if clash else None


async def worker_socket(websocket: WebSocket) -> None:
    services: Services = websocket.app.state.services
    peer = _peer(websocket)
    refusal = check_handshake(websocket, services)
    if refusal is not None:
        status, reason = refusal
        log.warning("refused worker connection from %s: %s", peer, reason)
        services.metrics.socket_refusals.labels(status.name.lower()).inc()
        await websocket.send_denial_response(JSONResponse({"detail": reason}, status_code=status))
        return
    worker_id = websocket.headers[HEADER_WORKER_ID]
    try:
        await websocket.accept()
        session = await _register(websocket, services)
        await services.hub.earlier_recorded(worker_id, RECORD_TIMEOUT)  # a replaced one's jobs
        await asyncio.to_thread(services.store.connected, session)
        services.hub.attach(session)
    except ProtocolError as exc:
        log.warning("worker from %s failed to register: %s", peer, exc.reason)
        await _close(websocket, _violation(services, exc), exc.reason)
        return
    except WebSocketDisconnect:
        return
    finally:
        services.hub.unclaim(worker_id)  # a no-op once attached
    await _serve(session, services)


async def _register(websocket: WebSocket, services: Services) -> WorkerSession:
    try:
        frame = await asyncio.wait_for(_receive(websocket, services), REGISTER_TIMEOUT)
    except asyncio.TimeoutError:
        raise ProtocolError(f"no 'register' within {REGISTER_TIMEOUT:g} s", "timeout") from None
    message = frame.message
    if not isinstance(message, Register):
        raise ProtocolError(f"expected 'register' first, got {message.type!r}")
    if message.worker_id != websocket.headers.get(HEADER_WORKER_ID):
        raise ProtocolError("worker_id differs from the handshake's", "invalid_message")
    if message.protocol_version != PROTOCOL_VERSION:
        raise ProtocolError(f"protocol {message.protocol_version} != {PROTOCOL_VERSION}", "invalid_message")
    session = WorkerSession(
        info=message, websocket=websocket, metrics=services.metrics, last_heartbeat=utcnow()
    )
    caps = message.capabilities
    log.info(
        "worker %s registered from %s (host %s, pid %s, v%s, jobs %s x%d)",
        session.id,
        _peer(websocket),
        message.hostname,
        message.pid,
        message.version,
        ",".join(caps.job_types),
        caps.max_jobs,
    )
    return session


async def _serve(session: WorkerSession, services: Services) -> None:
    """Confirm the registration, then run the message loop until the worker leaves, errs, or
    is expired by the hub. `registered` goes out only now, with the session attached: a worker
    that has it is listed and can be given jobs at once."""
    services.metrics.workers_connected.set(len(services.hub.sessions()))
    session.receive_task = asyncio.create_task(_message_loop(session, services))
    code: int | None = None
    reason = ""
    settings = services.settings
    try:
        await session.send(
            Registered(
                worker_id=session.id,
                heartbeat_interval=settings.heartbeat_interval,
                heartbeat_timeout=settings.heartbeat_timeout,
            )
        )
        services.dispatcher.worker_available()
        await services.cameras.worker_changed()
        await session.receive_task
    except asyncio.CancelledError:
        if session.expired_reason is None:
            raise  # not expired by the hub: the server itself is stopping
        code, reason = CloseCode.HEARTBEAT_TIMEOUT, session.expired_reason
    except WebSocketDisconnect as exc:
        log.info("worker %s disconnected (code %s)", session.id, exc.code)
    except ProtocolError as exc:
        code, reason = _violation(services, exc), exc.reason
        log.warning("worker %s broke the protocol: %s", session.id, reason)
    finally:
        session.receive_task.cancel()  # a no-op once it has ended; needed if `registered` failed
        ended = utcnow()
        current = services.hub.detach(session)
        services.dispatcher.worker_lost(session)
        services.metrics.workers_connected.set(len(services.hub.sessions()))
        try:
            await asyncio.to_thread(services.store.disconnected, session, ended, current=current)
        finally:
            services.hub.recorded(session)
        await services.recorder.worker_lost(session.id)
        await services.cameras.worker_changed()
    if code is not None:
        log.info("closing worker %s: %s", session.id, reason)
        await _close(session.websocket, code, reason)


async def _message_loop(session: WorkerSession, services: Services) -> None:
    while True:
        frame = await _receive(session.websocket, services)
        session.heard()
        try:
            await _handle(session, services, frame)
        except ProtocolError:
            raise
        except Exception:  # one message we failed to handle must not drop the worker
            log.exception("worker %s: handling %r failed", session.id, frame.message.type)


async def _handle(session: WorkerSession, services: Services, frame: Frame) -> None:
    message = frame.message
    if isinstance(message, CameraNews) and services.cameras.worker_of(message.camera_id) != session.id:
        return  # a late message about a camera that has moved on (or was deleted)
    if isinstance(message, Heartbeat):
        session.last_heartbeat = utcnow()
    elif isinstance(message, JobResult):
        services.dispatcher.job_result(session, message, frame.payload)
    elif isinstance(message, JobRelease):
        services.dispatcher.job_released(session, message)
    elif isinstance(message, CameraStatus):
        await services.cameras.status_reported(session.id, message)
    elif isinstance(message, TrackSample):
        await services.recorder.sample(session.id, message, frame.payload or b"")
    elif isinstance(message, TrackEnded):
        await services.recorder.ended(session.id, message)
    elif isinstance(message, LiveFrame):
        services.live.frame_arrived(message.camera_id, frame.payload or b"")
    elif isinstance(message, Draining):
        log.info("worker %s is draining: %s", session.id, message.reason or "stopping")
        session.draining = True
        await services.cameras.worker_changed()
    else:
        raise ProtocolError(f"a worker may not send {message.type!r}")


async def _receive(websocket: WebSocket, services: Services) -> Frame:
    """The next frame from the worker, decoded and counted: every frame that arrives goes through here."""
    event = await websocket.receive()
    if event["type"] == "websocket.disconnect":
        code = event.get("code", 1000)
        if code == CloseCode.TOO_BIG:
            # The transport refused a frame over its limit (MAX_MESSAGE_BYTES) before we saw it.
            services.metrics.socket_messages.labels("in", "invalid").inc()
            detail = event.get("reason") or "closed with 1009"
            raise ProtocolError(f"a frame over the {MAX_MESSAGE_BYTES}-byte limit ({detail})", "too_large")
        raise WebSocketDisconnect(code, event.get("reason"))
    data = event.get("bytes")
    try:
        frame = decode(data if data is not None else event.get("text") or "")
    except ProtocolError:
        services.metrics.socket_messages.labels("in", "invalid").inc()
        raise
    services.metrics.socket_messages.labels("in", frame.message.type).inc()
    return frame


def _violation(services: Services, exc: ProtocolError) -> int:
    """Count a protocol error by its kind; the close code it calls for."""
    services.metrics.socket_protocol_errors.labels(exc.kind).inc()
    return CloseCode.TOO_BIG if exc.kind == "too_large" else CloseCode.PROTOCOL_ERROR


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    # A half-open peer never answers the close handshake: don't wait on it for long.
    with contextlib.suppress(Exception):
        await asyncio.wait_for(websocket.close(code, reason[:120]), 2.0)
