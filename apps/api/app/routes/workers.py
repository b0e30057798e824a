"""Worker management: who is connected, what they run, and draining them."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from fastapi import APIRouter, HTTPException, status

from ..models import WorkerRecord
from ..schemas import WorkerOut
from ..security import ServicesDep
from ..workers.session import WorkerSession, WorkerStatus

router = APIRouter(prefix="/workers", tags=["workers"])

OFFLINE_SHOWN_FOR = timedelta(hours=24)


def _live(session: WorkerSession) -> WorkerOut:
    info = session.info
    return WorkerOut(
        id=session.id,
        hostname=info.hostname,
        pid=info.pid,
        version=info.version,
        capabilities=info.capabilities.model_dump(),
        status=session.status,
        connected_since=session.connected_at,
        offline_since=None,
        last_seen=session.last_seen,
        last_heartbeat=session.last_heartbeat,
        jobs_in_flight=len(session.in_flight),
        jobs_done=session.earlier_done + session.jobs_done,
        jobs_failed=session.earlier_failed + session.jobs_failed,
    )


def _offline(record: WorkerRecord) -> WorkerOut:
    return WorkerOut(
        id=record.id,
        hostname=record.hostname,
        pid=record.pid,
        version=record.version,
        capabilities=record.capabilities,
        status=WorkerStatus.OFFLINE,
        connected_since=None,
        offline_since=record.offline_since,
        last_seen=record.last_seen,
        last_heartbeat=record.last_heartbeat,
        jobs_in_flight=0,
        jobs_done=record.jobs_done,
        jobs_failed=record.jobs_failed,
    )


@router.get("", response_model=list[WorkerOut], summary="Connected and recently disconnected workers")
async def list_workers(services: ServicesDep) -> list[WorkerOut]:
    live = [_live(s) for s in services.hub.sessions()]
    known = {w.id for w in live}
    records = await asyncio.to_thread(services.store.recent, OFFLINE_SHOWN_FOR)
    offline = [_offline(r) for r in records if r.id not in known]
    offline.sort(key=lambda w: w.last_seen, reverse=True)
    return sorted(live, key=lambda w: w.id) + offline


@router.get("/{worker_id}", response_model=WorkerOut, responses={404: {"description": "Unknown worker"}})
async def get_worker(worker_id: str, services: ServicesDep) -> WorkerOut:
    session = services.hub.get(worker_id)
    if session is not None:
        return _live(session)
    record = await asyncio.to_thread(services.store.get, worker_id)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no worker {worker_id!r}")
    return _offline(record)


@router.post("/{worker_id}/drain", response_model=WorkerOut, summary="Stop sending this worker jobs")
async def drain_worker(worker_id: str, services: ServicesDep) -> WorkerOut:
    return await _set_draining(worker_id, True, services)


@router.post("/{worker_id}/resume", response_model=WorkerOut, summary="Send this worker jobs again")
async def resume_worker(worker_id: str, services: ServicesDep) -> WorkerOut:
    return await _set_draining(worker_id, False, services)


async def _set_draining(worker_id: str, draining: bool, services: ServicesDep) -> WorkerOut:
    if services.hub.get(worker_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"worker {worker_id!r} is not connected")
    services.hub.drain(worker_id, draining)
    if not draining:
        services.dispatcher.worker_available()
    await services.cameras.worker_changed()
    return await get_worker(worker_id, services)
