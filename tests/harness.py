"""Real processes for end-to-end tests: an API server and workers, on loopback.

Each runs exactly as a user starts it (`python -m app.main` in its app folder),
configured through the environment, with its output captured to a log file.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx

REPO = Path(__file__).resolve().parents[1]
API_DIR = REPO / "apps" / "api"
WORKER_DIR = REPO / "apps" / "worker"
PYTHON = sys.executable

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.1) -> T:
    """Poll until `predicate` returns something truthy; fail the test saying what never happened."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def timestamp(iso: str) -> datetime:
    """A time as the API writes it (ISO 8601, `Z` for UTC; Python 3.10 reads no `Z`)."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def _base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("WORKER_HTTP_PORT", "USE_ENHANCED_WORKER")}
    env.update(LOG_FILE="", LOG_LEVEL="INFO", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


class Proc:
    """A child process with its log; stopped (and reaped) by :meth:`stop`."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str], log_path: Path) -> None:
        self.args, self.cwd, self.env, self.log_path = args, cwd, env, log_path
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                self.args, cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def send(self, sig: int) -> None:
        assert self.popen is not None
        self.popen.send_signal(sig)

    def wait(self, timeout: float) -> int:
        assert self.popen is not None
        return self.popen.wait(timeout)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int | None:
        if self.popen is None or self.popen.poll() is not None:
            return self.popen.returncode if self.popen else None
        self.popen.send_signal(signal.SIGCONT)
        self.popen.send_signal(sig)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            return self.popen.wait(5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class Api(Proc):
    """The API server on a free loopback port, with a temporary DATA_DIR and fresh secrets."""

    def __init__(self, tmp: Path, **settings: str) -> None:
        self.port = free_port()
        self.api_key = secrets.token_urlsafe(24)
        self.worker_token = secrets.token_urlsafe(24)
        self.data_dir = tmp / "data"
        defaults = {
            "API_HOST": "127.0.0.1",
            "API_PORT": str(self.port),
            "DATA_DIR": str(self.data_dir),
            "DATABASE_URL": "",
            "API_KEY": self.api_key,
            "WORKER_TOKEN": self.worker_token,
        }
        env = _base_env(**{**defaults, **settings})
        super().__init__([PYTHON, "-m", "app.main"], API_DIR, env, tmp / "api.log")
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws/worker"
        self.http = httpx.Client(base_url=self.url, headers={"X-API-Key": self.api_key}, timeout=60)

    def start(self) -> None:
        super().start()
        wait_until(self._healthy, 60, "the API to answer /health")

    def _healthy(self) -> bool:
        if not self.alive():
            raise AssertionError(f"API exited:\n{self.log()}")
        try:
            return httpx.get(self.url + "/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def workers(self) -> list[dict[str, Any]]:
        response = self.http.get("/api/workers")
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def worker(self, worker_id: str) -> dict[str, Any] | None:
        return next((w for w in self.workers() if w["id"] == worker_id), None)

    def online(self) -> dict[str, dict[str, Any]]:
        return {w["id"]: w for w in self.workers() if w["status"] != "offline"}

    def metric(self, sample: str) -> float:
        """One sample from /metrics, written as Prometheus prints it (`name{label="v"}`); 0 if absent."""
        for line in self.http.get("/metrics").text.splitlines():
            name, _, value = line.rpartition(" ")
            if name == sample:
                return float(value)
        return 0.0


class Worker(Proc):
    """A worker process dialing `api`, identified by `worker_id`."""

    def __init__(self, api: Api, worker_id: str, tmp: Path, **settings: str) -> None:
        self.id = worker_id
        self.api = api
        env = _base_env(
            **{"API_URL": api.url, "WORKER_ID": worker_id, "WORKER_TOKEN": api.worker_token, **settings}
        )
        super().__init__([PYTHON, "-m", "app.main"], WORKER_DIR, env, tmp / f"{worker_id}.log")

    def wait_registered(self, timeout: float = 30) -> dict[str, Any]:
        def registered() -> dict[str, Any] | None:
            if not self.alive():
                raise AssertionError(f"worker {self.id} exited:\n{self.log()}")
            info = self.api.online().get(self.id)
            return info if info and info["pid"] == self.pid else None

        return wait_until(registered, timeout, f"worker {self.id} to register")
