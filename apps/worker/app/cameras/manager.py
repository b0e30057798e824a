"""The worker's cameras by id: start, update, stop, report, with a cap on how many.

:class:`CameraManager` is what the worker's socket adapter talks to. Each camera is a
:class:`~app.cameras.reader.FrameReader` plus a
:class:`~app.cameras.processor.CameraProcessor`, both with their own threads, so one
camera that hangs or fails never holds up another. All cameras share one
:class:`~app.vision.pipeline.FacePipeline` (safe across threads, ~2 s to load): pass
it, or a factory to build it on the first :meth:`CameraManager.start`. A camera's
settings are the protocol's own :class:`~facegrid_protocol.CameraConfig`, as the API sent them.

Every method may be called from any thread, but :meth:`start` (first model load),
:meth:`update` and the stops block for up to seconds: call them off the event loop
(``await asyncio.to_thread(manager.start, config)``). The sample, track-ended and
live-frame callbacks run on the cameras' processing threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from facegrid_common.camera_source import parse_source, redact
from facegrid_protocol import CameraConfig

from ..vision.pipeline import FacePipeline
from .outputs import LiveImageCallback, SampleCallback, TrackFinishedCallback
from .processor import CameraProcessor, ProcessorSettings, ProcessorStats
from .reader import FrameReader, ReaderOptions, ReaderStatus

log = logging.getLogger(__name__)


class CameraError(Exception):
    """Base of the manager's refusals; the message is safe to show (no credentials)."""


class TooManyCameras(CameraError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"this worker runs at most {limit} cameras (MAX_CAMERAS)")
        self.limit = limit


class UnknownCamera(CameraError):
    def __init__(self, camera_id: int) -> None:
        super().__init__(f"no camera {camera_id} on this worker")
        self.camera_id = camera_id


class CameraExists(CameraError):
    def __init__(self, camera_id: int) -> None:
        super().__init__(f"camera {camera_id} is already running (update it instead)")
        self.camera_id = camera_id


@dataclass(frozen=True)
class CameraSnapshot:
    """One camera's state at one moment: its settings, its reader's and its processor's figures."""

    camera_id: int
    config: CameraConfig
    reader: ReaderStatus
    processor: ProcessorStats


@dataclass
class _Camera:
    config: CameraConfig
    reader: FrameReader
    processor: CameraProcessor

    def snapshot(self) -> CameraSnapshot:
        config = self.config
        return CameraSnapshot(config.camera_id, config, self.reader.status(), self.processor.stats())


class CameraManager:
    """Owns every camera of the worker; see the module docstring."""

    def __init__(
        self,
        pipeline: FacePipeline | Callable[[], FacePipeline],
        *,
        max_cameras: int,
        on_sample: SampleCallback | None = None,
        on_track_ended: TrackFinishedCallback | None = None,
        on_live_frame: LiveImageCallback | None = None,
        on_state_change: Callable[[int], None] | None = None,
        reader_options: ReaderOptions | None = None,
        processor_defaults: ProcessorSettings | None = None,
    ) -> None:
        """``on_state_change(camera_id)`` is called when a camera's reader changes state (on its
        threads); ``processor_defaults`` gives the settings a :class:`CameraConfig` does not carry
        (scan interval, embed interval, track ttl, snapshot size...)."""
        if max_cameras < 0:
            raise ValueError("max_cameras must be >= 0")
        self.max_cameras = max_cameras
        self._pipeline = pipeline if isinstance(pipeline, FacePipeline) else None
        self._pipeline_factory = None if isinstance(pipeline, FacePipeline) else pipeline
        self._on_sample = on_sample
        self._on_track_ended = on_track_ended
        self._on_live_frame = on_live_frame
        self._on_state_change = on_state_change
        self.reader_options = reader_options or ReaderOptions()
        self.processor_defaults = processor_defaults or ProcessorSettings()
        self._cameras: dict[int, _Camera] = {}
        self._lock = threading.RLock()
        self._pipeline_lock = threading.Lock()

    @property
    def camera_ids(self) -> list[int]:
        with self._lock:
            return list(self._cameras)

    def start(self, config: CameraConfig) -> CameraSnapshot:
        """Start a camera. Raises :class:`CameraExists`, :class:`TooManyCameras`,
        :class:`~facegrid_common.camera_source.InvalidSource` or ``ValueError`` (bad settings)."""
        self._check_room(config.camera_id)
        self._get_pipeline()  # load the models (first time only) without holding the lock
        with self._lock:
            self._check_room(config.camera_id)
            camera = self._build(config)
            self._cameras[config.camera_id] = camera
            camera.processor.start()
            camera.reader.start()
        log.info("camera %d: started %s (%r)", config.camera_id, redact(config.url), config)
        return camera.snapshot()

    def update(self, config: CameraConfig, timeout: float = 5.0) -> CameraSnapshot:
        """Apply a changed config. A new URL or ``loop`` restarts the camera (its tracks end);
        processing settings apply on the fly. Raises :class:`UnknownCamera` and what :meth:`start` does."""
        with self._lock:
            camera = self._cameras.get(config.camera_id)
            if camera is None:
                raise UnknownCamera(config.camera_id)
            if (config.url, config.loop) == (camera.config.url, camera.config.loop):
                camera.processor.configure(self._settings(config))
                camera.config = config
                log.info("camera %d: updated (%r)", config.camera_id, config)
                return camera.snapshot()
            replacement = self._build(config)  # validate before stopping the running one
            del self._cameras[config.camera_id]
        _stop_cameras([camera], time.monotonic() + timeout)
        with self._lock:
            if len(self._cameras) >= self.max_cameras:  # someone took the slot meanwhile
                raise TooManyCameras(self.max_cameras)
            self._cameras[config.camera_id] = replacement
            replacement.processor.start()
            replacement.reader.start()
        log.info("camera %d: restarted with %s (%r)", config.camera_id, redact(config.url), config)
        return replacement.snapshot()

    def stop(self, camera_id: int, timeout: float = 5.0) -> bool:
        """Stop one camera; ``True`` if its threads ended in time. Raises :class:`UnknownCamera`."""
        with self._lock:
            camera = self._cameras.pop(camera_id, None)
        if camera is None:
            raise UnknownCamera(camera_id)
        return not _stop_cameras([camera], time.monotonic() + timeout)

    def stop_all(self, timeout: float = 5.0) -> list[int]:
        """Stop every camera within ``timeout`` seconds overall; return the ids whose threads
        were still running at the deadline (they are daemons and die with the process)."""
        with self._lock:
            cameras = list(self._cameras.values())
            self._cameras.clear()
        late = _stop_cameras(cameras, time.monotonic() + timeout)
        if late:
            log.warning("cameras still stopping after %.1f s: %s", timeout, ", ".join(map(str, late)))
        return late

    def status(self, camera_id: int) -> CameraSnapshot:
        return self._camera(camera_id).snapshot()

    def set_live(self, camera_id: int, enabled: bool, max_fps: float = 5.0, max_width: int = 640) -> None:
        self._camera(camera_id).processor.set_live(enabled, max_fps, max_width)

    def set_label(self, camera_id: int, track_id: int, text: str | None) -> None:
        self._camera(camera_id).processor.set_label(track_id, text)

    # --- helpers ----------------------------------------------------------------------

    def _check_room(self, camera_id: int) -> None:
        with self._lock:
            if camera_id in self._cameras:
                raise CameraExists(camera_id)
            if len(self._cameras) >= self.max_cameras:
                raise TooManyCameras(self.max_cameras)

    def _camera(self, camera_id: int) -> _Camera:
        with self._lock:
            camera = self._cameras.get(camera_id)
        if camera is None:
            raise UnknownCamera(camera_id)
        return camera

    def _settings(self, config: CameraConfig) -> ProcessorSettings:
        d = self.processor_defaults
        return ProcessorSettings(
            process_fps=config.process_fps,
            detection_width=config.detection_width,
            scan_interval=d.scan_interval,
            min_face_size=config.min_face_size,
            embed_interval=d.embed_interval,
            max_embeddings_per_frame=d.max_embeddings_per_frame,
            track_ttl=d.track_ttl,
            snapshot_width=d.snapshot_width,
            snapshot_quality=d.snapshot_quality,
        )

    def _build(self, config: CameraConfig) -> _Camera:
        settings = self._settings(config)  # raises ValueError before anything starts
        source = parse_source(config.url, loop=config.loop)
        notify = self._on_state_change
        reader = FrameReader(
            source,
            self.reader_options,
            name=str(config.camera_id),
            on_state=None if notify is None else lambda _state: notify(config.camera_id),
        )
        processor = CameraProcessor(
            config.camera_id,
            reader,
            self._get_pipeline(),
            settings,
            on_sample=self._on_sample,
            on_track_ended=self._on_track_ended,
            on_live_frame=self._on_live_frame,
        )
        return _Camera(config, reader, processor)

    def _get_pipeline(self) -> FacePipeline:
        with self._pipeline_lock:
            if self._pipeline is None:
                assert self._pipeline_factory is not None
                self._pipeline = self._pipeline_factory()
            return self._pipeline


def _stop_cameras(cameras: list[_Camera], deadline: float) -> list[int]:
    """Signal every camera first, then wait for each until the shared deadline; return the late ones."""
    for camera in cameras:
        camera.processor.stop(timeout=0)
        camera.reader.stop(timeout=0)
    late = []
    for camera in cameras:
        processor_done = camera.processor.stop(timeout=max(0.0, deadline - time.monotonic()))
        reader_done = camera.reader.stop(timeout=max(0.0, deadline - time.monotonic()))
        if not (processor_done and reader_done):
            late.append(camera.config.camera_id)
        log.info("camera %d: stopped", camera.config.camera_id)
    return late
