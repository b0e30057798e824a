"""Builds the FastAPI app from its collaborators, so tests can run it on a real port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from facegrid_protocol import WORKER_PATH
from fastapi import Depends, FastAPI

from . import __version__
from .config import MB
from .dashboard.routes import install as install_dashboard
from .docs import mount_docs
from .errors import install_error_handlers
from .routes import cameras, diagnostics, events, faces, health, persons, recognition, workers
from .routes.responses import UNAUTHORIZED
from .security import has_credentials, require_api_key
from .services import Services
from .uploads import BodyLimit
from .workers.socket import worker_socket

JSON_BODY_LIMIT = MB


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
    install_error_handlers(app)
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
        app.include_router(module.router, prefix="/api", dependencies=protected, responses=UNAUTHORIZED)
    app.add_api_websocket_route(WORKER_PATH, worker_socket)
    install_dashboard(app, services.settings)
    return app
