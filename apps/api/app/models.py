"""Storage models (SQLAlchemy 2); request/response schemas live in `schemas.py`."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect, ForeignKey, Integer, LargeBinary, String, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, also on SQLite (which forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.astimezone(timezone.utc) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime}


class WorkerRecord(Base):
    """Last known facts about a worker, so `GET /api/workers` still shows it once offline."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    version: Mapped[str] = mapped_column(String(64))
    capabilities: Mapped[dict[str, Any]] = mapped_column(JSON)
    connected_at: Mapped[datetime] = mapped_column()
    last_seen: Mapped[datetime] = mapped_column()
    """When anything last arrived from it."""
    last_heartbeat: Mapped[datetime | None] = mapped_column()
    offline_since: Mapped[datetime | None] = mapped_column()
    """When its latest connection ended; None while it is connected."""
    jobs_done: Mapped[int] = mapped_column(Integer, default=0)
    """Over all its connections, like `jobs_failed`."""
    jobs_failed: Mapped[int] = mapped_column(Integer, default=0)


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Person(Base):
    __tablename__ = "persons"
    __table_args__ = {"sqlite_autoincrement": True}  # ids name files: never reuse one

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=_now)
    updated_at: Mapped[datetime] = mapped_column(default=_now, onupdate=_now)
    faces: Mapped[list[Face]] = relationship(
        back_populates="person", cascade="all, delete-orphan", passive_deletes=True
    )


class Face(Base):
    """One enrolled face: its descriptor (128 float32, raw bytes) and where it came from."""

    __tablename__ = "faces"
    __table_args__ = {"sqlite_autoincrement": True}  # ids name files: never reuse one

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    box: Mapped[dict[str, int]] = mapped_column(JSON)
    quality: Mapped[dict[str, float]] = mapped_column(JSON)
    source_name: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(default=_now)
    person: Mapped[Person] = relationship(back_populates="faces")


class Camera(Base):
    __tablename__ = "cameras"
    __table_args__ = {"sqlite_autoincrement": True}  # ids name files: never reuse one

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(2000), doc="credentials included; shown only redacted")
    enabled: Mapped[bool] = mapped_column(default=True)
    process_fps: Mapped[float] = mapped_column(default=5.0)
    detection_width: Mapped[int] = mapped_column(Integer, default=640)
    min_face_size: Mapped[int] = mapped_column(Integer, default=40)
    loop: Mapped[bool] = mapped_column(default=False)
    pinned_worker: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=_now)
    updated_at: Mapped[datetime] = mapped_column(default=_now, onupdate=_now)


class Event(Base):
    """One appearance of one person (or unknown face) on one camera."""

    __tablename__ = "events"
    __table_args__ = {"sqlite_autoincrement": True}  # ids name files: never reuse one

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"), index=True)
    distance: Mapped[float | None] = mapped_column()
    first_seen: Mapped[datetime] = mapped_column(index=True)
    last_seen: Mapped[datetime] = mapped_column(index=True)
    box: Mapped[dict[str, int]] = mapped_column(JSON)
    frame_width: Mapped[int | None] = mapped_column(Integer)
    frame_height: Mapped[int | None] = mapped_column(Integer)
    samples: Mapped[int] = mapped_column(Integer, default=1)
    ended: Mapped[bool] = mapped_column(default=False)
    embedding: Mapped[bytes | None] = mapped_column(
        LargeBinary, doc="the best sample's descriptor (128 float32), to enroll it without a worker"
    )
    quality: Mapped[dict[str, float] | None] = mapped_column(JSON, doc="the best sample's quality")
