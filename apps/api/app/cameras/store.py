"""Camera rows in the database (the URL keeps its credentials; responses show it redacted)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from ..models import Camera
from ..people import NotFound


class CameraStore:
    def __init__(self, sessions: sessionmaker) -> None:
        self._sessions = sessions

    def all(self) -> list[Camera]:
        with self._sessions() as db:
            return list(db.scalars(select(Camera).order_by(Camera.id)))

    def get(self, camera_id: int) -> Camera:
        with self._sessions() as db:
            camera = db.get(Camera, camera_id)
            if camera is None:
                raise NotFound(f"no camera {camera_id}")
            return camera

    def create(self, fields: dict[str, Any]) -> Camera:
        with self._sessions() as db:
            camera = Camera(**fields)
            db.add(camera)
            db.commit()
            return camera

    def update(self, camera_id: int, changes: dict[str, Any]) -> Camera:
        with self._sessions() as db:
            camera = db.get(Camera, camera_id)
            if camera is None:
                raise NotFound(f"no camera {camera_id}")
            for field, value in changes.items():
                setattr(camera, field, value)
            db.commit()
            return camera

    def delete(self, camera_id: int) -> None:
        with self._sessions() as db:
            camera = db.get(Camera, camera_id)
            if camera is None:
                raise NotFound(f"no camera {camera_id}")
            db.delete(camera)
            db.commit()
