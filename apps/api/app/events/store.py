"""Event rows and their images (DATA_DIR/events/<id>/face.jpg and snapshot.jpg)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, delete, func, select, true, update
from sqlalchemy.orm import sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from ..models import Event
from ..people import NotFound


@dataclass(frozen=True)
class EventFilter:
    camera_id: int | None = None
    person_id: int | None = None
    unknown: bool | None = None
    since: datetime | None = None
    until: datetime | None = None


class EventStore:
    def __init__(self, sessions: sessionmaker, images_dir: Path) -> None:
        self._sessions = sessions
        self._images = images_dir
        images_dir.mkdir(parents=True, exist_ok=True)

    def image_path(self, event_id: int, kind: str) -> Path:
        assert kind in ("face", "snapshot")
        return self._images / str(int(event_id)) / f"{kind}.jpg"

    def save_images(self, event_id: int, face: bytes, snapshot: bytes) -> None:
        folder = self._images / str(int(event_id))
        folder.mkdir(exist_ok=True)
        for kind, data in (("face", face), ("snapshot", snapshot)):
            if data:
                tmp = folder / f".{kind}.tmp"
                tmp.write_bytes(data)
                tmp.replace(folder / f"{kind}.jpg")

    def create(self, fields: dict[str, Any]) -> Event:
        with self._sessions() as db:
            event = Event(**fields)
            db.add(event)
            db.commit()
            return event

    def update(self, event_id: int, changes: dict[str, Any]) -> Event | None:
        """None when the event is gone (its camera was deleted, before or during this update)."""
        with self._sessions() as db:
            event = db.get(Event, event_id)
            if event is None:
                return None
            for name, value in changes.items():
                setattr(event, name, value)
            try:
                db.commit()
            except StaleDataError:
                return None
            return event

    def end_open(self) -> int:
        """End every event still open: at start-up, when no track can continue any of them.
        Their last sighting (last_seen) is their end."""
        with self._sessions() as db:
            ended = db.execute(update(Event).where(Event.ended.is_(False)).values(ended=True)).rowcount
            db.commit()
            return int(ended or 0)

    def get(self, event_id: int) -> Event:
        with self._sessions() as db:
            event = db.get(Event, event_id)
            if event is None:
                raise NotFound(f"no event {event_id}")
            return event

    def query(self, where: EventFilter, limit: int, offset: int) -> tuple[list[Event], int]:
        conditions = []
        if where.camera_id is not None:
            conditions.append(Event.camera_id == where.camera_id)
        if where.person_id is not None:
            conditions.append(Event.person_id == where.person_id)
        if where.unknown is not None:
            conditions.append(Event.person_id.is_(None) if where.unknown else Event.person_id.is_not(None))
        if where.since is not None:
            conditions.append(Event.last_seen >= where.since)
        if where.until is not None:
            conditions.append(Event.first_seen <= where.until)
        clause = and_(true(), *conditions)
        with self._sessions() as db:
            total = db.scalar(select(func.count()).select_from(Event).where(clause)) or 0
            rows = db.scalars(
                select(Event)
                .where(clause)
                .order_by(Event.first_seen.desc(), Event.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return list(rows), int(total)

    def last_for_person(self, person_id: int) -> Event | None:
        with self._sessions() as db:
            return db.scalars(
                select(Event).where(Event.person_id == person_id).order_by(Event.last_seen.desc()).limit(1)
            ).first()

    def delete_before(self, cutoff: datetime) -> int:
        with self._sessions() as db:
            ids = list(db.scalars(select(Event.id).where(Event.last_seen < cutoff)))
            if ids:
                db.execute(delete(Event).where(Event.id.in_(ids)))
                db.commit()
        for event_id in ids:
            shutil.rmtree(self._images / str(event_id), ignore_errors=True)
        return len(ids)

    def delete_for_camera(self, camera_id: int) -> None:
        with self._sessions() as db:
            ids = list(db.scalars(select(Event.id).where(Event.camera_id == camera_id)))
        for event_id in ids:
            shutil.rmtree(self._images / str(event_id), ignore_errors=True)
