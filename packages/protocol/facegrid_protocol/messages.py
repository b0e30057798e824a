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


OBSOLETE = "obsolete: read by nobody, sent by no current worker; accepted from workers that predate that"


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


CameraState = Literal["starting", "streaming", "reconnecting", "error", "stopped", "failed"]
"""``error``: still retrying, at the capped backoff; ``failed``: the worker could not start the
camera at all and does not run it (the API gives it to another worker or none)."""


class CameraStatus(_Message):
    """A camera's health as its worker sees it: sent when it starts, on every state change, and
    every ``CAMERA_STATUS_INTERVAL`` seconds."""

    type: Literal["camera_status"] = "camera_status"
    camera_id: int
    state: CameraState
    reason: str = Field("", description="why not streaming; credentials already redacted")
    input_fps: float = 0.0
    processed_fps: float = Field(0.0, description="frames analysed (scanned, or searched near their tracks)")
    processed_frames: int = Field(0, description="frames analysed since the camera started on this worker")
    scans: int = Field(0, description="full-frame scans (the only ones that find new faces) since then")
    scan_fps: float = 0.0
    last_frame_at: float | None = Field(None, description="Unix time of the newest frame")
    faces_seen: int = 0
    embeddings: int = 0
    detect_ms: float = Field(0.0, description="mean time of a full-frame scan, recently")
    follow_ms: float = Field(0.0, description="mean time of a frame searched only near its tracks, recently")
    embed_ms: float = Field(0.0, description="mean time per embedding (landmarks, crop included), recently")
    events_dropped: int = Field(0, description="track messages lost while the socket was down")


class TrackSample(_Message):
    """One face of a tracked person, described; payload = face crop JPEG then frame snapshot JPEG.

    The API decides the track's identity from all its samples, so each carries its embedding.
    """

    type: Literal["track_sample"] = "track_sample"
    camera_id: int
    track_id: str
    at: float = Field(description="Unix time the frame was captured")
    box: dict[str, int]
    frame_width: int = Field(ge=1, description="the frame `box` is measured in (the snapshot may be smaller)")
    frame_height: int = Field(ge=1)
    quality: dict[str, float]
    embedding: list[float] = Field(min_length=128, max_length=128)
    crop_bytes: int = Field(ge=0, description="length of the face crop at the payload's start")


class TrackEnded(_Message):
    """The tracked face has left the frame (not seen for the tracker's timeout)."""

    type: Literal["track_ended"] = "track_ended"
    camera_id: int
    track_id: str
    last_seen: float
    first_seen: float | None = Field(None, description=OBSOLETE)


class LiveFrame(_Message):
    """One JPEG of a camera with boxes and names drawn, only while someone watches; payload = JPEG."""

    type: Literal["live_frame"] = "live_frame"
    camera_id: int
    at: float | None = Field(None, description=OBSOLETE)


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
    timeout: float = Field(gt=0, description="seconds the API waits; the worker stops the job past it")


class CancelJob(_Message):
    """The API stopped waiting for a job (timeout): the worker stops it and answers ``cancelled``."""

    type: Literal["cancel_job"] = "cancel_job"
    job_id: str


class CameraConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    camera_id: int
    url: str = Field(description="the real URL, credentials included: the worker must open it", repr=False)
    process_fps: float = Field(gt=0, le=30)
    detection_width: int = Field(ge=160, le=3840)
    min_face_size: int = Field(ge=0)
    loop: bool = Field(False, description="restart a video file at its end")


class StartCamera(_Message):
    """Watch this camera (or apply a changed configuration to it)."""

    type: Literal["start_camera"] = "start_camera"
    camera: CameraConfig


class StopCamera(_Message):
    type: Literal["stop_camera"] = "stop_camera"
    camera_id: int


class LabelTrack(_Message):
    """What the API decided a track is, for the live view's overlay."""

    type: Literal["label_track"] = "label_track"
    camera_id: int
    track_id: str
    label: str


class SetLive(_Message):
    """Start (someone is watching) or stop (the last viewer left) sending live frames."""

    type: Literal["set_live"] = "set_live"
    camera_id: int
    enabled: bool
    max_fps: float = Field(5.0, gt=0, le=30)
    max_width: int = Field(960, ge=160, le=3840)


Message = Annotated[
    Register
    | Heartbeat
    | Draining
    | JobResult
    | JobRelease
    | CameraStatus
    | TrackSample
    | TrackEnded
    | LiveFrame
    | Registered
    | Job
    | CancelJob
    | StartCamera
    | StopCamera
    | LabelTrack
    | SetLive,
    Field(discriminator="type"),
]
MESSAGE_ADAPTER: TypeAdapter[Message] = TypeAdapter(Message)

FROM_WORKER = (
    Register,
    Heartbeat,
    Draining,
    JobResult,
    JobRelease,
    CameraStatus,
    TrackSample,
    TrackEnded,
    LiveFrame,
)
"""What a worker may send; anything else from it is a protocol error."""
FROM_API = (Registered, Job, CancelJob, StartCamera, StopCamera, LabelTrack, SetLive)
"""What the API may send."""
