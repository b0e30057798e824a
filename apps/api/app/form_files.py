"""Photos from a multipart body, read as it arrives, each cut off at the per-file limit.

Starlette's form parser limits only text fields (its ``max_part_size``): it spools a file
part whole, however large, before the route runs. Enrollment takes many photos in one
body, so it parses the stream itself with python-multipart's streaming parser. A file
over ``MAX_UPLOAD_MB`` is dropped the moment it passes the limit (its further bytes are
counted, never stored) and refused on its own, so one oversized photo does not cost the
others; the body as a whole is capped by ``BodyLimit`` (``MAX_UPLOAD_MB`` x
``ENROLL_MAX_FILES``). One file too many, or a field other than the photos', is a 422 the
moment its headers end — the rest of the body is never read. Each photo is spooled (in
memory up to 1 MB, then in a temporary file), so a body of twenty large photos is not held
in memory at once. A file's name is kept only to show (a face's ``source_name``), cleaned
first: see :func:`clean_filename`.
"""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from tempfile import SpooledTemporaryFile
from typing import Any

from fastapi import HTTPException, Request
from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header

from .config import MB

SPOOL_IN_MEMORY = MB
MAX_FILENAME = 255
"""Characters of a file name kept: the size of a face's ``source_name`` column."""


def clean_filename(raw: str) -> str:
    """The name a file was sent with, fit to store and show: control and format characters
    (NUL, DEL, escapes, bidi overrides) dropped, line breaks and tabs made spaces, runs of spaces
    one, at most ``MAX_FILENAME`` characters with the extension kept; "upload" if nothing is left."""
    kept = "".join(c for c in raw if c.isspace() or unicodedata.category(c) not in ("Cc", "Cf"))
    name = " ".join(kept.split())  # white space, line breaks included, made single spaces
    if len(name) > MAX_FILENAME:
        stem, dot, extension = name.rpartition(".")
        tail = dot + extension if stem and len(extension) <= 10 else ""
        name = name[: MAX_FILENAME - len(tail)].rstrip() + tail
    return name or "upload"


def _spool() -> SpooledTemporaryFile[bytes]:
    return SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)


@dataclass(eq=False)
class SpooledPhoto:
    """One uploaded file: the name it was sent with and its bytes, spooled."""

    filename: str
    size: int = 0
    too_large: bool = False
    """Over the per-file limit: its bytes were dropped, it is refused without being looked at."""
    spool: SpooledTemporaryFile[bytes] = field(default_factory=_spool)

    async def read(self) -> bytes:
        def read_all() -> bytes:
            self.spool.seek(0)
            return self.spool.read()

        return await asyncio.to_thread(read_all)

    def close(self) -> None:
        self.spool.close()


class _Parts:
    """python-multipart's callbacks: collect the photos, refusing the first part out of bounds."""

    def __init__(self, field_name: str, max_bytes: int, max_files: int) -> None:
        self.field = field_name
        self.max_bytes = max_bytes
        self.max_files = max_files
        self.photos: list[SpooledPhoto] = []
        self.unwritten: list[tuple[SpooledPhoto, bytes]] = []
        self.dropped: list[SpooledPhoto] = []
        """Photos over the limit whose spool is still to be emptied (a file on disk, maybe)."""
        self.ended = False
        self._current: SpooledPhoto | None = None
        self._header = (b"", b"")
        self._disposition = b""

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_end": self.on_end,
        }

    def on_part_begin(self) -> None:
        self._current, self._disposition = None, b""

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header = (self._header[0] + data[start:end], self._header[1])

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header = (self._header[0], self._header[1] + data[start:end])

    def on_header_end(self) -> None:
        name, value = self._header
        if name.lower() == b"content-disposition":
            self._disposition = value
        self._header = (b"", b"")

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if name != self.field:
            raise HTTPException(
                422, f"unexpected form field {name!r}: send the photos as files in '{self.field}'"
            )
        if b"filename" not in options:
            raise HTTPException(422, f"'{self.field}' must hold files, not text")
        if len(self.photos) == self.max_files:
            raise HTTPException(
                422, f"more than {self.max_files} files sent: that is the most per request (ENROLL_MAX_FILES)"
            )
        self._current = SpooledPhoto(clean_filename(options[b"filename"].decode("utf-8", "replace")))
        self.photos.append(self._current)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        photo = self._current
        assert photo is not None  # on_headers_finished made it, or refused the part
        photo.size += end - start
        if photo.too_large:
            return
        if photo.size > self.max_bytes:
            photo.too_large = True
            self.unwritten = [(p, chunk) for p, chunk in self.unwritten if p is not photo]
            self.dropped.append(photo)
            return
        self.unwritten.append((photo, data[start:end]))

    def on_end(self) -> None:
        self.ended = True

    def write_out(self) -> None:
        for photo, chunk in self.unwritten:
            photo.spool.write(chunk)
        self.unwritten.clear()
        for photo in self.dropped:
            photo.spool.truncate(0)
        self.dropped.clear()


async def read_photos(request: Request, *, field: str, max_bytes: int, max_files: int) -> list[SpooledPhoto]:
    """The files sent in ``field``, in order (close each; check ``too_large``); HTTPException at the
    first part that is not a photo or is one too many."""
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    if kind != b"multipart/form-data" or b"boundary" not in options:
        raise HTTPException(422, f"send the photos as multipart/form-data, as files in '{field}'")
    parts = _Parts(field, max_bytes, max_files)
    try:
        await _parse(request, options[b"boundary"], parts)
    except BaseException:
        for photo in parts.photos:
            photo.close()
        raise
    if not parts.photos:
        raise HTTPException(422, f"no photos sent: send them as files in '{field}'")
    return parts.photos


async def _parse(request: Request, boundary: bytes, parts: _Parts) -> None:
    callbacks: Any = parts.callbacks()
    try:
        parser = MultipartParser(boundary, callbacks)
        async for chunk in request.stream():
            parser.write(chunk)
            if parts.unwritten or parts.dropped:  # a spool past 1 MB is a file on disk: off the loop
                await asyncio.to_thread(parts.write_out)
    except FormParserError as exc:
        raise HTTPException(422, f"malformed multipart body: {exc}") from None
    if not parts.ended:
        raise HTTPException(422, "malformed multipart body: it ends before its closing boundary")
