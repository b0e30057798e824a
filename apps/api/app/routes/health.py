"""Liveness, readiness and Prometheus metrics: open to probes, no key needed."""

from __future__ import annotations

import asyncio
import os

from fastapi import APIRouter, Response, status
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from .. import db
from ..security import ServicesDep

router = APIRouter(tags=["health"])


# Monitoring tools often probe with HEAD: both probes answer it (left out of the schema,
# where a second operation per path would only repeat the GET).
@router.head("/health", include_in_schema=False)
@router.get("/health", summary="The process is alive")
def health() -> dict[str, str | int]:
    """The pid tells a supervisor (scripts/run.sh) that the API answering is the one it started."""
    return {"status": "ok", "pid": os.getpid()}


@router.head("/ready", include_in_schema=False)
@router.get(
    "/ready", summary="The database answers", responses={503: {"description": "Database unreachable"}}
)
async def ready(services: ServicesDep) -> JSONResponse:
    try:
        await asyncio.to_thread(db.ping, services.engine)
    except Exception as exc:
        return JSONResponse(
            {"status": "unavailable", "detail": f"database unreachable: {type(exc).__name__}"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    return JSONResponse({"status": "ready", "workers": len(services.hub.sessions())})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(services: ServicesDep) -> Response:
    return Response(services.metrics.render(), media_type=CONTENT_TYPE_LATEST)
