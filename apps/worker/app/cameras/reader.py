"""One camera's frames: open the source, keep only the latest frame, notice stalls, reconnect.

:class:`FrameReader` owns two kinds of thread, both daemons:

* a *supervisor* that decides when to connect, watches the connection and backs off
  between attempts. It never calls OpenCV, so it can always act on time and
  :meth:`FrameReader.stop` returns within its timeout.
* a *session* per connection attempt (:class:`~app.cameras.session.Session`), which
  opens the source and reads frames in a loop.
  OpenCV calls can block: FFmpeg honours the open timeout, but not the read timeout
  (measured with OpenCV's FFmpeg backend: with a 4 s read timeout, ``read()`` on an RTSP
  stream whose server was frozen with SIGSTOP returned ``False`` only after ~12 s, as
  FFmpeg retries), and DNS resolution cannot be interrupted at all. So the
  supervisor judges a stall by the time of the last frame (``stall_timeout``) and, when
  it sees one, *abandons* the session: its frames are ignored from then on and it
  releases its capture whenever OpenCV lets go. At most ``max_abandoned`` sessions may
  linger; past that the reader waits rather than pile up threads.

Before OpenCV opens a network source, :func:`~app.cameras.preflight.preflight` checks in
Python that the server answers at all: OpenCV opens captures under one process-wide lock,
and a dead camera must not hold every other camera's reconnection hostage for its open
timeout. Opening itself (and RTSP over TCP) is :mod:`app.cameras.capture`.

Only the newest frame is kept (with a sequence number and capture time): the processor
always works on the present, and a slow processor costs skipped frames, not latency.
Live sources are read as fast as they deliver (which also keeps FFmpeg's buffers
empty); a video file is paced at its own fps and may loop.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from facegrid_common.camera_source import CameraSource

from ..backoff import backoff
from .session import Session

log = logging.getLogger(__name__)

FPS_WINDOW = 2.0
"""Seconds of frame times the input fps is measured over."""


class ReaderState(str, enum.Enum):
    STARTING = "starting"
    """Connecting for the first time; no frame yet."""
    STREAMING = "streaming"
    """Frames are arriving."""
    RECONNECTING = "reconnecting"
    """The connection failed, stalled or ended; waiting to retry or retrying."""
    ERROR = "error"
    """Several attempts in a row failed; still retrying, at the capped backoff."""
    ENDED = "ended"
    """A video file played to its end (and was not asked to loop)."""
    STOPPED = "stopped"


@dataclass(frozen=True)
class ReaderOptions:
    open_timeout: float = 10.0
    """Seconds FFmpeg may take to connect and probe the stream (``CAP_PROP_OPEN_TIMEOUT_MSEC``)."""
    read_timeout: float = 10.0
    """FFmpeg's own per-read timeout (``CAP_PROP_READ_TIMEOUT_MSEC``); unreliable for RTSP, hence:"""
    stall_timeout: float = 10.0
    """No new frame for this long (after opening) means the stream is stalled: reconnect."""
    backoff_initial: float = 1.0
    """The first retry comes after a random fraction of this; see :func:`app.backoff.backoff`."""
    backoff_max: float = 30.0
    backoff_factor: float = 2.0
    failures_before_error: int = 3
    """Consecutive failed attempts after which the state is ``error`` rather than ``reconnecting``."""
    max_abandoned: int = 2
    """Abandoned sessions still stuck in OpenCV beyond which no new connection is tried."""
    file_fps: float = 25.0
    """Pace for a video file whose own fps is unknown."""
    preflight: bool = True
    """Check that a network camera answers (in Python) before OpenCV opens it; see :func:`preflight`."""

    def __post_init__(self) -> None:
        for name in ("open_timeout", "read_timeout", "stall_timeout", "backoff_initial", "backoff_max"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        if self.backoff_factor < 1:
            raise ValueError("backoff_factor must be >= 1")


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame: BGR ``uint8`` pixels, never modified after publication (share, do not write)."""

    image: np.ndarray
    seq: int
    """1, 2, 3... over the reader's whole life (across reconnects)."""
    timestamp: float
    """Wall-clock capture time (``time.time()`` when the frame was read): what the API stores."""
    monotonic: float
    """``time.monotonic()`` at the same moment: for measuring intervals."""


@dataclass(frozen=True)
class ReaderStatus:
    source: str
    """The source with credentials masked."""
    state: ReaderState
    reason: str
    """Why the state is what it is (empty when streaming); credentials masked."""
    input_fps: float
    """Frames received per second over the last ~2 s."""
    last_frame_at: float | None
    """Wall-clock time of the newest frame."""
    frames: int
    """Frames received since start."""
    reconnects: int
    """Connection attempts after the first."""
    width: int
    height: int


class FrameReader:
    """Keeps the latest frame of one camera source, reconnecting as needed; see the module docstring."""

    def __init__(
        self,
        source: CameraSource,
        options: ReaderOptions | None = None,
        *,
        name: str = "",
        on_state: Callable[[ReaderState], None] | None = None,
    ) -> None:
        """``on_state`` is called with every new state, on the reader's own threads (return quickly)."""
        self.source = source
        self.options = options or ReaderOptions()
        self.name = name or source.display
        self._on_state = on_state
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._session: Session | None = None
        self._abandoned: list[Session] = []
        self._generation = 0
        # Guarded by self._lock:
        self._latest: Frame | None = None
        self._seq = 0
        self._frame_times: deque[float] = deque(maxlen=600)
        self._state = ReaderState.STARTING
        self._reason = ""
        self._reconnects = 0
        self._size = (0, 0)
        self._ever_streamed = False
        self._streaming_since = 0.0

    # --- public interface -------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("a FrameReader starts once")
        self._thread = threading.Thread(
            target=self._supervise, name=f"camera-reader:{self.name}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> bool:
        """Stop reading; ``True`` if the supervisor ended within ``timeout`` seconds.

        A session blocked inside OpenCV is not waited for: it is a daemon thread that
        releases its capture and exits as soon as OpenCV returns.
        """
        self._stopping.set()
        session = self._session
        if session is not None:
            session.cancelled.set()
        if self._thread is not None:
            self._thread.join(timeout)
            stopped = not self._thread.is_alive()
        else:
            stopped = True
        self._set_state(ReaderState.STOPPED, "")
        return stopped

    def latest(self) -> Frame | None:
        """The newest frame, or ``None`` before the first."""
        with self._lock:
            return self._latest

    def status(self) -> ReaderStatus:
        now = time.monotonic()
        with self._lock:
            latest = self._latest
            return ReaderStatus(
                source=self.source.display,
                state=self._state,
                reason=self._reason,
                input_fps=self._fps(now),
                last_frame_at=latest.timestamp if latest else None,
                frames=self._seq,
                reconnects=self._reconnects,
                width=self._size[0],
                height=self._size[1],
            )

    @property
    def state(self) -> ReaderState:
        with self._lock:
            return self._state

    # --- supervisor -------------------------------------------------------------------

    def _supervise(self) -> None:
        opts = self.options
        delays = backoff(opts.backoff_initial, opts.backoff_max, opts.backoff_factor)
        failures = 0
        attempt = 0
        while not self._stopping.is_set():
            self._abandoned = [s for s in self._abandoned if s.alive]
            if len(self._abandoned) >= opts.max_abandoned:
                self._set_state(
                    ReaderState.ERROR,
                    f"{len(self._abandoned)} earlier connections are still stuck in OpenCV; waiting for them",
                )
                self._stopping.wait(1.0)
                continue
            if attempt:
                with self._lock:
                    self._reconnects += 1
            attempt += 1
            session = self._start_session()
            outcome = self._watch(session)
            if self._stopping.is_set():
                break
            if outcome == "":
                self._set_state(ReaderState.ENDED, "the video file ended")
                log.info("camera %s: %s ended", self.name, self.source.display)
                return
            if session.frames:
                failures = 0
                delays = backoff(opts.backoff_initial, opts.backoff_max, opts.backoff_factor)
            failures += 1
            delay = next(delays)
            state = ReaderState.ERROR if failures >= opts.failures_before_error else ReaderState.RECONNECTING
            reason = self.source.scrub(outcome or "the connection ended")
            self._set_state(state, f"{reason}; retrying in {delay:.1f} s")
            log.warning("camera %s: %s; retrying in %.1f s", self.name, reason, delay)
            self._stopping.wait(delay)

    def _start_session(self) -> Session:
        with self._lock:
            self._generation += 1
            generation = self._generation
        session = Session(
            generation, self.source, self.options, name=self.name, publish=self._publish, opened=self._opened
        )
        self._session = session
        session.thread.start()
        return session

    def _watch(self, session: Session) -> str | None:
        """Wait for ``session`` to end, stall or time out, and say why.

        Returns the reason, ``""`` when a video file ended, ``None`` when the reader is stopping.
        """
        opts = self.options
        open_limit = opts.open_timeout + max(2.0, opts.open_timeout * 0.5)  # FFmpeg's own timeout comes first
        poll = min(0.25, opts.stall_timeout / 4)
        while not self._stopping.wait(poll):
            if not session.alive:
                return session.outcome
            now = time.monotonic()
            if session.opened_at is None:
                if now - session.started > open_limit:
                    self._abandon(session)
                    return f"opening did not finish within {now - session.started:.1f} s"
                continue
            with self._lock:
                latest = self._latest
            last = latest.monotonic if latest and session.frames else session.opened_at
            if now - last > opts.stall_timeout:
                self._abandon(session)
                return f"stalled: no frame for {now - last:.1f} s"
        session.cancelled.set()
        return None

    def _abandon(self, session: Session) -> None:
        session.cancelled.set()
        with self._lock:
            self._generation += 1  # frames still coming from this session are dropped
        if session.alive:
            self._abandoned.append(session)

    # --- what sessions hand over ------------------------------------------------------

    def _opened(self, width: int, height: int) -> None:
        with self._lock:
            self._size = (width, height)

    def _publish(self, session: Session, image: np.ndarray) -> bool:
        now = time.monotonic()
        with self._lock:
            if session.generation != self._generation:
                return False
            changed = self._state is not ReaderState.STREAMING
            self._seq += 1
            self._latest = Frame(image, self._seq, time.time(), now)
            self._frame_times.append(now)
            session.frames += 1
            session.last_frame_at = now
            if session.frames == 1:
                self._streaming_since = now
            if self._state is not ReaderState.STREAMING:
                self._state, self._reason = ReaderState.STREAMING, ""
                self._size = (image.shape[1], image.shape[0])
                if self._ever_streamed:
                    log.info("camera %s: streaming again (%s)", self.name, self.source.display)
                self._ever_streamed = True
        if changed:
            self._state_changed(ReaderState.STREAMING)
        return True

    # --- helpers ----------------------------------------------------------------------

    def _set_state(self, state: ReaderState, reason: str) -> None:
        with self._lock:
            if self._state is ReaderState.STOPPED:
                return
            changed = state is not self._state
            self._state, self._reason = state, reason
        if changed:
            self._state_changed(state)

    def _state_changed(self, state: ReaderState) -> None:
        if self._on_state is None:
            return
        try:
            self._on_state(state)
        except Exception:  # a broken listener must not stop the reader
            log.exception("camera %s: state listener failed", self.name)

    def _fps(self, now: float) -> float:
        recent = sum(1 for t in self._frame_times if t >= now - FPS_WINDOW)
        if recent < 2:
            return 0.0
        if now - self._streaming_since >= FPS_WINDOW:
            return recent / FPS_WINDOW  # a full window: frames in it, falling as a stall goes on
        # A young stream: its frames so far over its age (which keeps growing if it stalls).
        return (recent - 1) / max(now - self._streaming_since, 1e-3)
