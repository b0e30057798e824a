"""Face work as the API does it: check the image, have a worker analyze it, match in the gallery.

The worker's `analyze` job returns every face's box, landmarks, quality and (when
asked) its descriptor and a JPEG crop; crops ride in the job's binary payload,
addressed by `[offset, length]` in the result.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import Settings
from .gallery import Candidate
from .images import ImageError, inspect_image
from .jobs import Dispatcher
from .people import NewFace, People


class ImageRejected(Exception):
    """An input image the API will not process: carries a machine code (its HTTP status is
    :data:`app.errors.CODE_STATUS`'s)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class AnalyzedFace:
    box: dict[str, int]
    landmarks: list[list[float]]
    quality: dict[str, Any]
    embedding: np.ndarray | None
    crop: bytes | None


@dataclass(frozen=True)
class Analysis:
    width: int
    height: int
    faces: list[AnalyzedFace]
    total_faces: int
    """Every face the worker found; it describes only the largest MAX_FACES."""

    @property
    def faces_truncated(self) -> bool:
        return self.total_faces > len(self.faces)


@dataclass(frozen=True)
class Match:
    candidate: Candidate
    name: str


class Recognition:
    def __init__(self, settings: Settings, dispatcher: Dispatcher, people: People) -> None:
        self._settings = settings
        self._dispatcher = dispatcher
        self._people = people

    def check_image(self, data: bytes) -> None:
        """Refuse by content before any worker sees it: type, size, claimed pixel count."""
        if len(data) > self._settings.max_upload_bytes:
            raise ImageRejected("too_large", f"file is larger than {self._settings.max_upload_mb} MB")
        try:
            inspect_image(data, max_pixels=self._settings.max_image_pixels)
        except ImageError as exc:
            raise ImageRejected(exc.code, str(exc)) from None

    async def analyze(
        self, data: bytes, *, embed: bool, crops: bool = False, min_face_size: int = 0
    ) -> Analysis:
        """Raise ImageRejected for what the API refuses itself, JobFailed for what the worker refused."""
        self.check_image(data)
        params = {
            "embed": embed,
            "crops": crops,
            "min_face_size": min_face_size,
            "max_faces": self._settings.max_faces,
        }
        outcome = await self._dispatcher.run("analyze", params, data, timeout=self._settings.job_timeout)
        payload = outcome.payload or b""
        faces = []
        for face in outcome.result["faces"]:
            crop = None
            if "crop" in face:
                offset, length = face["crop"]
                crop = payload[offset : offset + length]
            vector = np.asarray(face["embedding"], np.float32) if "embedding" in face else None
            faces.append(AnalyzedFace(face["box"], face["landmarks"], face["quality"], vector, crop))
        result = outcome.result
        return Analysis(result["width"], result["height"], faces, result["total_faces"])

    async def matches(self, vector: np.ndarray, *, top_k: int) -> list[Match]:
        # Off the event loop: a search over a million faces takes ~0.1 s.
        candidates = await asyncio.to_thread(self._people.gallery.search, vector, top_k)
        names = await asyncio.to_thread(self._people.names, {c.person_id for c in candidates})
        return [Match(c, names[c.person_id]) for c in candidates if c.person_id in names]

    async def enroll(self, data: bytes, filename: str) -> NewFace:
        """Analyze one photo for enrollment; raise ImageRejected saying why it cannot be used."""
        analysis = await self.analyze(data, embed=True, crops=True)
        faces = analysis.faces
        if not faces:
            raise ImageRejected("no_face", "no face found in the photo")
        if analysis.total_faces > 1:  # every face found, not only the MAX_FACES described
            raise ImageRejected(
                "multiple_faces", f"{analysis.total_faces} faces found; enroll from photos of one person"
            )
        face = faces[0]
        minimum = self._settings.enroll_min_face_size
        if face.quality["size"] < minimum:
            raise ImageRejected(
                "face_too_small", f"face is {face.quality['size']} px; at least {minimum} px needed"
            )
        assert face.embedding is not None and face.crop is not None
        return NewFace(face.embedding, face.box, face.quality, face.crop, filename)
