"""Cameras: configuration, live status, and live view relayed from the camera's worker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

from facegrid_common.camera_source import redact
from fastapi import APIRouter, HTTPException, Response
from fastapi.responses import StreamingResponse

from ..cameras.supervisor import NOT_STREAMING
from ..models import Camera
from ..schemas import CameraIn, CameraLive, CameraOut, CameraPatch
from ..security import ServicesDep
from ..services import Services
from .params import RowId

router = APIRouter(prefix="/cameras", tags=["cameras"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such camera"}}
BOUNDARY = "facegridframe"
SNAPSHOT_TIMEOUT = 8.0


def camera_out(camera: Camera, services: Services) -> CameraOut:
    watch = services.cameras.watch(camera.id)
    live = CameraLive(worker_id=None, state="disabled" if not camera.enabled else "unassigned")
    if watch is not None and watch.worker_id is None:
        live.reason = watch.waiting  # unassigned: why
        if watch.failure:
            live.state, live.reason = "failed", watch.failure
    if watch is not None and watch.worker_id is not None:
        live.worker_id, live.state = watch.worker_id, "starting"
        if watch.status is not None:
            s = watch.status
            live = CameraLive(
                worker_id=watch.worker_id,
                state=s.state,
                reason=redact(s.reason),
                input_fps=round(s.input_fps, 2),
                processed_fps=round(s.processed_fps, 2),
                processed_frames=s.processed_frames,
                scans=s.scans,
                scan_fps=round(s.scan_fps, 2),
                last_frame_at=datetime.fromtimestamp(s.last_frame_at, timezone.utc)
                if s.last_frame_at
                else None,
                faces_seen=s.faces_seen,
                embeddings=s.embeddings,
                detect_ms=round(s.detect_ms, 1),
                follow_ms=round(s.follow_ms, 1),
                embed_ms=round(s.embed_ms, 1),
                events_dropped=s.events_dropped,
            )
    live.viewers = services.live.viewers(camera.id)
    return CameraOut(
        id=camera.id,
        name=camera.name,
        url=redact(camera.url),
        enabled=camera.enabled,
        process_fps=camera.process_fps,
        detection_width=camera.detection_width,
        min_face_size=camera.min_face_size,
        loop=camera.loop,
        pinned_worker=camera.pinned_worker,
        created_at=camera.created_at,
        updated_at=camera.updated_at,
        status=live,
    )


@router.post(
    "", status_code=201, response_model=CameraOut, summary="Add a camera (it starts at once if enabled)"
)
async def create_camera(body: CameraIn, services: ServicesDep) -> CameraOut:
    camera = await asyncio.to_thread(services.camera_store.create, body.model_dump())
    await services.cameras.camera_saved(camera)
    return camera_out(camera, services)


@router.get("", response_model=list[CameraOut])
async def list_cameras(services: ServicesDep) -> list[CameraOut]:
    return [camera_out(c, services) for c in await asyncio.to_thread(services.camera_store.all)]


@router.get("/{camera_id}", response_model=CameraOut, responses=NOT_FOUND)
async def get_camera(camera_id: RowId, services: ServicesDep) -> CameraOut:
    return camera_out(await asyncio.to_thread(services.camera_store.get, camera_id), services)


@router.patch("/{camera_id}", response_model=CameraOut, responses=NOT_FOUND)
async def update_camera(camera_id: RowId, body: CameraPatch, services: ServicesDep) -> CameraOut:
    changes = body.model_dump(exclude_unset=True)
    for required in ("name", "url", "enabled", "process_fps", "detection_width", "min_face_size", "loop"):
        if required in changes and changes[required] is None:
            raise HTTPException(422, f"{required} cannot be null")
    camera = await asyncio.to_thread(services.camera_store.update, camera_id, changes)
    await services.cameras.camera_saved(camera)
    return camera_out(camera, services)


@router.delete("/{camera_id}", status_code=204, responses=NOT_FOUND, summary="Delete a camera and its events")
async def delete_camera(camera_id: RowId, services: ServicesDep) -> Response:
    await asyncio.to_thread(services.camera_store.get, camera_id)
    await services.cameras.camera_removed(camera_id)
    services.live.camera_deleted(camera_id)
    await services.recorder.camera_removed(camera_id)  # after the supervisor: no sample makes a new event
    await asyncio.to_thread(services.events.delete_for_camera, camera_id)
    await asyncio.to_thread(services.camera_store.delete, camera_id)
    return Response(status_code=204)


async def _running(camera_id: int, services: Services) -> None:
    await asyncio.to_thread(services.camera_store.get, camera_id)
    if services.cameras.worker_of(camera_id) is None:
        raise HTTPException(409, "the camera is not running on any worker (disabled, or no worker with room)")


@router.get(
    "/{camera_id}/stream.mjpeg",
    response_class=StreamingResponse,
    responses={
        **NOT_FOUND,
        409: {"description": "Camera not running"},
        200: {"content": {"multipart/x-mixed-replace": {}}},
    },
    summary="Live view with boxes and names (plays in an <img> tag)",
)
async def stream(camera_id: RowId, services: ServicesDep) -> StreamingResponse:
    await _running(camera_id, services)

    async def parts() -> AsyncIterator[bytes]:
        async for jpeg in services.live.frames(camera_id):
            head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
            yield head.encode() + jpeg + b"\r\n"

    return StreamingResponse(
        services.stopping.cut(parts()),  # ends when the server stops
        media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get(
    "/{camera_id}/snapshot.jpg",
    response_class=Response,
    responses={
        **NOT_FOUND,
        409: {"description": "Camera not running, or not streaming (the reason says why)"},
        504: {"description": "No frame in time"},
        200: {"content": {"image/jpeg": {}}},
    },
)
async def snapshot(camera_id: RowId, services: ServicesDep) -> Response:
    await _running(camera_id, services)
    watch = services.cameras.watch(camera_id)
    status = watch.status if watch is not None else None
    if status is not None and status.state in NOT_STREAMING:  # no frame would come: say why now
        raise HTTPException(409, f"the camera is not streaming ({status.state}: {redact(status.reason)})")
    jpeg = await services.live.snapshot(camera_id, SNAPSHOT_TIMEOUT)
    if jpeg is None:
        raise HTTPException(504, f"the camera's worker sent no frame within {SNAPSHOT_TIMEOUT:g} s")
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})
