"""Entry point: `cd apps/api && python -m app.main`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from types import FrameType

import uvicorn
from facegrid_common.logs import setup_logging
from facegrid_common.settings import load_settings
from facegrid_protocol import MAX_MESSAGE_BYTES
from uvicorn.config import STARTUP_FAILURE

from .config import Settings
from .factory import create_app
from .services import Services
from .startup import UNUSABLE, StartupError, database_password, listen, lock_data_dir, open_database
from .stopping import Stopping

log = logging.getLogger("app")


class ApiServer(uvicorn.Server):
    """uvicorn's server, which also tells the app the moment it is asked to stop, so that
    endless responses (event feeds, live views) end before the graceful shutdown waits on them."""

    def __init__(self, config: uvicorn.Config, stopping: Stopping) -> None:
        super().__init__(config)
        self._stopping = stopping

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # This runs as a signal handler: hand the change to the event loop, don't make it here.
        asyncio.get_running_loop().call_soon_threadsafe(self._stopping.set)
        super().handle_exit(sig, frame)


def main() -> None:
    settings = load_settings(Settings, "facegrid-api")
    secrets = [settings.api_key, settings.worker_token, database_password(settings.db_url)]
    try:
        setup_logging(settings.log_level, settings.log_file, secrets)
    except OSError as exc:
        why = f"cannot write LOG_FILE {settings.log_file}: {exc}"
        print(f"facegrid-api: cannot start: {why}", file=sys.stderr)
        raise SystemExit(UNUSABLE) from None
    try:
        serve(settings)
    except StartupError as exc:
        log.error("cannot start: %s", exc)
        raise SystemExit(exc.code) from None
    except KeyboardInterrupt:  # Ctrl-C before uvicorn took over the signals (opening the database)
        log.info("stopped while starting")


def serve(settings: Settings) -> None:
    """Start up in the order `startup` explains, then serve until asked to stop."""
    lock = lock_data_dir(settings.data_dir)  # held until the process exits
    sock = listen(settings.api_host, settings.api_port)
    services = Services.build(settings, open_database(settings.db_url))
    port = sock.getsockname()[1]
    log.info("FaceGrid API on http://%s:%d (docs at /docs)", settings.api_host, port)
    config = uvicorn.Config(
        create_app(services),
        host=settings.api_host,
        port=port,
        log_config=None,  # keep our handlers (and secret masking)
        ws_max_size=MAX_MESSAGE_BYTES,
        ws_per_message_deflate=False,  # job payloads are images: compressing them costs ~40 ms each
        ws_ping_interval=settings.heartbeat_interval,
        ws_ping_timeout=settings.heartbeat_timeout,
        timeout_graceful_shutdown=10,
    )
    server = ApiServer(config, services.stopping)
    with lock, contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the SIGINT it handled
        server.run(sockets=[sock])
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)


if __name__ == "__main__":
    main()
