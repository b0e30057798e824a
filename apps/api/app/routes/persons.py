"""People: create, list, search, change, delete, and enroll their faces."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status

from ..form_files import SpooledPhoto, read_photos
from ..jobs import DispatchError, NoWorkerAvailable
from ..models import Face, Person
from ..people import NewFace
from ..recognition import ImageRejected
from ..schemas import (
    EnrollItem,
    EnrollOut,
    FaceOut,
    LastSeen,
    NoControlCharacters,
    PersonIn,
    PersonOut,
    PersonPage,
    PersonPatch,
)
from ..security import ServicesDep
from .params import Offset, RowId
from .responses import error_responses

router = APIRouter(prefix="/persons", tags=["people"])

BAD_ID = "Not a valid person id"
NOT_FOUND = error_responses({404: "No such person", 422: BAD_ID})


def person_out(person: Person, face_count: int) -> PersonOut:
    return PersonOut(
        id=person.id,
        name=person.name,
        external_id=person.external_id,
        metadata=person.meta or {},
        face_count=face_count,
        created_at=person.created_at,
        updated_at=person.updated_at,
    )


def face_out(face: Face) -> FaceOut:
    return FaceOut.model_validate(
        {
            "id": face.id,
            "person_id": face.person_id,
            "box": face.box,
            "quality": face.quality,
            "source_name": face.source_name,
            "created_at": face.created_at,
            "crop_url": f"/api/faces/{face.id}/crop.jpg",
        }
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=PersonOut,
    responses=error_responses(
        {409: "external_id already used", 422: "Name missing, blank, too long or with control characters"}
    ),
)
async def create_person(body: PersonIn, services: ServicesDep) -> PersonOut:
    person, count = await asyncio.to_thread(
        services.people.create, body.name, body.external_id, body.metadata
    )
    return person_out(person, count)


@router.get(
    "",
    response_model=PersonPage,
    responses=error_responses({422: "limit or offset out of range, or q with control characters"}),
    summary="List people, optionally searching by name",
)
async def list_persons(
    services: ServicesDep,
    q: Annotated[
        str | None, Query(max_length=200, description="Part of the name, any case"), NoControlCharacters
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> PersonPage:
    rows, total = await asyncio.to_thread(services.people.search, q, limit, offset)
    return PersonPage(items=[person_out(p, n) for p, n in rows], total=total, limit=limit, offset=offset)


@router.get("/{person_id}", response_model=PersonOut, responses=NOT_FOUND)
async def get_person(person_id: RowId, services: ServicesDep) -> PersonOut:
    """One person, with where and when a camera last saw them."""

    def load() -> PersonOut:
        out = person_out(*services.people.get(person_id))
        event = services.events.last_for_person(person_id)
        if event is not None:
            cameras = {c.id: c.name for c in services.camera_store.all()}
            out.last_seen = LastSeen(
                camera_id=event.camera_id,
                camera_name=cameras.get(event.camera_id),
                at=event.last_seen,
                event_id=event.id,
            )
        return out

    return await asyncio.to_thread(load)


@router.patch(
    "/{person_id}",
    response_model=PersonOut,
    responses=error_responses({404: "No such person", 422: f"{BAD_ID}, or a field as when creating one"}),
)
async def update_person(person_id: RowId, body: PersonPatch, services: ServicesDep) -> PersonOut:
    changes = body.model_dump(exclude_unset=True)
    if changes.get("name", "") is None or changes.get("metadata", {}) is None:
        raise HTTPException(422, "name and metadata cannot be null")
    return person_out(*await asyncio.to_thread(services.people.update, person_id, changes))


@router.delete(
    "/{person_id}",
    status_code=204,
    responses=NOT_FOUND,
    summary="Delete a person with all their faces, crops and embeddings",
)
async def delete_person(person_id: RowId, services: ServicesDep) -> Response:
    async with services.recorder.exclusive():  # no camera sample names them half-way
        await asyncio.to_thread(services.people.delete, person_id)
        services.recorder.person_deleted(person_id)
    return Response(status_code=204)


ENROLL_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["files"],
                "properties": {
                    "files": {
                        "type": "array",
                        "items": {"type": "string", "format": "binary"},
                        "description": "Photos with exactly one face each (at most ENROLL_MAX_FILES, "
                        "each at most MAX_UPLOAD_MB)",
                    }
                },
            }
        }
    },
}


@router.post(
    "/{person_id}/faces",
    response_model=EnrollOut,
    responses=error_responses(
        {
            404: "No such person",
            413: "The body is over MAX_UPLOAD_MB x ENROLL_MAX_FILES (nothing is enrolled)",
            422: f"{BAD_ID}; no photos, more than ENROLL_MAX_FILES, another form field, or a malformed body",
            503: "No worker connected",
        }
    ),
    openapi_extra={"requestBody": ENROLL_BODY},
    summary="Enroll faces from one or many photos, with a result per photo",
)
async def enroll_faces(person_id: RowId, request: Request, services: ServicesDep) -> EnrollOut:
    """Each photo gets its own result: enrolled, or refused with a code and a reason (a photo
    over MAX_UPLOAD_MB is refused as `too_large` without costing the others). A body over
    MAX_UPLOAD_MB x ENROLL_MAX_FILES is cut off with 413, and nothing is enrolled."""
    # The body is read here, not by FastAPI: only once the person and a worker are known to
    # exist, and with the per-photo limit applied while it arrives.
    await asyncio.to_thread(services.people.get, person_id)
    if not services.hub.can_serve("analyze"):
        raise NoWorkerAvailable("analyze")
    settings = services.settings
    photos = await read_photos(
        request, field="files", max_bytes=settings.max_upload_bytes, max_files=settings.enroll_max_files
    )
    # As many photos in memory as workers can take at once: the others wait on their spool.
    slots = asyncio.Semaphore(max(1, services.dispatcher.capacity("analyze")))

    async def one(photo: SpooledPhoto) -> EnrollItem:
        name = photo.filename
        if photo.too_large:
            reason = f"larger than {settings.max_upload_mb} MB (MAX_UPLOAD_MB)"
            return EnrollItem(filename=name, status="refused", code="too_large", reason=reason)
        try:
            async with slots:
                new: NewFace = await services.recognition.enroll(await photo.read(), name)
            face = await asyncio.to_thread(services.people.add_face, person_id, new)
        except ImageRejected as exc:
            return EnrollItem(filename=name, status="refused", code=exc.code, reason=exc.message)
        except DispatchError as exc:  # one photo's bad luck must not sink the others
            return EnrollItem(filename=name, status="refused", code=exc.code, reason=str(exc))
        return EnrollItem(filename=name, status="enrolled", face=face_out(face))

    try:
        results = await asyncio.gather(*(one(p) for p in photos))
    finally:
        for photo in photos:
            photo.close()
    enrolled = sum(r.status == "enrolled" for r in results)
    return EnrollOut(enrolled=enrolled, refused=len(results) - enrolled, results=list(results))


@router.get("/{person_id}/faces", response_model=list[FaceOut], responses=NOT_FOUND)
async def list_faces(person_id: RowId, services: ServicesDep) -> list[FaceOut]:
    return [face_out(f) for f in await asyncio.to_thread(services.people.faces, person_id)]
