"""People and their enrolled faces: the database, the crops on disk and the gallery, kept in step.

Every change commits to the database first and then updates the in-memory gallery,
so the very next recognition sees it. Face crops live at DATA_DIR/faces/<face id>.jpg:
the path is derived from the id, never from anything a client sends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from .gallery import Gallery
from .models import Face, Person


class PeopleError(Exception):
    """Root of what a people operation refuses."""


class NotFound(PeopleError):
    pass


class Conflict(PeopleError):
    pass


@dataclass(frozen=True)
class NewFace:
    embedding: np.ndarray
    box: dict[str, int]
    quality: dict[str, Any]
    crop: bytes
    source_name: str


class People:
    def __init__(self, sessions: sessionmaker, gallery: Gallery, crops_dir: Path) -> None:
        self._sessions = sessions
        self.gallery = gallery
        self._crops = crops_dir
        crops_dir.mkdir(parents=True, exist_ok=True)

    def load_gallery(self) -> int:
        """Fill the gallery from the database (at start-up)."""
        with self._sessions() as db:
            rows = db.execute(select(Face.id, Face.person_id, Face.embedding)).all()
        self.gallery.add_many((fid, pid, np.frombuffer(emb, np.float32)) for fid, pid, emb in rows)
        return len(rows)

    def crop_path(self, face_id: int) -> Path:
        return self._crops / f"{int(face_id)}.jpg"

    # --- persons ---------------------------------------------------------

    def create(self, name: str, external_id: str | None, metadata: dict[str, Any]) -> tuple[Person, int]:
        with self._sessions() as db:
            person = Person(name=name, external_id=external_id, meta=metadata)
            db.add(person)
            self._commit(db, external_id)
            return person, 0

    def search(self, query: str | None, limit: int, offset: int) -> tuple[list[tuple[Person, int]], int]:
        with self._sessions() as db:
            where = Person.name.ilike(f"%{_escape_like(query)}%", escape="\\") if query else true()
            total = db.scalar(select(func.count()).select_from(Person).where(where)) or 0
            counts = select(Face.person_id, func.count().label("n")).group_by(Face.person_id).subquery()
            rows = db.execute(
                select(Person, func.coalesce(counts.c.n, 0))
                .outerjoin(counts, counts.c.person_id == Person.id)
                .where(where)
                .order_by(Person.name, Person.id)
                .limit(limit)
                .offset(offset)
            ).all()
            return [(p, int(n)) for p, n in rows], int(total)

    def get(self, person_id: int) -> tuple[Person, int]:
        with self._sessions() as db:
            person = db.get(Person, person_id)
            if person is None:
                raise NotFound(f"no person {person_id}")
            count = db.scalar(select(func.count()).where(Face.person_id == person_id)) or 0
            return person, int(count)

    def update(self, person_id: int, changes: dict[str, Any]) -> tuple[Person, int]:
        with self._sessions() as db:
            person = db.get(Person, person_id)
            if person is None:
                raise NotFound(f"no person {person_id}")
            for field, value in changes.items():
                setattr(person, "meta" if field == "metadata" else field, value)
            self._commit(db, changes.get("external_id"))
        return self.get(person_id)

    def delete(self, person_id: int) -> None:
        with self._sessions() as db:
            person = db.get(Person, person_id)
            if person is None:
                raise NotFound(f"no person {person_id}")
            face_ids = list(db.scalars(select(Face.id).where(Face.person_id == person_id)))
            db.delete(person)
            db.commit()
        self.gallery.remove_person(person_id)
        self._remove_crops(face_ids)

    def names(self, person_ids: set[int]) -> dict[int, str]:
        if not person_ids:
            return {}
        with self._sessions() as db:
            return dict(db.execute(select(Person.id, Person.name).where(Person.id.in_(person_ids))).all())

    # --- faces -----------------------------------------------------------

    def add_face(self, person_id: int, new: NewFace) -> Face:
        return self.add_faces(person_id, [new])[1][0]

    def add_faces(
        self,
        person: int | str,
        new_faces: list[NewFace],
        also: Callable[[Session, Person], None] | None = None,
    ) -> tuple[Person, list[Face]]:
        """Faces for the person with this id, or for a new person with this name: in one
        transaction with ``also(db, person)`` (the caller's own changes), all or nothing."""
        written: list[int] = []
        with self._sessions() as db:
            try:
                if isinstance(person, str):
                    row = Person(name=person, external_id=None, meta={})
                    db.add(row)
                    db.flush()
                else:
                    found = db.get(Person, person)
                    if found is None:
                        raise NotFound(f"no person {person}")
                    row = found
                faces = [
                    Face(
                        person_id=row.id,
                        embedding=np.asarray(new.embedding, np.float32).tobytes(),
                        box=new.box,
                        quality=new.quality,
                        source_name=new.source_name[:255],
                    )
                    for new in new_faces
                ]
                db.add_all(faces)
                db.flush()
                for face, new in zip(faces, new_faces, strict=True):
                    self.crop_path(face.id).write_bytes(new.crop)
                    written.append(face.id)
                if also is not None:
                    also(db, row)
                db.commit()
            except BaseException:
                db.rollback()
                self._remove_crops(written)
                raise
        for face, new in zip(faces, new_faces, strict=True):
            self.gallery.add(face.id, row.id, new.embedding)
        return row, faces

    def faces(self, person_id: int) -> list[Face]:
        self.get(person_id)
        with self._sessions() as db:
            return list(db.scalars(select(Face).where(Face.person_id == person_id).order_by(Face.id)))

    def face(self, face_id: int) -> Face:
        with self._sessions() as db:
            face = db.get(Face, face_id)
            if face is None:
                raise NotFound(f"no face {face_id}")
            return face

    def delete_face(self, face_id: int) -> None:
        with self._sessions() as db:
            face = db.get(Face, face_id)
            if face is None:
                raise NotFound(f"no face {face_id}")
            db.delete(face)
            db.commit()
        self.gallery.remove_faces([face_id])
        self._remove_crops([face_id])

    # --- internals -------------------------------------------------------

    @staticmethod
    def _commit(db: Any, external_id: str | None) -> None:
        try:
            db.commit()
        except IntegrityError:
            db.rollback()
            raise Conflict(f"external_id {external_id!r} is already used by another person") from None

    def _remove_crops(self, face_ids: list[int]) -> None:
        for face_id in face_ids:
            with contextlib.suppress(FileNotFoundError):
                self.crop_path(face_id).unlink()


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
