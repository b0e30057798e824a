"""A trivial job that proves the dispatch path end to end (API -> worker -> API)."""

from __future__ import annotations

from fastapi import APIRouter

from ..schemas import EchoIn, EchoOut
from ..security import ServicesDep

router = APIRouter(prefix="/diagnostics", tags=["diagnostics"])


@router.post(
    "/echo",
    response_model=EchoOut,
    summary="Round-trip a job through a worker",
    responses={503: {"description": "No worker connected, or all busy with a full queue"}},
)
async def echo(body: EchoIn, services: ServicesDep) -> EchoOut:
    outcome = await services.dispatcher.run(
        "echo",
        {"data": body.data, "delay": body.delay},
        timeout=body.timeout or services.settings.job_timeout,
    )
    return EchoOut(data=outcome.result.get("data"), worker_id=outcome.worker_id)
