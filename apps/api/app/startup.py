"""What the API makes sure of before it serves: each failure is one clear line and an exit code.

The order matters. This process first holds ``DATA_DIR`` (an exclusive lock on
``DATA_DIR/api.lock``, kept for its whole life) and its port, and only then opens the database,
so an API started a second time by mistake stops without changing anything of the one
already running (its start-up would otherwise end that one's open events).

Exit codes (bad configuration is 2, from ``load_settings``):

- 3 (``IN_USE``): another API holds ``DATA_DIR``, or the port cannot be bound (uvicorn also
  exits 3 when anything else stops its start-up)
- 4 (``UNUSABLE``): ``DATA_DIR``, ``LOG_FILE`` or the database cannot be used
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path
from typing import TextIO

from alembic.util.exc import CommandError
from facegrid_common.camera_source import redact
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from uvicorn.config import STARTUP_FAILURE

from . import db

IN_USE = STARTUP_FAILURE
UNUSABLE = 4
LOCK_FILE = "api.lock"


class StartupError(Exception):
    """The API cannot start: ``code`` is the exit status, the message the one line to show."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def lock_data_dir(data_dir: Path) -> TextIO:
    """Create ``data_dir`` if need be and lock it for this process; keep the returned file open
    for as long as the process runs (the lock goes with it, however the process ends)."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        lock = open(data_dir / LOCK_FILE, "a+")  # noqa: SIM115 - held for the process's life
    except OSError as exc:
        raise StartupError(UNUSABLE, f"cannot use DATA_DIR {data_dir}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        lock.seek(0)
        holder = lock.read().strip()
        lock.close()
        if not isinstance(exc, BlockingIOError):
            raise StartupError(UNUSABLE, f"cannot lock DATA_DIR {data_dir}: {exc.strerror or exc}") from None
        who = f"another FaceGrid API (pid {holder})" if holder.isdigit() else "another FaceGrid API"
        advice = "stop it first, or give this one its own DATA_DIR"
        raise StartupError(IN_USE, f"{who} is already using DATA_DIR {data_dir}: {advice}") from None
    lock.seek(0)
    lock.truncate()
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    return lock


def listen(host: str, port: int) -> socket.socket:
    """The server's socket, bound now (uvicorn serves on it), so a taken port stops the start-up
    before the database is touched. Same choices as uvicorn's own binding."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise StartupError(IN_USE, f"cannot listen on {host}:{port}: {exc}") from None
    return sock


def database_password(url: str) -> str:
    """The password in a database URL, to mask in every log line ("" when there is none)."""
    try:
        return make_url(url).password or ""
    except (SQLAlchemyError, ValueError):
        return ""


def open_database(url: str) -> Engine:
    """The engine, with the schema migrated to the newest revision."""
    try:
        engine = db.make_engine(url)
        db.migrate(engine)
    except (SQLAlchemyError, CommandError, ImportError) as exc:
        cause = exc.orig if isinstance(exc, DBAPIError) else exc
        lines = str(cause).split("\n(Background on this error")[0].splitlines()
        why = "; ".join(line.strip() for line in lines if line.strip()) or type(cause).__name__
        if isinstance(exc, ImportError):
            why = f"its driver is not installed ({why})"
        raise StartupError(UNUSABLE, redact(f"cannot open the database {url}: {why}")) from None
    return engine
