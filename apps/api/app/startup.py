"""What the API makes sure of before it serves: each failure is one clear line and an exit code.

The order matters. This process first holds ``DATA_DIR`` (an exclusive lock on
``DATA_DIR/api.lock``, kept for its whole life) and its port, and only then opens the database,
so an API started a second time by mistake stops without changing anything of the one
already running (its start-up would otherwise end that one's open events).

Exit code 3 (``IN_USE``, bad configuration being 2): another API holds ``DATA_DIR``, or the
port cannot be bound (uvicorn also exits 3 when anything else stops its start-up).
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path
from typing import TextIO

from uvicorn.config import STARTUP_FAILURE

IN_USE = STARTUP_FAILURE
LOCK_FILE = "api.lock"


class StartupError(Exception):
    """The API cannot start: ``code`` is the exit status, the message the one line to show."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def lock_data_dir(data_dir: Path) -> TextIO:
    """Create ``data_dir`` if need be and lock it for this process; keep the returned file open
    for as long as the process runs (the lock goes with it, however the process ends)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = open(data_dir / LOCK_FILE, "a+")  # noqa: SIM115 - held for the process's life
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip()
        lock.close()
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
