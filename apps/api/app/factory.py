"""Builds the FastAPI app from its collaborators, so tests can run it on a real port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from facegrid_protocol import WORKER_PATH
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from . import __version__
from .config import MB
from .dashboard.routes import install as install_dashboard
from .docs import mount_docs
from .jobs import DispatchError, JobFailed, JobTimeout
from .people import Conflict, NotFound
from .recognition import ImageRejected
from .routes import cameras, diagnostics, events, faces, health, persons, recognition, workers
from .security import has_credentials, require_api_key
from .services import Services
from .uploads import BodyLimit
from .workers.socket import worker_socket

JSON_BODY_LIMIT = MB

RETRY_AFTER_SECONDS = 5

# How a worker's job error code becomes an HTTP status.
_JOB_ERROR_STATUS = {"bad_input": 422, "invalid_image": 422, "too_large": 413, "unsupported_type": 415}


def _dispatch_error(_: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, JobFailed):
        return JSONResponse({"detail": exc.message, "code": exc.code}, _JOB_ERROR_STATUS.get(exc.code, 502))
    if isinstance(exc, JobTimeout):
        return JSONResponse({"detail": str(exc)}, 504)
    return JSONResponse({"detail": str(exc)}, 503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def _image_rejected(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ImageRejected)
    return JSONResponse({"detail": exc.message, "code": exc.code}, exc.status)


def _not_found(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, 404)


def _conflict(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, 409)


def _body_limits(services: Services) -> Callable[[str], tuple[int, str]]:
    """Largest request body per route: images get MAX_UPLOAD_MB per file, JSON 1 MB."""
    settings = services.settings
    per_file = settings.max_upload_bytes

    def limit_for(path: str) -> tuple[int, str]:
        if path.startswith("/api/persons/") and path.endswith("/faces"):
            return per_file * settings.enroll_max_files, "MAX_UPLOAD_MB per photo x ENROLL_MAX_FILES"
        if path == "/api/verify":
            return per_file * 2, "MAX_UPLOAD_MB per photo"
        if path in ("/api/recognize", "/api/detect"):
            return per_file, "MAX_UPLOAD_MB"
        return JSON_BODY_LIMIT, "for JSON bodies"

    return limit_for


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
        docs_url=None,  # served by mount_docs, without a CDN
        redoc_url=None,
    )
    mount_docs(app)
    app.state.services = services
    app.add_exception_handler(DispatchError, _dispatch_error)
    app.add_exception_handler(ImageRejected, _image_rejected)
    app.add_exception_handler(NotFound, _not_found)
    app.add_exception_handler(Conflict, _conflict)
    app.add_middleware(
        BodyLimit,
        limit_for=_body_limits(services),
        authorized=lambda headers: has_credentials(
            headers, services.settings.api_key, getattr(app.state, "sessions", None)
        ),
    )
    app.include_router(health.router)
    protected = [Depends(require_api_key)]
    for module in (workers, persons, faces, recognition, cameras, events, diagnostics):
        app.include_router(module.router, prefix="/api", dependencies=protected)
    app.add_api_websocket_route(WORKER_PATH, worker_socket)
    install_dashboard(app, services.settings)
    return app
