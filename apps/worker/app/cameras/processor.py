"""One camera's face processing: latest frame -> faces -> tracks -> a few embeddings -> callbacks.

:class:`CameraProcessor` owns one thread that, ``process_fps`` times a second, takes the
reader's newest frame (skipping the tick if there is none newer), finds faces in it, and
follows them with a :class:`FaceTracker`.

Finding faces: a *full scan* (the configured detector on a copy shrunk to
``detection_width``: ~120 ms for 640x360 at upsample 1) runs on the first frame, then on
the first frame at least ``scan_interval`` seconds after the last scan (0: on every frame).
Between scans each track's face is looked for only near its last box, in a small crop
scaled to suit HOG at upsample 0 (:mod:`app.cameras.regions`, ~10 ms a face); a face
not found there is simply not matched, and the ttl ends its track as before. New faces
are found by the next scan. With no track to follow, frames between scans are skipped
unprocessed: a *processed* frame is one that was scanned or searched near its tracks, so
``processed_fps`` of an empty scene is the scan rate, and the stats give ``scan_fps`` too.

Embeddings are the expensive part (~120 ms each here), so a track is embedded when it
starts and then at most every ``embed_interval`` seconds, only while its face is at least
``min_face_size`` pixels, and at most ``max_embeddings_per_frame`` per frame (new tracks
first, then the longest waiting). Each embedding goes out as a
:class:`~app.cameras.outputs.FaceSample`; a track that has not been seen for ``track_ttl``
seconds (or is still open when the processor stops) goes out as a
:class:`~app.cameras.outputs.TrackFinished`. Who the face belongs to is the API's decision:
it may send a label back, which :meth:`CameraProcessor.set_label` shows in the live view.

Live view: while enabled by :meth:`CameraProcessor.set_live`, the thread also renders
the newest frame with the tracks drawn (:mod:`app.cameras.overlay`) at most ``max_fps``
times a second and hands it to ``on_live_frame``. Nothing is rendered while nobody watches.

Callbacks run on the processor's thread: they must return quickly (hand the object to an
event loop with ``loop.call_soon_threadsafe``). An exception anywhere in one iteration,
callbacks included, is logged with the camera's id and the loop goes on.

The :class:`~app.vision.pipeline.FacePipeline` may be shared by all cameras: its
detector gives each thread its own dlib detector and its embedder serialises the
ResNet (which holds the GIL anyway).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import cv2  # after app.vision's pixel cap: the package __init__ imports it first
import numpy as np

from ..vision.box import Box
from ..vision.crop import crop_face
from ..vision.detect import Detection
from ..vision.pipeline import FacePipeline
from ..vision.quality import assess_quality
from . import overlay
from .jpeg import encode_jpeg, shrink_to_width
from .outputs import (
    FaceSample,
    LiveImageCallback,
    SampleCallback,
    TrackFinished,
    TrackFinishedCallback,
)
from .reader import Frame, FrameReader
from .regions import detect_near
from .track import FaceTracker, Track

log = logging.getLogger(__name__)

_process_track_ids = itertools.count(1)
"""Track ids unique within the worker process, so a restarted camera never reuses one."""


@dataclass(frozen=True)
class ProcessorSettings:
    process_fps: float = 5.0
    """Frames analysed per second (at most; fewer if the source is slower or the CPU busy)."""
    detection_width: int = 640
    """Frames wider than this are shrunk to it for a full scan; boxes are mapped back."""
    scan_interval: float = 1.0
    """Seconds between full scans (new faces are found only by them); 0 scans every processed frame."""
    min_face_size: int = 40
    """Faces whose box's shorter side (original pixels) is smaller are tracked but not embedded."""
    embed_interval: float = 1.0
    """Seconds between two embeddings of the same track."""
    max_embeddings_per_frame: int = 3
    """Bounds the time one frame can take when many faces appear at once (~120 ms each)."""
    track_ttl: float = 2.0
    """A track ends when its face has not been seen for this long."""
    snapshot_width: int = 960
    """Frame snapshots sent with samples are shrunk to at most this width."""
    snapshot_quality: int = 80
    """JPEG quality of the frame snapshots."""

    def __post_init__(self) -> None:
        if not 0 < self.process_fps <= 30:
            raise ValueError("process_fps must be in (0, 30]")
        if self.detection_width < 160:
            raise ValueError("detection_width must be >= 160")
        limits = (self.min_face_size, self.embed_interval, self.max_embeddings_per_frame, self.scan_interval)
        if min(limits) < 0:
            raise ValueError(
                "min_face_size, embed_interval, max_embeddings_per_frame and scan_interval must be >= 0"
            )
        if self.track_ttl <= 0 or self.snapshot_width < 160 or not 1 <= self.snapshot_quality <= 100:
            raise ValueError("track_ttl must be > 0, snapshot_width >= 160, snapshot_quality 1-100")


@dataclass(frozen=True)
class ProcessorStats:
    processed_frames: int
    """Frames analysed: scanned in full, or searched near their tracks (not those skipped, see above)."""
    processed_fps: float
    """Frames analysed per second over the last few seconds."""
    scans: int
    """Full scans: the frames in which new faces could be found."""
    scan_fps: float
    """Full scans per second over the last few seconds."""
    faces_seen: int
    """Detections summed over every analysed frame."""
    embeddings: int
    tracks_started: int
    tracks_ended: int
    active_tracks: int
    detect_ms: float
    """Mean time of a full scan (recent): what ``detection_width`` costs."""
    follow_ms: float
    """Mean time of a frame searched near its tracks only (recent), all its regions together."""
    embed_ms: float
    """Mean time per embedding (recent), landmarks, quality and crop included."""


class CameraProcessor:
    """Analyses one camera's frames on its own thread; see the module docstring."""

    def __init__(
        self,
        camera_id: int,
        reader: FrameReader,
        pipeline: FacePipeline,
        settings: ProcessorSettings | None = None,
        *,
        on_sample: SampleCallback | None = None,
        on_track_ended: TrackFinishedCallback | None = None,
        on_live_frame: LiveImageCallback | None = None,
        track_ids: Iterator[int] | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.reader = reader
        self.pipeline = pipeline
        self._settings = settings or ProcessorSettings()
        self._on_sample = on_sample
        self._on_track_ended = on_track_ended
        self._on_live_frame = on_live_frame
        self._tracker = FaceTracker(ttl=self._settings.track_ttl, ids=track_ids or _process_track_ids)
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # Guarded by self._lock (read by other threads):
        self._labels: dict[int, str] = {}
        self._live = overlay.LiveSettings()
        self._track_boxes: list[tuple[int, Box]] = []
        # Counters, written by the processing thread only:
        self._processed_times: deque[float] = deque(maxlen=300)
        self._scan_times: deque[float] = deque(maxlen=300)
        self._counts = dict.fromkeys(("processed", "scans", "faces", "embeddings", "started", "ended"), 0)
        self._last_scan: float | None = None
        """``Frame.monotonic`` of the last scanned frame."""
        self._last_seq = 0
        self._last_live_seq = 0
        self._detect_ms: deque[float] = deque(maxlen=50)
        self._follow_ms: deque[float] = deque(maxlen=50)
        self._embed_ms: deque[float] = deque(maxlen=50)

    # --- public interface -------------------------------------------------------------

    @property
    def settings(self) -> ProcessorSettings:
        return self._settings

    def configure(self, settings: ProcessorSettings) -> None:
        """Apply new settings from the next tick on; tracks survive."""
        self._settings = settings
        self._wake.set()

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("a CameraProcessor starts once")
        self._thread = threading.Thread(
            target=self._run, name=f"camera-processor:{self.camera_id}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop after the current frame (an embedding can take ~150 ms); ``True`` if done in time.

        Tracks still open are ended (``reason="stopped"``) by the thread on its way out.
        """
        self._stopping.set()
        self._wake.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def set_label(self, track_id: int, text: str | None) -> None:
        """Show ``text`` next to the track in the live view (``None`` removes it)."""
        with self._lock:
            if text:
                self._labels[track_id] = text[:64]
            else:
                self._labels.pop(track_id, None)

    def set_live(self, enabled: bool, max_fps: float = 5.0, max_width: int = 640) -> None:
        """Start or stop rendering the live view (boxes and labels on the newest frame, as JPEG)."""
        if max_fps <= 0 or max_width < 64:
            raise ValueError("max_fps must be > 0 and max_width >= 64")
        with self._lock:
            self._live = overlay.LiveSettings(enabled, min(max_fps, 30.0), max_width)
        self._wake.set()

    def stats(self) -> ProcessorStats:
        now = time.monotonic()
        c = self._counts
        return ProcessorStats(
            processed_frames=c["processed"],
            processed_fps=_rate(self._processed_times, now, 3.0),
            scans=c["scans"],
            scan_fps=_rate(self._scan_times, now, max(3.0, 3 * self._settings.scan_interval)),
            faces_seen=c["faces"],
            embeddings=c["embeddings"],
            tracks_started=c["started"],
            tracks_ended=c["ended"],
            active_tracks=len(self._track_boxes),
            detect_ms=_mean(self._detect_ms),
            follow_ms=_mean(self._follow_ms),
            embed_ms=_mean(self._embed_ms),
        )

    # --- the loop -----------------------------------------------------------------------

    def _run(self) -> None:
        next_process = next_live = time.monotonic()
        while not self._stopping.is_set():
            settings = self._settings
            with self._lock:
                live = self._live
            now = time.monotonic()
            if now >= next_process:
                next_process = _next_tick(next_process, 1.0 / settings.process_fps, now)
                self._guarded(self._tick, settings)
            if live.enabled and now >= next_live:
                next_live = _next_tick(next_live, 1.0 / live.max_fps, now)
                self._guarded(self._render_live, live)
            wake_at = min(next_process, next_live) if live.enabled else next_process
            self._wake.wait(max(0.0, wake_at - time.monotonic()))
            self._wake.clear()
        for track in self._tracker.clear():
            self._guarded(self._end_track, track, "stopped")
        with self._lock:
            self._track_boxes = []

    def _guarded(self, step: Callable[..., None], *args: Any) -> None:
        """Run one step; on an exception log it with context and carry on."""
        try:
            step(*args)
        except Exception:
            log.exception("camera %s: %s failed", self.camera_id, getattr(step, "__name__", step))

    def _tick(self, settings: ProcessorSettings) -> None:
        self._tracker.ttl = settings.track_ttl
        frame = self.reader.latest()
        if frame is None or frame.seq == self._last_seq:
            for track in self._tracker.expire(time.monotonic()):
                self._end_track(track, "gone")
            self._publish_boxes()
            return
        self._last_seq = frame.seq  # before processing: a frame that fails is not retried
        self._process(frame, settings)

    def _process(self, frame: Frame, settings: ProcessorSettings) -> None:
        scan = self._last_scan is None or frame.monotonic - self._last_scan >= settings.scan_interval
        tracked = [t.box for t in self._tracker.tracks]
        if not scan and not tracked:
            return  # nothing to follow until the next scan: skipped, not processed
        started = time.perf_counter()
        if scan:
            detections = self._detect(frame.image, settings.detection_width)
            self._detect_ms.append((time.perf_counter() - started) * 1000)
            self._last_scan = frame.monotonic
            self._counts["scans"] += 1
            self._scan_times.append(time.monotonic())
        else:
            detections = detect_near(self.pipeline.region_detector, frame.image, tracked)
            self._follow_ms.append((time.perf_counter() - started) * 1000)
        update = self._tracker.update([d.box for d in detections], frame.monotonic)
        self._counts["processed"] += 1
        self._counts["faces"] += len(detections)
        self._counts["started"] += len(update.started)
        self._processed_times.append(time.monotonic())
        for track in update.ended:
            self._end_track(track, "gone")
        for track in update.assigned:
            track.extra.setdefault("first_seen_wall", frame.timestamp)
            track.extra["last_seen_wall"] = frame.timestamp
        self._publish_boxes()

        due = [
            (detection, track)
            for detection, track in zip(detections, update.assigned, strict=True)
            if detection.box.min_side >= settings.min_face_size
            and (
                track.last_embedded is None
                or frame.monotonic - track.last_embedded >= settings.embed_interval
            )
        ]
        # New tracks first, then those waiting longest, then the biggest faces.
        due.sort(key=lambda d: (d[1].last_embedded is not None, d[1].last_embedded or 0.0, -d[0].box.area))
        if not due or settings.max_embeddings_per_frame == 0:
            return
        rgb = cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB)
        snapshot = self._snapshot(frame.image, settings)
        for detection, track in due[: settings.max_embeddings_per_frame]:
            if self._stopping.is_set():
                return
            self._emit_sample(frame, rgb, snapshot, detection, track)

    def _detect(self, image: np.ndarray, detection_width: int) -> list[Detection]:
        """A full scan: faces found on a copy ``detection_width`` wide; boxes in frame pixels, unclipped."""
        height, width = image.shape[:2]
        small = shrink_to_width(image, detection_width)
        rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
        found = self.pipeline.detector.detect(rgb)
        if small is image:
            return found
        fx, fy = width / small.shape[1], height / small.shape[0]
        return [Detection(d.box.scaled(fx, fy), d.score) for d in found]

    def _emit_sample(
        self, frame: Frame, rgb: np.ndarray, snapshot: bytes, detection: Detection, track: Track
    ) -> None:
        started = time.perf_counter()
        height, width = frame.image.shape[:2]
        embedder = self.pipeline.embedder
        landmarks = embedder.landmarks(rgb, detection.box)
        embedding = embedder.embed(rgb, landmarks)
        quality = assess_quality(rgb, detection.box)
        face_jpeg = crop_face(frame.image, detection.box, margin=self.pipeline.crop_margin)
        self._embed_ms.append((time.perf_counter() - started) * 1000)
        track.last_embedded = frame.monotonic
        track.embeddings += 1
        self._counts["embeddings"] += 1
        sample = FaceSample(
            camera_id=self.camera_id,
            track_id=track.track_id,
            sample_index=track.embeddings,
            timestamp=frame.timestamp,
            frame_seq=frame.seq,
            box=detection.box.clip(width, height),
            score=round(detection.score, 4),
            quality=quality.to_dict(),
            landmarks=landmarks.points,
            embedding=embedding,
            face_jpeg=face_jpeg,
            snapshot_jpeg=snapshot,
            frame_width=width,
            frame_height=height,
        )
        if self._on_sample is not None:
            self._on_sample(sample)

    def _end_track(self, track: Track, reason: str) -> None:
        self._counts["ended"] += 1
        with self._lock:
            self._labels.pop(track.track_id, None)
        if self._on_track_ended is None:
            return
        first = float(track.extra.get("first_seen_wall", _wall(track.first_seen)))
        last = float(track.extra.get("last_seen_wall", _wall(track.last_seen)))
        ended = TrackFinished(self.camera_id, track.track_id, first, last, track.embeddings, reason)
        self._on_track_ended(ended)

    def _publish_boxes(self) -> None:
        boxes = [(t.track_id, t.box) for t in self._tracker.tracks]
        with self._lock:
            self._track_boxes = boxes

    def _snapshot(self, image: np.ndarray, settings: ProcessorSettings) -> bytes:
        return encode_jpeg(shrink_to_width(image, settings.snapshot_width), settings.snapshot_quality)

    # --- live view ----------------------------------------------------------------------

    def _render_live(self, live: overlay.LiveSettings) -> None:
        frame = self.reader.latest()
        if frame is None or frame.seq == self._last_live_seq:
            return
        self._last_live_seq = frame.seq
        with self._lock:
            boxes, labels = list(self._track_boxes), dict(self._labels)
        image = overlay.render(self.camera_id, frame, boxes, labels, live.max_width)
        with self._lock:
            if not self._live.enabled:  # switched off while rendering
                return
        if self._on_live_frame is not None:
            self._on_live_frame(image)


def _next_tick(scheduled: float, period: float, now: float) -> float:
    """The tick after ``scheduled``; if we are a whole period late, restart from now (no catch-up burst)."""
    following = scheduled + period
    return following if following > now else now + period


def _wall(monotonic: float) -> float:
    return time.time() - (time.monotonic() - monotonic)


def _rate(times: deque[float], now: float, window: float) -> float:
    """Events per second between the first and the last of the last ``window`` seconds (0 with
    fewer than two): measured to ``now`` instead, one scan a second would read 0.7/s."""
    recent = [t for t in list(times) if t >= now - window]
    return (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 and recent[-1] > recent[0] else 0.0


def _mean(values: deque[float]) -> float:
    items = list(values)
    return sum(items) / len(items) if items else 0.0
