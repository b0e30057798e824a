"""Clients of the API's two streams that note when each item arrived: the SSE event feed, MJPEG live view.

Each reads in its own daemon thread and stamps an item with ``time.time()`` the moment
its last byte is in, before any parsing or decoding. Both end on :meth:`stop` or when
the API closes the stream.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import cv2
import httpx
import numpy as np
import stack  # noqa: F401  (puts tests/ on sys.path, for video_fixture)
from video_fixture import frame_index


@dataclass(frozen=True)
class Notice:
    kind: str
    """``created`` or ``updated``."""
    data: dict[str, Any]
    arrived: float


@dataclass(frozen=True)
class Received:
    arrived: float
    index: int | None
    """The frame's barcode, or ``None`` if it did not decode."""
    size: int


class _StreamReader:
    def __init__(self, base_url: str, api_key: str, path: str, name: str) -> None:
        self._client = httpx.Client(
            base_url=base_url, headers={"X-API-Key": api_key}, timeout=httpx.Timeout(10, read=30)
        )
        self._path = path
        self._stopping = threading.Event()
        self.connected = threading.Event()
        self.error: str | None = None
        self._response: httpx.Response | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self, timeout: float = 10) -> None:
        self._thread.start()
        if not self.connected.wait(timeout):
            raise RuntimeError(f"{self._path}: not connected after {timeout:g} s ({self.error})")

    def stop(self, timeout: float = 5) -> None:
        """Disconnect (the API sees the client leave) and wait for the thread."""
        self._stopping.set()
        if self._response is not None:
            # Shut the socket under the reading thread: a quiet feed would keep it blocked until the
            # next keepalive (15 s), and closing the response from here does not wake it.
            stream = self._response.extensions.get("network_stream")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout)
        self._client.close()

    def _run(self) -> None:
        try:
            with self._client.stream("GET", self._path) as response:
                response.raise_for_status()
                self._response = response
                self.connected.set()
                self._read(response)
        except Exception as exc:  # reported by the benchmark: a thread has nobody to raise to
            if not self._stopping.is_set():
                self.error = f"{type(exc).__name__}: {exc}"

    def _read(self, response: httpx.Response) -> None:
        raise NotImplementedError


class EventFeedClient(_StreamReader):
    """``GET /api/events/stream``: every notice, stamped on arrival."""

    def __init__(self, base_url: str, api_key: str) -> None:
        super().__init__(base_url, api_key, "/api/events/stream", "sse-client")
        self.notices: list[Notice] = []

    def _read(self, response: httpx.Response) -> None:
        kind = ""
        for line in response.iter_lines():
            if self._stopping.is_set():
                return
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                self.notices.append(Notice(kind, json.loads(line[5:]), time.time()))

    def created(self, camera_ids: set[int], since: float) -> list[Notice]:
        return [
            n
            for n in list(self.notices)
            if n.kind == "created" and n.data.get("camera_id") in camera_ids and n.arrived >= since
        ]


class MjpegClient(_StreamReader):
    """``GET /api/cameras/{id}/stream.mjpeg``: every JPEG part, stamped on arrival, its barcode read."""

    def __init__(self, base_url: str, api_key: str, camera_id: int) -> None:
        super().__init__(base_url, api_key, f"/api/cameras/{camera_id}/stream.mjpeg", "mjpeg-client")
        self.frames: list[Received] = []

    def _read(self, response: httpx.Response) -> None:
        buffer = b""
        for chunk in response.iter_raw():
            buffer += chunk
            while True:
                head_end = buffer.find(b"\r\n\r\n")
                if head_end < 0:
                    break
                length = _content_length(buffer[:head_end])
                start = head_end + 4
                if len(buffer) < start + length:
                    break
                arrived = time.time()
                jpeg, buffer = buffer[start : start + length], buffer[start + length :].lstrip(b"\r\n")
                self.frames.append(Received(arrived, _barcode(jpeg), length))
            if self._stopping.is_set():
                return


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise ValueError(f"MJPEG part without Content-Length: {head[:200]!r}")


def _barcode(jpeg: bytes) -> int | None:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    return None if image is None else frame_index(image)
