"""Every message that crosses the API<->worker socket, as typed models.

Each model has a ``type`` literal; :data:`Message` is the discriminated union the
codec decodes through, so an unknown ``type`` is a protocol error, not a silent drop.
Models forbid unknown fields: both ends run the same definition, and a field one
side does not know means the versions disagree.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

PROTOCOL_VERSION = 1
"""Bumped on any incompatible change; the API refuses a worker that speaks another."""

MAX_MESSAGE_BYTES = 32 * 1024 * 1024
"""Largest frame either side sends or accepts (images travel as binary payloads)."""

WORKER_PATH = "/ws/worker"
"""Path of the one WebSocket endpoint workers dial, on the API's own port."""


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Capabilities(BaseModel):
    """What a worker can do; the API routes jobs by ``job_types`` and load by ``max_jobs``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    job_types: list[str]
    models: dict[str, str] = Field(default_factory=dict, description="model name -> version")
    max_jobs: int = Field(ge=1)
    max_cameras: int = Field(ge=0)
    cpu_count: int = Field(ge=1)


# --- worker -> API ---------------------------------------------------------


class Register(_Message):
    """First message on a new connection; nothing else is accepted before it."""

    type: Literal["register"] = "register"
    worker_id: str = Field(min_length=1, max_length=128)
    hostname: str
    pid: int
    version: str
    protocol_version: int
    capabilities: Capabilities


class Heartbeat(_Message):
    """Sent every ``heartbeat_interval``; silence longer than the timeout means offline."""

    type: Literal["heartbeat"] = "heartbeat"
    jobs_in_flight: int = Field(ge=0)


class Draining(_Message):
    """The worker is shutting down: send it no more jobs."""

    type: Literal["draining"] = "draining"
    reason: str = ""


class JobError(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(description="machine-readable, e.g. 'bad_input', 'unsupported', 'internal'")
    message: str


class JobResult(_Message):
    """Answer to a :class:`Job`; exactly one of ``result`` / ``error`` is set."""

    type: Literal["job_result"] = "job_result"
    job_id: str
    result: dict[str, Any] | None = None
    error: JobError | None = None


class JobRelease(_Message):
    """The worker gives a job back unfinished (it is stopping); the API retries it elsewhere."""

    type: Literal["job_release"] = "job_release"
    job_id: str
    reason: str


# --- API -> worker ---------------------------------------------------------


class Registered(_Message):
    """The API's answer to :class:`Register`: the worker is now eligible for work."""

    type: Literal["registered"] = "registered"
    worker_id: str
    heartbeat_interval: float
    heartbeat_timeout: float


class Job(_Message):
    """A unit of work; its binary payload (an image, say) rides in the same frame."""

    type: Literal["job"] = "job"
    job_id: str
    kind: str
    params: dict[str, Any] = Field(default_factory=dict)
    timeout: float = Field(gt=0, description="seconds the API waits before giving up")


class CancelJob(_Message):
    """The API stopped waiting for a job (timeout); the worker may drop it."""

    type: Literal["cancel_job"] = "cancel_job"
    job_id: str


Message = Annotated[
    Register | Heartbeat | Draining | JobResult | JobRelease | Registered | Job | CancelJob,
    Field(discriminator="type"),
]
MESSAGE_ADAPTER: TypeAdapter[Message] = TypeAdapter(Message)
