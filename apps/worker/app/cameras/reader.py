"""One camera's frames: open the source, keep only the latest frame, notice stalls, reconnect.

:class:`FrameReader` owns two kinds of thread, both daemons:

* a *supervisor* that decides when to connect, watches the connection and backs off
  between attempts. It never calls OpenCV, so it can always act on time and
  :meth:`FrameReader.stop` returns within its timeout.
* a *session* per connection attempt, which opens the source and reads frames in a loop.
  OpenCV calls can block: FFmpeg honours the open timeout, but a frozen RTSP server made
  ``read()`` return only after ~12 s with a 4 s read timeout (FFmpeg retries; see
  /work/shared/NOTES.md), and DNS resolution cannot be interrupted at all. So the
  supervisor judges a stall by the time of the last frame (``stall_timeout``) and, when
  it sees one, *abandons* the session: its frames are ignored from then on and it
  releases its capture whenever OpenCV lets go. At most ``max_abandoned`` sessions may
  linger; past that the reader waits rather than pile up threads.

Before OpenCV opens a network source, :func:`preflight` checks in Python that the
server answers at all: OpenCV opens captures under one process-wide lock, and a dead
camera must not hold every other camera's reconnection hostage for its open timeout.

Only the newest frame is kept (with a sequence number and capture time): the processor
always works on the present, and a slow processor costs skipped frames, not latency.
Live sources are read as fast as they deliver (which also keeps FFmpeg's buffers
empty); a video file is paced at its own fps and may loop.

Transport: RTSP goes over TCP. OpenCV reads ``OPENCV_FFMPEG_CAPTURE_OPTIONS`` at every
open (measured: changing it between two opens in one process changes the transport),
and this module sets it to ``rtsp_transport;tcp`` unless the operator set it. TCP
survives packet loss without smeared frames and needs no UDP ports on the worker,
which must bind none. Being one process-wide variable, it cannot differ per camera.
"""

from __future__ import annotations

import enum
import logging
import os
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import cv2  # after app.vision's pixel cap: the package __init__ imports it first
import numpy as np
from facegrid_common.camera_source import CameraSource, SourceKind

log = logging.getLogger(__name__)

CAPTURE_OPTIONS_ENV = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
DEFAULT_CAPTURE_OPTIONS = "rtsp_transport;tcp"
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "state": self.state.value,
            "reason": self.reason,
            "input_fps": round(self.input_fps, 2),
            "last_frame_at": self.last_frame_at,
            "frames": self.frames,
            "reconnects": self.reconnects,
            "width": self.width,
            "height": self.height,
        }


def backoff(
    initial: float, maximum: float, factor: float, rng: random.Random | None = None
) -> Iterator[float]:
    """Delays before successive retries: exponential, capped, each drawn from its upper half.

    The jitter keeps cameras that failed together (a switch rebooting) from retrying in step.
    """
    rng = rng or random.Random()
    delay = initial
    while True:
        yield rng.uniform(delay / 2, delay)
        delay = min(maximum, delay * factor)


class _Session:
    """One connection attempt's state, shared between its thread and the supervisor."""

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.cancelled = threading.Event()
        self.started = time.monotonic()
        self.opened_at: float | None = None
        self.frames = 0
        self.last_frame_at: float | None = None
        self.outcome: str | None = None
        """Set by the session thread when it ends: the reason, or "" for a file's end."""
        self.thread: threading.Thread | None = None
        self.capture: Any = None
        """The session's ``cv2.VideoCapture``, released by the session thread only."""

    @property
    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()


_env_lock = threading.Lock()


def _ensure_capture_options() -> None:
    with _env_lock:
        os.environ.setdefault(CAPTURE_OPTIONS_ENV, DEFAULT_CAPTURE_OPTIONS)


class FrameReader:
    """Keeps the latest frame of one camera source, reconnecting as needed; see the module docstring."""

    def __init__(self, source: CameraSource, options: ReaderOptions | None = None, *, name: str = "") -> None:
        self.source = source
        self.options = options or ReaderOptions()
        self.name = name or source.display
        self._lock = threading.Condition()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._session: _Session | None = None
        self._abandoned: list[_Session] = []
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
        with self._lock:
            self._lock.notify_all()  # wake wait_for_frame() callers
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

    def wait_for_frame(self, after_seq: int, timeout: float) -> Frame | None:
        """The newest frame if its ``seq`` is above ``after_seq``, waiting up to ``timeout`` s for one."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._latest is None or self._latest.seq <= after_seq:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stopping.is_set():
                    return None
                self._lock.wait(remaining)
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

    def _start_session(self) -> _Session:
        with self._lock:
            self._generation += 1
            session = _Session(self._generation)
        session.thread = threading.Thread(
            target=self._read_session, args=(session,), name=f"camera-session:{self.name}", daemon=True
        )
        self._session = session
        session.thread.start()
        return session

    def _watch(self, session: _Session) -> str | None:
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

    def _abandon(self, session: _Session) -> None:
        session.cancelled.set()
        with self._lock:
            self._generation += 1  # frames still coming from this session are dropped
        if session.alive:
            self._abandoned.append(session)

    # --- session thread ---------------------------------------------------------------

    def _read_session(self, session: _Session) -> None:
        try:
            if self._open(session):
                self._read_loop(session)
        except Exception as exc:  # a bug or an OpenCV error: end this session, the supervisor retries
            session.outcome = f"reading failed: {type(exc).__name__}: {self.source.scrub(str(exc))}"
            log.exception("camera %s: session failed (%s)", self.name, self.source.display)
        finally:
            if session.capture is not None:
                session.capture.release()

    def _open(self, session: _Session) -> bool:
        source = self.source
        if source.kind is SourceKind.FILE and not Path(str(source.target)).is_file():
            session.outcome = f"file not found: {source.display}"
            return False
        network = source.kind in (SourceKind.RTSP, SourceKind.HTTP)
        if network and self.options.preflight:
            problem = preflight(str(source.target), self.options.open_timeout)
            if problem:
                session.outcome = problem
                return False
            session.started = time.monotonic()  # the open's own time limit starts now
        if session.cancelled.is_set():
            return False
        started = time.monotonic()
        capture = session.capture = _open_capture(source, self.options)
        elapsed = time.monotonic() - started
        if not capture.isOpened():
            what = "timed out" if network and elapsed >= self.options.open_timeout * 0.9 else "failed"
            session.outcome = f"opening {what} after {elapsed:.1f} s (unreachable, refused, or not a video)"
            return False
        if session.cancelled.is_set():  # abandoned or stopped while opening
            return False
        session.opened_at = time.monotonic()
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        with self._lock:
            self._size = (width, height)
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

    def _read_loop(self, session: _Session) -> None:
        paced = not self.source.is_live
        fps = session.capture.get(cv2.CAP_PROP_FPS) if paced else 0.0
        period = 1.0 / (fps if fps and 1 <= fps <= 240 else self.options.file_fps)
        next_at = time.monotonic()
        frames_this_pass = 0
        while not session.cancelled.is_set():
            ok, image = session.capture.read()
            if session.cancelled.is_set():
                return
            if not ok:
                if not paced:
                    session.outcome = self._read_failure(session)
                    return
                if not self.source.loop:
                    session.outcome = ""
                    return
                if not frames_this_pass:
                    session.outcome = "the video file has no readable frames"
                    return
                session.capture.release()  # loop: reopening is more reliable than seeking to frame 0
                session.capture = _open_capture(self.source, self.options)
                frames_this_pass = 0
                continue
            frames_this_pass += 1
            if not self._publish(session, image):
                return
            if paced:
                next_at += period
                delay = next_at - time.monotonic()
                if delay < -1.0:  # fell far behind (machine busy): do not rush to catch up
                    next_at = time.monotonic()
                elif delay > 0:
                    session.cancelled.wait(delay)

    def _read_failure(self, session: _Session) -> str:
        """Why a live read failed: FFmpeg's own read timeout (reliable for HTTP) reads as a stall."""
        since = session.last_frame_at or session.opened_at or session.started
        silent = time.monotonic() - since
        if silent >= self.options.read_timeout * 0.9:
            return f"stalled: no frame for {silent:.1f} s (read timed out)"
        return "the stream ended or a read failed"

    def _publish(self, session: _Session, image: np.ndarray) -> bool:
        now = time.monotonic()
        with self._lock:
            if session.generation != self._generation:
                return False
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
            self._lock.notify_all()
        return True

    # --- helpers ----------------------------------------------------------------------

    def _set_state(self, state: ReaderState, reason: str) -> None:
        with self._lock:
            if self._state is ReaderState.STOPPED:
                return
            self._state, self._reason = state, reason
            self._lock.notify_all()

    def _fps(self, now: float) -> float:
        recent = sum(1 for t in self._frame_times if t >= now - FPS_WINDOW)
        if recent < 2:
            return 0.0
        if now - self._streaming_since >= FPS_WINDOW:
            return recent / FPS_WINDOW  # a full window: frames in it, falling as a stall goes on
        # A young stream: its frames so far over its age (which keeps growing if it stalls).
        return (recent - 1) / max(now - self._streaming_since, 1e-3)


DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}


def preflight(url: str, timeout: float) -> str | None:
    """Check that the server of an RTSP or HTTP ``url`` answers at all; return why not, or ``None``.

    Why not leave it to OpenCV: its FFmpeg backend opens captures under one process-wide
    mutex (measured: while one ``VideoCapture`` waited 4 s on a server that accepts and
    never answers, opening a local file in another thread took 3.7 s). A camera that is
    switched off or hung would so hold up every other camera's (re)connection for its
    whole open timeout, again at every retry. This check connects and sends an RTSP
    ``OPTIONS`` (or an HTTP ``GET`` of the path, without credentials) and waits for the
    first bytes of any reply, 401 included, outside that mutex. For TLS (``rtsps``,
    ``https``) only the TCP connection is checked. Its reasons are meant for people.
    """
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), parts.hostname or ""
    try:
        port = parts.port or DEFAULT_PORTS.get(scheme, 80)
    except ValueError:
        return "the URL's port is not a number"
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    started = time.monotonic()
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except TimeoutError:
        return f"opening timed out after {time.monotonic() - started:.1f} s: no connection to {where}"
    except ConnectionRefusedError:
        return f"opening failed: {where} refused the connection"
    except socket.gaierror as exc:
        return f"opening failed: cannot resolve {host}: {exc.strerror}"
    except OSError as exc:
        return f"opening failed: cannot connect to {where}: {exc.strerror or exc}"
    with sock:
        if scheme in ("rtsps", "https"):
            return None
        path = parts.path or "/"
        if scheme == "rtsp":
            request = f"OPTIONS rtsp://{parts.netloc.rpartition('@')[2]}{path} RTSP/1.0\r\nCSeq: 1\r\n\r\n"
        else:
            request = f"GET {path} HTTP/1.0\r\nHost: {parts.netloc.rpartition('@')[2]}\r\n\r\n"
        try:
            sock.settimeout(max(0.1, timeout - (time.monotonic() - started)))
            sock.sendall(request.encode("ascii", "replace"))
            reply = sock.recv(16)
        except TimeoutError:
            elapsed = time.monotonic() - started
            return (
                f"opening timed out after {elapsed:.1f} s: {where} accepted the connection but did not answer"
            )
        except OSError as exc:
            return f"opening failed: {where} dropped the connection: {exc.strerror or exc}"
    if not reply:
        return f"opening failed: {where} closed the connection without answering"
    return None


def _open_capture(source: CameraSource, options: ReaderOptions) -> Any:
    if source.kind is SourceKind.DEVICE:
        capture = cv2.VideoCapture(source.target, cv2.CAP_V4L2)
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # keep the driver from queueing stale frames
        return capture
    _ensure_capture_options()
    params = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
        int(options.open_timeout * 1000),
        cv2.CAP_PROP_READ_TIMEOUT_MSEC,
        int(options.read_timeout * 1000),
    ]
    return cv2.VideoCapture(str(source.target), cv2.CAP_FFMPEG, params)
