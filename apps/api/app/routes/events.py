"""Events: who appeared where and when, their images, and a live feed of new ones."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, StreamingResponse

from ..events.store import EventFilter
from ..gallery import similarity
from ..models import Event
from ..people import NotFound
from ..schemas import AssignIn, AssignOut, EventOut, EventPage
from ..security import ServicesDep
from ..services import Services
from .params import Offset, OptionalId, RowId, UtcTime
from .persons import face_out, person_out

router = APIRouter(prefix="/events", tags=["events"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such event"}}
KEEPALIVE = 15.0


def _names(services: Services, events: list[Event]) -> tuple[dict[int, str], dict[int, str]]:
    people = services.people.names({e.person_id for e in events if e.person_id is not None})
    cameras = {c.id: c.name for c in services.camera_store.all()}
    return people, cameras


def event_out(event: Event, people: dict[int, str], cameras: dict[int, str]) -> EventOut:
    return EventOut.model_validate(
        {
            "id": event.id,
            "camera_id": event.camera_id,
            "camera_name": cameras.get(event.camera_id),
            "person_id": event.person_id,
            "person_name": people.get(event.person_id) if event.person_id is not None else None,
            "distance": round(event.distance, 4) if event.distance is not None else None,
            "similarity": round(similarity(event.distance), 4) if event.distance is not None else None,
            "first_seen": event.first_seen,
            "last_seen": event.last_seen,
            "ended": event.ended,
            "samples": event.samples,
            "box": event.box,
            "frame_width": event.frame_width,
            "frame_height": event.frame_height,
            "face_url": f"/api/events/{event.id}/face.jpg",
            "snapshot_url": f"/api/events/{event.id}/snapshot.jpg",
        }
    )


@router.get("", response_model=EventPage, summary="Events, newest first, with filters")
async def list_events(
    services: ServicesDep,
    camera_id: OptionalId = None,
    person_id: OptionalId = None,
    unknown: Annotated[bool | None, Query(description="true: only unknown faces; false: only known")] = None,
    since: Annotated[
        UtcTime | None, Query(description="ISO 8601 (UTC without a zone); events still visible after this")
    ] = None,
    until: Annotated[
        UtcTime | None, Query(description="ISO 8601 (UTC without a zone); events that began before this")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> EventPage:
    where = EventFilter(camera_id, person_id, unknown, since, until)

    def load() -> EventPage:
        events, total = services.events.query(where, limit, offset)
        people, cameras = _names(services, events)
        return EventPage(
            items=[event_out(e, people, cameras) for e in events], total=total, limit=limit, offset=offset
        )

    return await asyncio.to_thread(load)


@router.post(
    "/assign",
    response_model=AssignOut,
    responses={
        404: {"description": "No such event or person"},
        409: {"description": "An event is not an unknown face, or has no stored face to enroll"},
    },
    summary="Give unknown faces to a person: enroll each event's best face, and name the person",
)
async def assign_events(body: AssignIn, services: ServicesDep) -> AssignOut:
    """For one or several events showing the same person: an enrolled one (`person_id`) or a new
    one created in the same step (`name`). The cameras recognise the person from then on, and the
    events name them. All or nothing; assigning an event twice is refused with 409."""
    done = await services.assigner.assign(body.event_ids, body.person_id, body.name)

    def render() -> AssignOut:
        people, cameras = _names(services, done.events)
        return AssignOut(
            person=person_out(done.person, done.face_count),
            faces=[face_out(f) for f in done.faces],
            events=[event_out(e, people, cameras) for e in done.events],
        )

    return await asyncio.to_thread(render)


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
    summary="Server-Sent Events: a notice for every event created or updated",
)
async def event_stream(services: ServicesDep) -> StreamingResponse:
    async def notices() -> AsyncIterator[bytes]:
        yield b": connected\n\n"
        feed = services.feed.subscribe()
        next_notice = asyncio.ensure_future(feed.__anext__())
        try:
            while True:
                done, _ = await asyncio.wait({next_notice}, timeout=KEEPALIVE)
                if not done:
                    yield b": keepalive\n\n"
                    continue
                notice = next_notice.result()
                yield f"event: {notice['kind']}\ndata: {json.dumps(notice)}\n\n".encode()
                next_notice = asyncio.ensure_future(feed.__anext__())
        finally:
            next_notice.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await next_notice  # let the generator leave its await before closing it
            await feed.aclose()

    stream = services.stopping.cut(notices())  # ends when the server stops
    return StreamingResponse(stream, media_type="text/event-stream", headers={"Cache-Control": "no-store"})


@router.get("/{event_id}", response_model=EventOut, responses=NOT_FOUND)
async def get_event(event_id: RowId, services: ServicesDep) -> EventOut:
    def load() -> EventOut:
        event = services.events.get(event_id)
        return event_out(event, *_names(services, [event]))

    return await asyncio.to_thread(load)


async def _image(event_id: int, kind: str, services: Services) -> FileResponse:
    await asyncio.to_thread(services.events.get, event_id)
    path = services.events.image_path(event_id, kind)
    if not path.is_file():
        raise NotFound(f"event {event_id} has no {kind} image")
    return FileResponse(path, media_type="image/jpeg")


IMAGE = {**NOT_FOUND, 200: {"content": {"image/jpeg": {}}}}


@router.get(
    "/{event_id}/snapshot.jpg",
    response_class=FileResponse,
    responses=IMAGE,
    summary="The camera frame with the best view of the face",
)
async def event_snapshot(event_id: RowId, services: ServicesDep) -> FileResponse:
    return await _image(event_id, "snapshot", services)


@router.get(
    "/{event_id}/face.jpg", response_class=FileResponse, responses=IMAGE, summary="The best face crop"
)
async def event_face(event_id: RowId, services: ServicesDep) -> FileResponse:
    return await _image(event_id, "face", services)
