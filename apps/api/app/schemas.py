"""Request and response bodies of the REST API (kept apart from storage models)."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated, Any

from facegrid_common.camera_source import InvalidSource, parse_source
from pydantic import AfterValidator, BaseModel, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from .routes.params import MAX_ROW_ID
from .workers.session import WorkerStatus


def _no_control_characters(value: str | None) -> str | None:
    if value is not None and any(unicodedata.category(c) == "Cc" for c in value):
        raise PydanticCustomError(
            "control_characters", "must not contain control characters such as NUL or a line break"
        )
    return value


NoControlCharacters = AfterValidator(_no_control_characters)
"""Refuses NUL, line breaks and the like: they have no place in a name, and NUL truncates
strings in SQLite's LIKE (a search for it matched everyone)."""

PersonText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NoControlCharacters
]
"""A person's name or external id: trimmed, not blank, printable."""


class WorkerOut(BaseModel):
    id: str
    hostname: str
    pid: int
    version: str
    capabilities: dict[str, Any]
    status: WorkerStatus
    connected_since: datetime | None = Field(description="null when offline")
    offline_since: datetime | None = Field(description="when its last connection ended; null when online")
    last_seen: datetime = Field(description="when anything last arrived from it")
    last_heartbeat: datetime | None = Field(description="its last heartbeat (registering counts as one)")
    jobs_in_flight: int
    jobs_done: int = Field(description="jobs it finished, over all its connections")
    jobs_failed: int = Field(description="jobs that failed on it, over all its connections")


class EchoIn(BaseModel):
    data: Any = Field(None, description="Returned unchanged by the worker.")
    delay: float = Field(0.0, ge=0, le=30, description="Seconds the worker waits before answering.")
    timeout: float | None = Field(None, gt=0, le=300, description="Override JOB_TIMEOUT for this job.")

    model_config = {"json_schema_extra": {"examples": [{"data": {"hello": "worker"}, "delay": 0}]}}


class EchoOut(BaseModel):
    data: Any
    worker_id: str


class ErrorOut(BaseModel):
    """Every error answer's body (see ``app.errors``)."""

    detail: str | list[dict[str, Any]] = Field(
        description="What happened; for a request that fails validation, what each field got wrong"
    )
    code: str = Field(
        description="For programs: unauthorized, not_found, too_large, unsupported_type, invalid_image, "
        "invalid_request, unavailable, timeout, ..."
    )


# --- people and faces ------------------------------------------------------

_BOX: dict[str, Any] = {"x": 373, "y": 140, "width": 266, "height": 265}
_QUALITY: dict[str, Any] = {"size": 265, "sharpness": 1312.9, "visible": 1.0, "score": 1.0}
_FACE: dict[str, Any] = {
    "id": 7,
    "person_id": 1,
    "box": _BOX,
    "quality": _QUALITY,
    "source_name": "ada1.jpg",
    "created_at": "2026-12-03T10:00:00Z",
    "crop_url": "/api/faces/7/crop.jpg",
}
_PERSON: dict[str, Any] = {
    "id": 1,
    "name": "Ada Lovelace",
    "external_id": "emp-42",
    "metadata": {"team": "analytics"},
    "face_count": 2,
    "created_at": "2026-12-03T10:00:00Z",
    "updated_at": "2026-12-03T10:05:00Z",
    "last_seen": {"camera_id": 3, "camera_name": "Front door", "at": "2026-12-04T08:12:40Z", "event_id": 120},
}
_MATCH: dict[str, Any] = {
    "person_id": 1,
    "name": "Ada Lovelace",
    "face_id": 7,
    "distance": 0.33,
    "similarity": 0.9625,
}


class BoxOut(BaseModel):
    x: int
    y: int
    width: int
    height: int


class QualityOut(BaseModel):
    model_config = {"extra": "allow"}

    size: int = Field(description="Shorter side of the face box, in pixels")
    sharpness: float = Field(description="Variance of the Laplacian on the normalised face crop")


class PersonIn(BaseModel):
    name: PersonText
    external_id: PersonText | None = Field(None, description="Your own id, unique")
    metadata: dict[str, Any] = Field(default_factory=dict)

    model_config = {"json_schema_extra": {"examples": [{"name": "Ada Lovelace", "external_id": "emp-42"}]}}


class PersonPatch(BaseModel):
    name: PersonText | None = None
    external_id: PersonText | None = None
    metadata: dict[str, Any] | None = None

    model_config = {"json_schema_extra": {"examples": [{"name": "Ada King", "metadata": {"team": "rd"}}]}}


class PersonOut(BaseModel):
    id: int
    name: str
    external_id: str | None
    metadata: dict[str, Any]
    face_count: int
    created_at: datetime
    updated_at: datetime
    last_seen: LastSeen | None = Field(None, description="Latest sighting by a camera (single-person views)")

    model_config = {"json_schema_extra": {"examples": [_PERSON]}}


class PersonPage(BaseModel):
    items: list[PersonOut]
    total: int
    limit: int
    offset: int

    model_config = {
        "json_schema_extra": {
            "examples": [{"items": [{**_PERSON, "last_seen": None}], "total": 1, "limit": 50, "offset": 0}]
        }
    }


class FaceOut(BaseModel):
    id: int
    person_id: int
    box: BoxOut
    quality: QualityOut
    source_name: str
    created_at: datetime
    crop_url: str

    model_config = {"json_schema_extra": {"examples": [_FACE]}}


class EnrollItem(BaseModel):
    filename: str
    status: str = Field(description="'enrolled' or 'refused'")
    face: FaceOut | None = None
    code: str | None = Field(None, description="why refused: no_face, multiple_faces, face_too_small, ...")
    reason: str | None = None


class EnrollOut(BaseModel):
    enrolled: int
    refused: int
    results: list[EnrollItem]

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "enrolled": 1,
                    "refused": 1,
                    "results": [
                        {"filename": "ada1.jpg", "status": "enrolled", "face": _FACE},
                        {
                            "filename": "party.jpg",
                            "status": "refused",
                            "code": "multiple_faces",
                            "reason": "3 faces found; enroll from photos of one person",
                        },
                    ],
                }
            ]
        }
    }


# --- recognition -----------------------------------------------------------


class MatchOut(BaseModel):
    person_id: int
    name: str
    face_id: int
    distance: float
    similarity: float = Field(description="In [0, 1]; 0.5 at distance 0.6, higher is closer")


class RecognizedFace(BaseModel):
    box: BoxOut
    quality: QualityOut
    match: MatchOut | None = Field(description="The best match within the threshold, or null: unknown")
    candidates: list[MatchOut]


TotalFaces = Annotated[int, Field(description="Faces found; `faces` holds the largest MAX_FACES")]
FacesTruncated = Annotated[
    bool, Field(description="More faces were found than MAX_FACES: the smallest are not in `faces`")
]


class RecognizeOut(BaseModel):
    width: int
    height: int
    threshold: float
    total_faces: TotalFaces
    faces_truncated: FacesTruncated
    faces: list[RecognizedFace]

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "width": 1434,
                    "height": 2333,
                    "threshold": 0.6,
                    "total_faces": 2,
                    "faces_truncated": False,
                    "faces": [
                        {"box": _BOX, "quality": _QUALITY, "match": _MATCH, "candidates": [_MATCH]},
                        {
                            "box": {"x": 900, "y": 200, "width": 120, "height": 121},
                            "quality": _QUALITY,
                            "match": None,
                            "candidates": [{**_MATCH, "distance": 0.82, "similarity": 0.066}],
                        },
                    ],
                }
            ]
        }
    }


class VerifyOut(BaseModel):
    same_person: bool
    distance: float
    similarity: float
    threshold: float
    box1: BoxOut
    box2: BoxOut

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "same_person": True,
                    "distance": 0.33,
                    "similarity": 0.9625,
                    "threshold": 0.6,
                    "box1": _BOX,
                    "box2": {"x": 656, "y": 311, "width": 265, "height": 263},
                }
            ]
        }
    }


class DetectedFaceOut(BaseModel):
    box: BoxOut
    landmarks: list[list[float]] = Field(description="5 points: eye corners and the base of the nose")
    quality: QualityOut


class DetectOut(BaseModel):
    width: int
    height: int
    total_faces: TotalFaces
    faces_truncated: FacesTruncated
    faces: list[DetectedFaceOut]

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "width": 1434,
                    "height": 2333,
                    "total_faces": 1,
                    "faces_truncated": False,
                    "faces": [
                        {
                            "box": _BOX,
                            "landmarks": [[569, 215], [527, 216], [422, 217], [464, 216], [495, 295]],
                            "quality": _QUALITY,
                        }
                    ],
                }
            ]
        }
    }


# --- cameras -----------------------------------------------------------------


def _camera_url(url: str) -> str:
    """The worker's own parser decides, so the API never keeps a camera no worker can start."""
    try:
        parse_source(url)
    except InvalidSource as exc:  # its sentence never quotes credentials
        raise PydanticCustomError("camera_url", str(exc)) from None
    return url.strip()


CameraUrl = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2000,
        description="rtsp:// or rtsps://, http(s):// MJPEG, an absolute video file path on the worker, "
        "/dev/videoN or a device index. Credentials in it are stored, and shown only redacted.",
    ),
    AfterValidator(_camera_url),
]


class CameraIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    url: CameraUrl
    enabled: bool = True
    process_fps: float = Field(5.0, gt=0, le=30, description="Frames analysed per second")
    detection_width: int = Field(
        640,
        ge=160,
        le=3840,
        description="Full-frame scans look for faces in frames shrunk to this width (never enlarged). The "
        "detector finds faces down to about 40 px at that width: wider finds smaller faces, and costs more "
        "per scan (see status.detect_ms)",
    )
    min_face_size: int = Field(40, ge=0, le=2000, description="Smaller faces are ignored (px)")
    loop: bool = Field(False, description="Replay a video file when it ends")
    pinned_worker: str | None = Field(None, max_length=128, description="Run only on this worker")

    model_config = {
        "json_schema_extra": {
            "examples": [{"name": "Front door", "url": "rtsp://user:password@192.0.2.10:554/stream1"}]
        }
    }


class CameraPatch(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    url: CameraUrl | None = None
    enabled: bool | None = None
    process_fps: float | None = Field(None, gt=0, le=30)
    detection_width: int | None = Field(None, ge=160, le=3840)
    min_face_size: int | None = Field(None, ge=0, le=2000)
    loop: bool | None = None
    pinned_worker: str | None = Field(None, max_length=128)


class CameraLive(BaseModel):
    worker_id: str | None = Field(description="The worker running it, or null")
    state: str = Field(
        description="starting, streaming, reconnecting, error (still retrying), stopped (a file ended), "
        "failed (no worker could start it: see reason), unassigned (it runs on no worker: see reason) or "
        "disabled"
    )
    reason: str = ""
    input_fps: float = 0.0
    processed_fps: float = Field(
        0.0, description="Frames analysed a second: scanned whole, or searched near the faces it follows"
    )
    processed_frames: int = Field(0, description="Frames analysed since it started on this worker")
    scans: int = Field(0, description="Full-frame scans (which find new faces) since it started here")
    scan_fps: float = Field(0.0, description="Full-frame scans a second (CAMERA_SCAN_INTERVAL)")
    last_frame_at: datetime | None = None
    faces_seen: int = 0
    embeddings: int = 0
    detect_ms: float = Field(0.0, description="Time of a full-frame scan (grows with detection_width)")
    follow_ms: float = Field(0.0, description="Time of a frame searched only near the faces it follows")
    embed_ms: float = Field(0.0, description="Time per embedding")
    events_dropped: int = 0
    viewers: int = 0


class CameraOut(BaseModel):
    id: int
    name: str
    url: str = Field(description="Credentials redacted")
    enabled: bool
    process_fps: float
    detection_width: int
    min_face_size: int
    loop: bool
    pinned_worker: str | None
    created_at: datetime
    updated_at: datetime
    status: CameraLive


# --- events ------------------------------------------------------------------


class EventOut(BaseModel):
    id: int
    camera_id: int
    camera_name: str | None
    person_id: int | None = Field(description="null: an unknown face")
    person_name: str | None
    distance: float | None
    similarity: float | None
    first_seen: datetime
    last_seen: datetime
    ended: bool
    samples: int
    box: BoxOut = Field(description="The face in the best frame, in that frame's pixels")
    frame_width: int | None = Field(description="Size of that frame (the snapshot may be smaller)")
    frame_height: int | None
    face_url: str
    snapshot_url: str


class EventPage(BaseModel):
    items: list[EventOut]
    total: int
    limit: int
    offset: int


class AssignIn(BaseModel):
    """Events whose faces show one person, and who: an enrolled person, or a new one by name."""

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [{"event_ids": [12, 15], "name": "Ada Lovelace"}, {"event_ids": [12], "person_id": 1}]
        },
    }

    event_ids: list[int] = Field(min_length=1, max_length=100, description="Unknown-face events, distinct")
    person_id: int | None = Field(None, ge=1, le=MAX_ROW_ID, description="An enrolled person...")
    name: PersonText | None = Field(None, description="...or a new person's name")

    @model_validator(mode="after")
    def _one_target(self) -> AssignIn:
        if self.person_id is None and self.name is None:
            raise ValueError(
                "say whose faces these are: give person_id (an enrolled person) or name (a new person)"
            )
        if self.person_id is not None and self.name is not None:
            raise ValueError("give either person_id (an enrolled person) or name (a new person), not both")
        if len(set(self.event_ids)) != len(self.event_ids):
            raise ValueError("event_ids must be distinct")
        if not all(1 <= i <= MAX_ROW_ID for i in self.event_ids):
            raise ValueError(f"event ids are from 1 to {MAX_ROW_ID}")
        return self


class AssignOut(BaseModel):
    person: PersonOut
    faces: list[FaceOut] = Field(description="The faces enrolled: each event's best face")
    events: list[EventOut] = Field(description="The events, now naming the person")


class LastSeen(BaseModel):
    camera_id: int
    camera_name: str | None
    at: datetime
    event_id: int


PersonOut.model_rebuild()
