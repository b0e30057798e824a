"""Single enrolled faces: delete one, fetch its crop."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from fastapi.responses import FileResponse

from ..people import NotFound
from ..security import ServicesDep
from .params import RowId
from .responses import error_responses

router = APIRouter(prefix="/faces", tags=["people"])

NOT_FOUND = error_responses({404: "No such face", 422: "Not a valid face id"})


@router.delete("/{face_id}", status_code=204, responses=NOT_FOUND, summary="Remove one enrolled face")
async def delete_face(face_id: RowId, services: ServicesDep) -> Response:
    await asyncio.to_thread(services.people.delete_face, face_id)
    return Response(status_code=204)


@router.get(
    "/{face_id}/crop.jpg",
    response_class=FileResponse,
    responses={**NOT_FOUND, 200: {"content": {"image/jpeg": {}}}},
    summary="The face crop stored at enrollment",
)
async def face_crop(face_id: RowId, services: ServicesDep) -> FileResponse:
    await asyncio.to_thread(services.people.face, face_id)
    path = services.people.crop_path(face_id)
    if not path.is_file():
        raise NotFound(f"the crop of face {face_id} is missing")
    return FileResponse(path, media_type="image/jpeg")
