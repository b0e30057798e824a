"""`analyze`: faces in one image — boxes, landmarks, quality, and optionally descriptors and crops."""

from __future__ import annotations

from facegrid_protocol import Job
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..engine import EngineCrashed, FaceEngine
from . import Handler, JobInputError, JobOutput


class AnalyzeParams(BaseModel):
    """The job's params, checked before an engine process sees them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    embed: bool = True
    crops: bool = False
    min_face_size: int = Field(0, ge=0, description="smaller faces (shorter box side, px) are left out")
    max_faces: int | None = Field(None, ge=1, description="only the largest ones are described")


def analyze_handler(engine: FaceEngine) -> Handler:
    """Result: ``{width, height, total_faces, faces: [{box, score, landmarks, quality, embedding?, crop?}]}``.

    Faces come largest first, at most ``max_faces`` of them; ``total_faces`` counts every face
    found (of at least ``min_face_size``). ``crop`` is ``[offset, length]`` of that face's JPEG
    in the payload.
    """

    async def run_analyze(job: Job, payload: bytes | None) -> JobOutput:
        if not payload:
            raise JobInputError("bad_input", "the job carries no image")
        try:
            params = AnalyzeParams.model_validate(job.params)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise JobInputError("bad_input", f"invalid analyze params: {problems}") from None
        try:
            result, crops = await engine.analyze(payload, params.model_dump())
        except EngineCrashed as exc:
            raise JobInputError("bad_input", str(exc)) from None
        return JobOutput(result, crops or None)

    return run_analyze
