"""Builds the FastAPI app from its collaborators, so tests can run it on a real port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from facegrid_protocol import WORKER_PATH
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from . import __version__
from .jobs import DispatchError, JobFailed, JobTimeout
from .routes import diagnostics, health, workers
from .security import require_api_key
from .services import Services
from .workers.socket import worker_socket

RETRY_AFTER_SECONDS = 5

# How a worker's job error code becomes an HTTP status.
_JOB_ERROR_STATUS = {"bad_input": 422, "too_large": 413, "unsupported_type": 415}


def _dispatch_error(_: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, JobFailed):
        return JSONResponse({"detail": exc.message, "code": exc.code}, _JOB_ERROR_STATUS.get(exc.code, 502))
    if isinstance(exc, JobTimeout):
        return JSONResponse({"detail": str(exc)}, 504)
    return JSONResponse({"detail": str(exc)}, 503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def create_app(services: Services) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await services.start()
        try:
            yield
        finally:
            await services.stop()

    app = FastAPI(
        title="FaceGrid API",
        version=__version__,
        description="Self-hosted face recognition. Every route under /api needs the X-API-Key header.",
        lifespan=lifespan,
    )
    app.state.services = services
    app.add_exception_handler(DispatchError, _dispatch_error)
    app.include_router(health.router)
    protected = [Depends(require_api_key)]
    for module in (workers, diagnostics):
        app.include_router(module.router, prefix="/api", dependencies=protected)
    app.add_api_websocket_route(WORKER_PATH, worker_socket)
    return app
