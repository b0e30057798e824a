"""Request and response bodies of the REST API (kept apart from storage models)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from .workers.session import WorkerStatus


class WorkerOut(BaseModel):
    id: str
    hostname: str
    pid: int
    version: str
    capabilities: dict[str, Any]
    status: WorkerStatus
    connected_since: datetime | None = Field(description="null when offline")
    last_heartbeat: datetime | None = Field(description="last heartbeat, or when last seen if offline")
    jobs_in_flight: int
    jobs_done: int
    jobs_failed: int


class EchoIn(BaseModel):
    data: Any = Field(None, description="Returned unchanged by the worker.")
    delay: float = Field(0.0, ge=0, le=30, description="Seconds the worker waits before answering.")
    timeout: float | None = Field(None, gt=0, le=300, description="Override JOB_TIMEOUT for this job.")

    model_config = {"json_schema_extra": {"examples": [{"data": {"hello": "worker"}, "delay": 0}]}}


class EchoOut(BaseModel):
    data: Any
    worker_id: str


# --- people and faces ------------------------------------------------------


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
    name: str = Field(min_length=1, max_length=200)
    external_id: str | None = Field(None, min_length=1, max_length=200, description="Your own id, unique")
    metadata: dict[str, Any] = Field(default_factory=dict)

    model_config = {"json_schema_extra": {"examples": [{"name": "Ada Lovelace", "external_id": "emp-42"}]}}


class PersonPatch(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    external_id: str | None = Field(None, min_length=1, max_length=200)
    metadata: dict[str, Any] | None = None


class PersonOut(BaseModel):
    id: int
    name: str
    external_id: str | None
    metadata: dict[str, Any]
    face_count: int
    created_at: datetime
    updated_at: datetime


class PersonPage(BaseModel):
    items: list[PersonOut]
    total: int
    limit: int
    offset: int


class FaceOut(BaseModel):
    id: int
    person_id: int
    box: BoxOut
    quality: QualityOut
    source_name: str
    created_at: datetime
    crop_url: str


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


class RecognizeOut(BaseModel):
    width: int
    height: int
    threshold: float
    faces: list[RecognizedFace]


class VerifyOut(BaseModel):
    same_person: bool
    distance: float
    similarity: float
    threshold: float
    box1: BoxOut
    box2: BoxOut


class DetectedFaceOut(BaseModel):
    box: BoxOut
    landmarks: list[list[float]] = Field(description="5 points: eye corners and the base of the nose")
    quality: QualityOut


class DetectOut(BaseModel):
    width: int
    height: int
    faces: list[DetectedFaceOut]
