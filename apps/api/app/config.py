"""The API's settings: one typed model, read from the environment and `.env`."""

from __future__ import annotations

from pathlib import Path

from facegrid_common.images import DEFAULT_MAX_PIXELS
from facegrid_common.settings import LogLevel, MaxImagePixels, OptionalPath
from facegrid_protocol import MAX_MESSAGE_BYTES
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[3]
MB = 1024 * 1024

JOB_HEADER_ROOM = 64 * 1024
"""Room a job's JSON header needs beside its image in one socket message (it takes ~200 bytes)."""
MAX_UPLOAD_MB_CEILING = (MAX_MESSAGE_BYTES - JOB_HEADER_ROOM) // MB
"""An image travels to a worker in one message of at most MAX_MESSAGE_BYTES: 31 MB fits."""

# Whole words people leave in config files; long enough that a random secret never spells one.
_PLACEHOLDERS = ("changeme", "change-me", "change_me", "password", "example", "placeholder", "replace")


def _check_secret(name: str, value: str) -> str:
    """Refuse empty, short or placeholder secrets: a guessable key is no key."""
    if not value:
        raise ValueError(f"{name} is not set (scripts/run.sh writes a .env with fresh secrets)")
    if len(value) < 16 or any(p in value.lower() for p in _PLACEHOLDERS) or len(set(value)) < 6:
        raise ValueError(f"{name} looks like a placeholder; use at least 16 random characters")
    return value


class Settings(BaseSettings):
    """Every field is documented in `.env.example`; a test keeps the two in step."""

    model_config = SettingsConfigDict(
        # The root .env serves both apps, so keys meant for the worker are ignored here.
        env_file=(REPO_ROOT / ".env", ".env"),
        extra="ignore",
    )

    api_host: str = Field("0.0.0.0", description="Interface the API binds.")
    api_port: int = Field(
        8080, ge=0, le=65535, description="Port of the REST API, dashboard and worker socket."
    )
    data_dir: Path = Field(Path("./data"), description="Database, face crops and snapshots live here.")
    database_url: str = Field("", description="SQLAlchemy URL; default: SQLite file in DATA_DIR.")
    api_key: str = Field("", description="Clients send it as X-API-Key; the dashboard's sign-in.")
    session_hours: float = Field(
        12, gt=0, le=24 * 365, description="A dashboard sign-in lasts this many hours, then ends."
    )
    worker_token: str = Field("", description="Workers present it when they connect.")
    log_level: LogLevel = "INFO"
    log_file: OptionalPath = Field(None, description="Also log to this rotating file.")
    heartbeat_interval: float = Field(5.0, gt=0, description="Seconds between worker heartbeats.")
    heartbeat_timeout: float = Field(15.0, gt=0, description="Silence after which a worker is offline.")
    job_timeout: float = Field(30.0, gt=0, description="Seconds a request waits for its job.")
    job_queue_size: int = Field(100, ge=1, description="Jobs waiting for a free worker before 503.")
    job_max_attempts: int = Field(3, ge=1, description="Tries of a job whose worker disconnects mid-job.")
    max_upload_mb: int = Field(20, ge=1, description="Largest image file accepted, in MB.")
    max_image_pixels: MaxImagePixels = Field(
        DEFAULT_MAX_PIXELS, description="Largest width x height accepted."
    )
    max_faces: int = Field(
        50, ge=1, le=1000, description="Faces described per image, the largest; the rest are only counted."
    )
    match_threshold: float = Field(0.6, gt=0, le=2, description="Default distance below which faces match.")
    enroll_min_face_size: int = Field(40, ge=1, description="Smallest face side, in px, to enroll.")
    enroll_max_files: int = Field(20, ge=1, le=200, description="Photos accepted in one enrollment request.")
    event_retention_days: float = Field(30, ge=0, description="Delete events older than this; 0 keeps all.")
    camera_yield_seconds: float = Field(
        60, gt=0, description="A camera not streaming this long gives its worker slot to one that waits."
    )
    event_merge_seconds: float = Field(
        10, ge=0, description="A face back on a camera within this continues its event; then it ends."
    )

    @model_validator(mode="after")
    def _validate(self) -> Settings:
        _check_secret("API_KEY", self.api_key)
        _check_secret("WORKER_TOKEN", self.worker_token)
        if self.heartbeat_timeout <= self.heartbeat_interval:
            raise ValueError("HEARTBEAT_TIMEOUT must be longer than HEARTBEAT_INTERVAL")
        return self

    @field_validator("max_upload_mb")
    @classmethod
    def _fits_one_message(cls, value: int) -> int:
        """A larger file could never reach a worker: refuse it here rather than on every upload."""
        if value > MAX_UPLOAD_MB_CEILING:
            raise ValueError(
                f"must be at most {MAX_UPLOAD_MB_CEILING} ({value} given): an image goes to a worker in one "
                f"socket message of at most {MAX_MESSAGE_BYTES // MB} MB (the protocol's MAX_MESSAGE_BYTES)"
            )
        return value

    @field_validator("data_dir")
    @classmethod
    def _from_repo_root(cls, value: Path) -> Path:
        """A relative DATA_DIR is read from the repo root, where .env lives, not the API's folder."""
        return value if value.is_absolute() else REPO_ROOT / value

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * MB

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'facegrid.db').resolve()}"
