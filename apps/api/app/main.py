"""Entry point: `cd apps/api && python -m app.main`."""

from __future__ import annotations

import logging

import uvicorn
from facegrid_common.logs import setup_logging
from facegrid_common.settings import load_settings
from facegrid_protocol import MAX_MESSAGE_BYTES

from .config import Settings
from .factory import create_app
from .services import Services

log = logging.getLogger("app")


def main() -> None:
    settings = load_settings(Settings, "facegrid-api")
    setup_logging(settings.log_level, settings.log_file, [settings.api_key, settings.worker_token])
    app = create_app(Services.build(settings))
    log.info("FaceGrid API on http://%s:%d (docs at /docs)", settings.api_host, settings.api_port)
    uvicorn.run(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,  # keep our handlers (and secret masking)
        ws_max_size=MAX_MESSAGE_BYTES,
        ws_per_message_deflate=False,  # job payloads are images: compressing them costs ~40 ms each
        ws_ping_interval=settings.heartbeat_interval,
        ws_ping_timeout=settings.heartbeat_timeout,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
