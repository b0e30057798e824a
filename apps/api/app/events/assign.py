"""Giving events' faces to a person, existing or created in the same step ("unknown faces -> people").

Each event's best face — the descriptor and crop stored with it — is enrolled for the
person, and the event names that person from then on; no worker is involved. All or
nothing: when any event is missing (404) or is not an unknown face with a stored face
(409), nothing is created or enrolled, so sending the same request twice enrolls nothing
twice; the new person, the faces and the events' new names are one database transaction.
Requests are applied one at a time, between the recorder's own updates.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import numpy as np
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from ..models import Event, Face, Person
from ..people import Conflict, NewFace, NotFound, People
from .recorder import EventRecorder
from .store import EventStore


@dataclass(frozen=True)
class Assignment:
    person: Person
    face_count: int
    faces: list[Face]
    events: list[Event]


class EventAssigner:
    def __init__(self, people: People, store: EventStore, recorder: EventRecorder) -> None:
        self._people = people
        self._store = store
        self._recorder = recorder

    async def assign(self, event_ids: list[int], person_id: int | None, name: str | None) -> Assignment:
        """To the person `person_id`, or to a new person called `name` (exactly one is given)."""
        async with self._recorder.exclusive():
            done = await asyncio.to_thread(self._commit, event_ids, person_id, name)
            self._recorder.assigned(done.person.id, done.person.name, done.events)
            return done

    def _commit(self, event_ids: list[int], person_id: int | None, name: str | None) -> Assignment:
        events = [self._store.get(event_id) for event_id in event_ids]
        crops = [self._enrollable(event) for event in events]
        new_faces = [
            NewFace(
                embedding=np.frombuffer(event.embedding or b"", np.float32),
                box=event.box,
                quality=event.quality or {},
                crop=crop,
                source_name=f"event {event.id}",
            )
            for event, crop in zip(events, crops, strict=True)
        ]
        changed: list[Event] = []

        def name_them(db: Session, person: Person) -> None:  # in the faces' own transaction
            for event_id in event_ids:
                event = db.get(Event, event_id)
                if event is None:  # its camera was deleted meanwhile
                    raise NotFound(f"no event {event_id}")
                event.person_id, event.distance = person.id, 0.0
                changed.append(event)
            try:
                db.flush()
            except StaleDataError:
                raise NotFound("an event was deleted meanwhile (its camera was)") from None

        target = person_id if person_id is not None else name
        assert target is not None
        person, faces = self._people.add_faces(target, new_faces, name_them)
        _, count = self._people.get(person.id)
        return Assignment(person, count, faces, changed)

    def _enrollable(self, event: Event) -> bytes:
        """The event's face crop, or Conflict saying why its face cannot be enrolled."""
        if event.person_id is not None:
            raise Conflict(
                f"event {event.id} already names person {event.person_id}: only unknown faces can be assigned"
            )
        crop = self._store.image_path(event.id, "face")
        if event.embedding is None or event.quality is None or not crop.is_file():
            raise Conflict(f"event {event.id} has no stored face to enroll (it predates this version)")
        return crop.read_bytes()
