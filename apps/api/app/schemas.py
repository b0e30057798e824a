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
