"""Recognize, verify and detect faces in uploaded photos."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile

from ..gallery import similarity
from ..jobs import JobFailed
from ..recognition import AnalyzedFace, ImageRejected, Match
from ..schemas import (
    DetectedFaceOut,
    DetectOut,
    MatchOut,
    RecognizedFace,
    RecognizeOut,
    VerifyOut,
)
from ..security import ServicesDep
from .responses import error_responses

router = APIRouter(tags=["recognition"])

IMAGE_ERRORS = error_responses(
    {
        413: "File over MAX_UPLOAD_MB, or more pixels than MAX_IMAGE_PIXELS",
        415: "Not a JPEG, PNG, WebP, BMP or TIFF image",
        422: "Empty, truncated or corrupt image; no face (verify); a file sent twice or a field out of range",
        502: "The worker failed (not the image's fault)",
        503: "No worker connected, or all busy with a full queue (Retry-After says when to try again)",
        504: "No answer within JOB_TIMEOUT",
    },
    images=True,
)


def one_file_in(*fields: str) -> Any:
    """A dependency refusing a form that sends a field twice: FastAPI would silently use one of them."""

    async def check(request: Request) -> None:
        form = await request.form()  # already parsed for the route: Starlette keeps it
        for field in fields:
            count = len(form.getlist(field))
            if count > 1:
                raise HTTPException(422, f"send one file in '{field}', not {count}")

    return Depends(check)


Threshold = Annotated[float | None, Form(gt=0, le=2, description="Match distance; default MATCH_THRESHOLD")]


def _match_out(match: Match) -> MatchOut:
    c = match.candidate
    return MatchOut(
        person_id=c.person_id,
        name=match.name,
        face_id=c.face_id,
        distance=round(c.distance, 4),
        similarity=round(c.similarity, 4),
    )


@router.post(
    "/recognize",
    dependencies=[one_file_in("file")],
    response_model=RecognizeOut,
    responses=IMAGE_ERRORS,
    summary="Who is in this photo: every face with its best match or null",
)
async def recognize(
    services: ServicesDep,
    file: Annotated[UploadFile, File(description="JPEG, PNG, WebP, BMP or TIFF")],
    threshold: Threshold = None,
    top_k: Annotated[int, Form(ge=1, le=50, description="Candidates listed per face")] = 3,
    min_face_size: Annotated[int, Form(ge=0, le=10000, description="Ignore smaller faces (px)")] = 0,
) -> RecognizeOut:
    limit = threshold or services.settings.match_threshold
    analysis = await services.recognition.analyze(await file.read(), embed=True, min_face_size=min_face_size)
    faces = []
    for face in analysis.faces:
        assert face.embedding is not None
        candidates = [_match_out(m) for m in await services.recognition.matches(face.embedding, top_k=top_k)]
        best = candidates[0] if candidates and candidates[0].distance <= limit else None
        faces.append(
            RecognizedFace.model_validate(
                {"box": face.box, "quality": face.quality, "match": best, "candidates": candidates}
            )
        )
    return RecognizeOut(
        width=analysis.width,
        height=analysis.height,
        threshold=limit,
        total_faces=analysis.total_faces,
        faces_truncated=analysis.faces_truncated,
        faces=faces,
    )


def _main_face(faces: list[AnalyzedFace], which: str) -> AnalyzedFace:
    if not faces:
        raise ImageRejected("no_face", f"no face found in {which}")
    return max(faces, key=lambda f: f.box["width"] * f.box["height"])


@router.post(
    "/verify",
    dependencies=[one_file_in("file1", "file2")],
    response_model=VerifyOut,
    responses=IMAGE_ERRORS,
    summary="Are the largest faces of two photos the same person?",
)
async def verify(
    services: ServicesDep,
    file1: Annotated[UploadFile, File()],
    file2: Annotated[UploadFile, File()],
    threshold: Threshold = None,
) -> VerifyOut:
    limit = threshold or services.settings.match_threshold

    async def analyze(which: str, upload: UploadFile) -> list[AnalyzedFace]:
        try:
            return (await services.recognition.analyze(await upload.read(), embed=True)).faces
        except ImageRejected as exc:
            raise ImageRejected(exc.code, f"{which}: {exc.message}") from None
        except JobFailed as exc:
            raise JobFailed(exc.code, f"{which}: {exc.message}") from None

    first, second = await asyncio.gather(analyze("file1", file1), analyze("file2", file2))
    a, b = _main_face(first, "file1"), _main_face(second, "file2")
    assert a.embedding is not None and b.embedding is not None
    distance = float(((a.embedding - b.embedding) ** 2).sum() ** 0.5)
    return VerifyOut.model_validate(
        {
            "same_person": distance <= limit,
            "distance": round(distance, 4),
            "similarity": round(similarity(distance), 4),
            "threshold": limit,
            "box1": a.box,
            "box2": b.box,
        }
    )


@router.post(
    "/detect",
    dependencies=[one_file_in("file")],
    response_model=DetectOut,
    responses=IMAGE_ERRORS,
    summary="Where are the faces: boxes, 5-point landmarks, quality",
)
async def detect(
    services: ServicesDep,
    file: Annotated[UploadFile, File()],
    min_face_size: Annotated[int, Form(ge=0, le=10000)] = 0,
) -> DetectOut:
    analysis = await services.recognition.analyze(await file.read(), embed=False, min_face_size=min_face_size)
    faces = [
        DetectedFaceOut.model_validate({"box": f.box, "landmarks": f.landmarks, "quality": f.quality})
        for f in analysis.faces
    ]
    return DetectOut(
        width=analysis.width,
        height=analysis.height,
        total_faces=analysis.total_faces,
        faces_truncated=analysis.faces_truncated,
        faces=faces,
    )
