"""`analyze`: faces in one image — boxes, landmarks, quality, and optionally descriptors and crops."""

from __future__ import annotations

from facegrid_protocol import Job

from ..engine import EngineCrashed, FaceEngine
from . import Handler, JobInputError, JobOutput


def analyze_handler(engine: FaceEngine) -> Handler:
    """Params: ``embed`` (bool), ``crops`` (bool), ``min_face_size`` (px), ``max_faces``.

    Result: ``{width, height, faces: [{box, score, landmarks, quality, embedding?, crop?}]}``,
    largest face first; ``crop`` is ``[offset, length]`` of that face's JPEG in the payload.
    """

    async def run_analyze(job: Job, payload: bytes | None) -> JobOutput:
        if not payload:
            raise JobInputError("bad_input", "the job carries no image")
        try:
            result, crops = await engine.analyze(payload, job.params)
        except EngineCrashed as exc:
            raise JobInputError("bad_input", str(exc)) from None
        return JobOutput(result, crops or None)

    return run_analyze
