"""One connection attempt of a camera reader: open the source with OpenCV, read until it ends.

A :class:`Session` runs on its own daemon thread and is the only code of the reader that
calls OpenCV, which can block for long (see :mod:`app.cameras.reader`): the reader's
supervisor watches it from outside and may abandon it, after which its frames are
refused (``publish`` returns ``False``) and it releases its capture whenever OpenCV lets
go. It hands every frame to ``publish`` and leaves the reason it ended in :attr:`outcome`.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2  # after app.vision's pixel cap: the package __init__ imports it first
import numpy as np
from facegrid_common.camera_source import CameraSource, SourceKind

from .auth import REASONS, access_refused
from .capture import open_capture
from .preflight import preflight

if TYPE_CHECKING:
    from .reader import ReaderOptions

log = logging.getLogger(__name__)


class Session:
    """One connection attempt's state, shared between its thread and the reader's supervisor."""

    def __init__(
        self,
        generation: int,
        source: CameraSource,
        options: ReaderOptions,
        *,
        name: str,
        publish: Callable[[Session, np.ndarray], bool],
        opened: Callable[[int, int], None],
    ) -> None:
        self.generation = generation
        self.source = source
        self.options = options
        self.name = name
        self._publish = publish
        self._opened = opened
        self.cancelled = threading.Event()
        self.started = time.monotonic()
        self.opened_at: float | None = None
        self.frames = 0
        self.last_frame_at: float | None = None
        self.outcome: str | None = None
        """Set by the session thread when it ends: the reason, or "" for a file's end."""
        self.thread = threading.Thread(target=self._run, name=f"camera-session:{name}", daemon=True)
        self._capture: Any = None
        """The ``cv2.VideoCapture``, released by the session thread only."""

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()

    def _run(self) -> None:
        try:
            if self._open():
                self._read_loop()
        except Exception as exc:  # a bug or an OpenCV error: end this session, the supervisor retries
            # The reader logs the outcome as a warning. OpenCV's and FFmpeg's messages (and so
            # the traceback) may quote the URL, password included: both are scrubbed, and the
            # traceback is for debugging only.
            self.outcome = f"reading failed: {type(exc).__name__}: {self.source.scrub(str(exc))}"
            log.debug(
                "camera %s: session failed (%s):\n%s",
                self.name,
                self.source.display,
                self.source.scrub(traceback.format_exc()),
            )
        finally:
            if self._capture is not None:
                self._capture.release()

    def _open_capture(self) -> Any:
        return open_capture(self.source, self.options.open_timeout, self.options.read_timeout)

    def _open(self) -> bool:
        source, options = self.source, self.options
        if source.kind is SourceKind.FILE and not Path(str(source.target)).is_file():
            self.outcome = f"file not found: {source.display}"
            return False
        network = source.kind in (SourceKind.RTSP, SourceKind.HTTP)
        if network and options.preflight:
            problem = preflight(str(source.target), options.open_timeout)
            if problem:
                self.outcome = problem
                return False
            self.started = time.monotonic()  # the open's own time limit starts now
        if self.cancelled.is_set():
            return False
        started = time.monotonic()
        capture = self._capture = self._open_capture()
        elapsed = time.monotonic() - started
        if not capture.isOpened():
            self.outcome = self._open_failure(network, elapsed)
            return False
        if self.cancelled.is_set():  # abandoned or stopped while opening
            return False
        self.opened_at = time.monotonic()
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self._opened(width, height)
        log.info(
            "camera %s: opened %s in %.1f s (%dx%d, %.1f fps announced)",
            self.name,
            source.display,
            elapsed,
            width,
            height,
            capture.get(cv2.CAP_PROP_FPS),
        )
        return True

    def _open_failure(self, network: bool, elapsed: float) -> str:
        """Why OpenCV could not open the source: the camera's own 401 if it said so."""
        refused = access_refused(str(self.source.target), self.options.open_timeout) if network else None
        if refused is not None:
            return REASONS[refused].format(protocol=self.source.kind.value.upper())
        what = "timed out" if network and elapsed >= self.options.open_timeout * 0.9 else "failed"
        return f"opening {what} after {elapsed:.1f} s (unreachable, refused, or not a video)"

    def _read_loop(self) -> None:
        paced = not self.source.is_live
        fps = self._capture.get(cv2.CAP_PROP_FPS) if paced else 0.0
        period = 1.0 / (fps if fps and 1 <= fps <= 240 else self.options.file_fps)
        next_at = time.monotonic()
        frames_this_pass = 0
        while not self.cancelled.is_set():
            ok, image = self._capture.read()
            if self.cancelled.is_set():
                return
            if not ok:
                if not paced:
                    self.outcome = self._read_failure()
                    return
                if not self.source.loop:
                    self.outcome = ""
                    return
                if not frames_this_pass:
                    self.outcome = "the video file has no readable frames"
                    return
                self._capture.release()  # loop: reopening is more reliable than seeking to frame 0
                self._capture = self._open_capture()
                frames_this_pass = 0
                continue
            frames_this_pass += 1
            if not self._publish(self, image):
                return
            if paced:
                next_at += period
                delay = next_at - time.monotonic()
                if delay < -1.0:  # fell far behind (machine busy): do not rush to catch up
                    next_at = time.monotonic()
                elif delay > 0:
                    self.cancelled.wait(delay)

    def _read_failure(self) -> str:
        """Why a live read failed: FFmpeg's own read timeout (reliable for HTTP) reads as a stall."""
        since = self.last_frame_at or self.opened_at or self.started
        silent = time.monotonic() - since
        if silent >= self.options.read_timeout * 0.9:
            return f"stalled: no frame for {silent:.1f} s (read timed out)"
        return "the stream ended or a read failed"
