"""The worker's settings: one typed model, read from the environment and `.env`."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from dotenv import dotenv_values
from facegrid_common.images import DEFAULT_MAX_PIXELS
from facegrid_common.settings import LogLevel, MaxImagePixels, OptionalPath
from facegrid_protocol import WORKER_PATH
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[3]
ENV_FILES = (REPO_ROOT / ".env", Path(".env"))

OBSOLETE = {
    "WORKER_HTTP_PORT": "workers listen on no port; they dial the API's socket",
    "USE_ENHANCED_WORKER": "there is one worker, the basic socket-only FaceRecognitionWorker",
}


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class WorkerSettings(BaseSettings):
    """Every field is documented in `.env.example`; a test keeps the two in step."""

    model_config = SettingsConfigDict(env_file=ENV_FILES, extra="ignore")

    api_url: str = Field("http://localhost:8080", description="The API to dial (ws/wss derived from it).")
    worker_id: str = Field(default_factory=default_worker_id, description="Unique id; default host-pid.")
    worker_token: str = Field("", description="Shared secret the API expects from workers.")
    log_level: LogLevel = "INFO"
    log_file: OptionalPath = Field(None, description="Also log to this rotating file.")
    max_jobs: int = Field(1, ge=1, le=64, description="Jobs run at once (each uses about one core).")
    max_cameras: int = Field(4, ge=0, le=64, description="Cameras this worker may be given.")
    shutdown_timeout: float = Field(10.0, ge=0, description="Seconds to finish jobs on SIGTERM.")
    reconnect_max_delay: float = Field(30.0, gt=0, le=30, description="Cap of the reconnect backoff.")
    detector: Literal["hog", "cnn"] = Field(
        "hog", description="Face detector: hog (fast) or cnn (slow on CPU)."
    )
    detect_upsample: int = Field(
        1, ge=0, le=3, description="Detector upsampling; 1 finds faces down to ~40 px."
    )
    detect_max_side: int = Field(
        960, ge=160, description="Photos are shrunk to this longest side to detect (not camera frames)."
    )
    max_image_pixels: MaxImagePixels = Field(
        DEFAULT_MAX_PIXELS, description="Largest width x height decoded."
    )
    camera_open_timeout: float = Field(10.0, gt=0, le=120, description="Seconds a camera may take to open.")
    stall_timeout: float = Field(10.0, gt=0, le=600, description="No new frame this long: reopen the camera.")
    camera_scan_interval: float = Field(
        1.0, ge=0, le=60, description="Seconds between full-frame face scans of a camera; 0: every frame."
    )
    camera_outbox: int = Field(
        1000, ge=1, le=100_000, description="Track messages kept while disconnected; then the oldest go."
    )
    camera_status_interval: float = Field(
        2.0, gt=0, le=600, description="Seconds between camera status reports; state changes go at once."
    )

    @field_validator("worker_id", mode="before")
    @classmethod
    def _default_id(cls, value: object) -> object:
        return value or default_worker_id()

    @model_validator(mode="after")
    def _validate(self) -> WorkerSettings:
        if not self.worker_token:
            raise ValueError("WORKER_TOKEN is not set (the API's .env holds it)")
        if len(self.worker_token) < 16:
            raise ValueError("WORKER_TOKEN is too short: the API accepts only tokens of 16+ characters")
        scheme = urlsplit(self.api_url).scheme
        if scheme not in ("http", "https", "ws", "wss"):
            raise ValueError(f"API_URL must start with http://, https://, ws:// or wss://, not {scheme!r}")
        return self

    @property
    def socket_url(self) -> str:
        """The worker socket's URL: ws for http, wss for https."""
        parts = urlsplit(self.api_url)
        scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
        return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + WORKER_PATH, "", ""))


def obsolete_settings() -> list[str]:
    """Names of retired variables still set in the environment or a .env file."""
    found = {name for name in OBSOLETE if name in os.environ}
    for path in ENV_FILES:
        if path.is_file():
            found |= OBSOLETE.keys() & dotenv_values(path).keys()
    return sorted(found)
