"""Entry point: `cd apps/worker && python -m app.main` — the basic socket-only worker."""

from __future__ import annotations

import asyncio
import logging
import os

from facegrid_common.logs import setup_logging
from facegrid_common.settings import load_settings

from .config import OBSOLETE, WorkerSettings, obsolete_settings
from .worker import FaceRecognitionWorker, StartupFailed
from .worker_client import RegistrationRefused

log = logging.getLogger("app")


def main() -> None:
    settings = load_settings(WorkerSettings, "facegrid-worker")
    setup_logging(settings.log_level, settings.log_file, [settings.worker_token])
    for name in obsolete_settings():
        log.warning("%s is set but obsolete and ignored: %s", name, OBSOLETE[name])
    log.info(
        "FaceGrid basic socket-only worker %s starting; connecting to %s (listens on no port)",
        settings.worker_id,
        settings.socket_url,
    )
    try:
        asyncio.run(FaceRecognitionWorker(settings).run())
    except RegistrationRefused as exc:
        log.error("%s", exc)
        raise SystemExit(3) from None
    except StartupFailed as exc:
        log.error("%s; not registering", exc)
        raise SystemExit(4) from None
    log.info("worker %s stopped", settings.worker_id)
    # Everything is stopped and handed back: skip the interpreter's finalization. After cameras
    # ran, native exit-time destructors aborted the process in 3 of 7 Ctrl-Cs here ("terminate
    # called without an active exception", exit 134), and a camera thread may still be inside an
    # OpenCV call that runs to its timeout.
    logging.shutdown()
    os._exit(0)


if __name__ == "__main__":
    main()
