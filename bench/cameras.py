"""Cameras on real workers: processing capacity, what tracking saves, time to an event, live-view relay.

One run against a real API and real workers on loopback. The machine's 2 cores are
shared by everything (and by other jobs), so every comparison is made side by side in
the same run and printed as a ratio; nothing is checked against a wall-clock limit.

1. **Capacity.** Three workers, one per variant (:data:`VARIANTS`): ``DETECT_UPSAMPLE=1``
   with ``CAMERA_SCAN_INTERVAL=0`` (a full scan on every frame: how cameras worked before
   scans), ``DETECT_UPSAMPLE=1`` with the default ``CAMERA_SCAN_INTERVAL=1`` (a full scan a
   second, each tracked face looked for near its last box in between), and
   ``DETECT_UPSAMPLE=0`` with scans on every frame (cheap, but blind to faces under ~80 px).
   Each gets 1, 2 and then 4 cameras pinned to it (the workers take turns, in ABBA order),
   every camera playing a looping 640x360 30 fps video with ``process_fps`` 30, so the worker
   and not the source is the limit. Per camera: the worker's ``processed_fps`` averaged over
   the status reports of the window (a processed frame is one scanned in full or searched
   near its tracks; with scans, frames with no face to follow between scans are skipped and
   not counted), and full scans per second from the ``scans`` counter; per worker: their sum.
   CPU over the window (cores) of the worker, the API and the rest of the machine, and fps
   per core the worker used. What limits it: the detection time per frame (full frame, and
   one face's region) and the embedding time per face of the worker's own detector and
   embedder, measured in this process beforehand, with one thread and two at once (does
   HOG scale over two threads?). (The worker's own ``detect_ms``/``embed_ms`` are in each
   camera's status too.)
2. **Tracking and who is found.** Faces seen per second against embeddings per second,
   from the camera status counters over the same windows: the share of faces that tracking
   spares the embedding. And the events of each run by name (Obama enrolled from other
   photos than the clip's, Biden from the clip's own photo): every variant should name the
   same people, about once per camera per pass of the clip.
3. **Capture -> event.** Cameras read the video as a live MJPEG stream
   (tests/stream_servers.py); an SSE client of /api/events/stream stamps each ``created``
   notice on arrival; latency = arrival - the event's ``first_seen`` (the capture time of
   its first sample's frame). The API's own part is measured the same way with a probe
   worker (bench/probe_worker.py) that sends samples stamped with their send time.
   (``EVENT_MERGE_SECONDS=2``, so every pass of the looping clip is a new appearance.)
4. **Live view.** An MJPEG source whose frames carry their index as a barcode
   (tests/video_fixture.py) notes when it sent each; a client of
   /api/cameras/{id}/stream.mjpeg reads the barcode of each frame it gets: received - sent
   is capture + the camera's processing thread + relay. The relay alone: the probe worker
   sends barcoded live frames itself, so received - sent is the API's share. Rounds of the
   two alternate.

    python bench/cameras.py                          # about 6-7 minutes
    python bench/cameras.py --quick                  # about 3-4 minutes, shorter windows
    python bench/cameras.py --cameras 1 2 --window 8 --keep
    python bench/cameras.py --video /work/shared/video/short_hamilton_clip.mp4   # capacity on a real clip
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import statistics
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import psutil
from pipeline_inprocess import make_pipeline
from probe_worker import ProbeWorker, SendLog
from stack import REPO, Api, Stack, Worker, percentile, wait_until
from stream_clients import EventFeedClient, MjpegClient, Received
from stream_servers import MjpegServer
from video_fixture import build_face_video, read_frames

SOURCE_FPS = 30.0
FRAME_SIZE = (640, 360)


@dataclass(frozen=True)
class Variant:
    """How a capacity worker detects: ``DETECT_UPSAMPLE`` and ``CAMERA_SCAN_INTERVAL``."""

    upsample: int
    scan_interval: float

    @property
    def label(self) -> str:
        return f"up{self.upsample} scan {self.scan_interval:g}s"


OLD, NEW = Variant(1, 0.0), Variant(1, 1.0)
"""Upsample 1 scanning every frame (as before scans), and the default now."""
VARIANTS = (OLD, NEW, Variant(0, 0.0))


# --- sources ---------------------------------------------------------------------------


class StampedMjpeg(MjpegServer):
    """An MJPEG camera sending its frames in order, each once per loop, noting when it sent each.

    Meant for one client at a time (the camera's worker): every frame sent is the next
    one, so :attr:`sent` has the send time of every copy of every barcode.
    """

    def __init__(self, jpegs: list[bytes], fps: float) -> None:
        self.sent = SendLog(len(jpegs))
        super().__init__(jpegs, fps)

    def current_index(self) -> int:
        return self.sent.next()


def jpeg(image: np.ndarray, quality: int) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return data.tobytes()


def sample_faces() -> Path:
    scripts = str(REPO / "scripts")
    if scripts not in sys.path:
        sys.path.insert(0, scripts)
    from fetch_sample_faces import sample_faces_dir

    return Path(sample_faces_dir())


# --- the API, from outside -------------------------------------------------------------


def add_camera(api: Api, name: str, url: str, worker_id: str, process_fps: float, loop: bool) -> int:
    body = {
        "name": name,
        "url": url,
        "process_fps": process_fps,
        "detection_width": 640,
        "min_face_size": 40,
        "loop": loop,
        "pinned_worker": worker_id,
    }
    response = api.http.post("/api/cameras", json=body)
    response.raise_for_status()
    return int(response.json()["id"])


def enroll(api: Api, name: str, faces: Path, photos: list[str]) -> None:
    person = api.http.post("/api/persons", json={"name": name})
    person.raise_for_status()
    files = [("files", (p, (faces / p).read_bytes())) for p in photos]
    done = api.http.post(f"/api/persons/{person.json()['id']}/faces", files=files, timeout=120)
    done.raise_for_status()
    assert done.json()["enrolled"] == len(photos), done.text


def camera_status(api: Api, camera_id: int) -> dict[str, Any]:
    return api.http.get(f"/api/cameras/{camera_id}").json()["status"]


def remove_cameras(api: Api, ids: list[int]) -> None:
    for camera_id in ids:
        api.http.delete(f"/api/cameras/{camera_id}")


def wait_streaming(api: Api, ids: list[int], *, processing: bool = True, timeout: float = 60) -> None:
    def ready() -> bool:
        statuses = [camera_status(api, i) for i in ids]
        return all(s["state"] == "streaming" and (s["processed_fps"] > 0 or not processing) for s in statuses)

    wait_until(ready, timeout, f"cameras {ids} to stream", interval=0.25)


def epoch(value: str) -> float:
    """An API timestamp (ISO 8601; naive ones are UTC, as SQLite gives them back) as Unix time."""
    stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)).timestamp()


_METRIC = re.compile(r"^facegrid_socket_messages_total\{([^}]*)\}\s+([0-9.e+]+)$", re.M)


def socket_messages_in(api: Api, kind: str) -> float:
    """``facegrid_socket_messages_total{direction="in",type=kind}`` from /metrics."""
    text = httpx.get(api.url + "/metrics", timeout=10).text
    for labels, value in _METRIC.findall(text):
        if 'direction="in"' in labels and f'type="{kind}"' in labels:
            return float(value)
    return 0.0


# --- CPU -------------------------------------------------------------------------------


@dataclass
class CpuSnapshot:
    at: float
    procs: dict[str, float]
    machine: float
    threads: dict[int, float]


def cpu_snapshot(procs: dict[str, int], threads_of: int) -> CpuSnapshot:
    """CPU seconds so far of each process (with its children, but for this one: they are the
    others), of the whole machine, and of each thread of one process."""
    seconds = {}
    for name, pid in procs.items():
        total = 0.0
        root = psutil.Process(pid)
        for proc in [root, *(root.children(recursive=True) if pid != os.getpid() else [])]:
            try:
                times = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        seconds[name] = total
    machine = psutil.cpu_times()
    busy = sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)
    threads = {t.id: t.user_time + t.system_time for t in psutil.Process(threads_of).threads()}
    return CpuSnapshot(time.monotonic(), seconds, busy, threads)


@dataclass
class CpuUse:
    """Cores used over a window."""

    procs: dict[str, float]
    others: float
    idle: float
    top_threads: list[float]

    @classmethod
    def between(cls, a: CpuSnapshot, b: CpuSnapshot) -> CpuUse:
        wall = b.at - a.at
        procs = {name: (b.procs[name] - a.procs[name]) / wall for name in a.procs}
        busy = (b.machine - a.machine) / wall
        others = max(0.0, busy - sum(procs.values()))
        idle = max(0.0, (psutil.cpu_count() or 1) - busy)
        threads = sorted(((b.threads[t] - a.threads.get(t, 0.0)) / wall for t in b.threads), reverse=True)
        return cls(procs, others, idle, threads[:4])


# --- 0. the worker's detector and embedder, in this process -----------------------------


@dataclass
class Calibration:
    detect_ms: dict[int, tuple[float, float]]
    """Upsample -> (CPU ms, wall ms) per 640x360 frame, one thread."""
    face_share: dict[int, float]
    """Upsample -> share of the frames in which it found a face."""
    threads: dict[int, tuple[float, float, float]]
    """Upsample -> frames/s of one thread, frames/s of two threads at once, and the cores they used."""
    region_ms: tuple[float, float]
    """(CPU ms, wall ms) to look for one tracked face near its box (upsample 0 on its region)."""
    embed_ms: tuple[float, float]
    """(CPU ms, wall ms) of landmarks + descriptor for one face (one camera-processor embedding)."""
    decode_ms: dict[str, float]
    """CPU ms to decode one frame: ``file`` (the MP4, as the reader does) and ``jpeg`` (an MJPEG part)."""


def decode_costs(video: Path, jpegs: list[bytes]) -> dict[str, float]:
    capture = cv2.VideoCapture(str(video), cv2.CAP_FFMPEG)
    count, cpu = 0, time.process_time()
    while capture.read()[0]:
        count += 1
    file_ms = (time.process_time() - cpu) / max(1, count) * 1000
    capture.release()
    cpu = time.process_time()
    for data in jpegs:
        cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return {"file": file_ms, "jpeg": (time.process_time() - cpu) / len(jpegs) * 1000}


def calibrate(frames: list[np.ndarray], video: Path, jpegs: list[bytes]) -> Calibration:
    """Time the worker's own detector and embedder here, before any other process of ours runs.

    CPU time (``process_time``: this process runs nothing else yet, and FFmpeg decodes in
    threads of its own) is what a frame costs whatever the neighbours do; wall
    time is what it took on this busy machine. Two threads at once tell whether HOG
    runs in parallel (the GIL released): then they use close to two cores.
    """
    pipeline = make_pipeline(upsample=1)  # the worker's own classes (puts apps/worker on sys.path)
    from app.cameras.regions import detect_near
    from app.vision.detect import HogDetector

    detectors = {1: pipeline.detector, 0: HogDetector(upsample=0)}
    sampled = frames[:: max(1, len(frames) // 24)]
    rgbs = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in sampled]
    detect_ms, face_share, threads = {}, {}, {}
    for upsample, detector in detectors.items():
        detector.detect(rgbs[0])  # this thread's detector copy
        cpu, started = time.process_time(), time.perf_counter()
        found = [len(detector.detect(rgb)) > 0 for rgb in rgbs]
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        detect_ms[upsample] = (cpu / len(rgbs) * 1000, wall / len(rgbs) * 1000)
        face_share[upsample] = sum(found) / len(found)
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(detector.detect, rgbs[:2]))  # each pool thread makes its detector copy
            cpu, started = time.process_time(), time.perf_counter()
            list(pool.map(detector.detect, rgbs + rgbs))
            two_wall, two_cpu = time.perf_counter() - started, time.process_time() - cpu
        threads[upsample] = (len(rgbs) / wall, 2 * len(rgbs) / two_wall, two_cpu / two_wall)
    faces = [(f, [d.box for d in detectors[1].detect(rgb)]) for f, rgb in zip(sampled, rgbs, strict=True)]
    faces = [(f, boxes) for f, boxes in faces if boxes]
    regions = sum(len(boxes) for _, boxes in faces)
    detect_near(pipeline.region_detector, *faces[0])  # this thread's detector copy
    cpu, started = time.process_time(), time.perf_counter()
    for frame, boxes in faces:
        detect_near(pipeline.region_detector, frame, boxes)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    region_ms = (cpu / regions * 1000, wall / regions * 1000)
    with_face = cv2.cvtColor(faces[0][0], cv2.COLOR_BGR2RGB)
    box = faces[0][1][0]
    cpus, walls = [], []
    for _ in range(5):
        cpu, started = time.process_time(), time.perf_counter()
        pipeline.embedder.embed(with_face, pipeline.embedder.landmarks(with_face, box))
        walls.append((time.perf_counter() - started) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    embed_ms = (statistics.median(cpus), statistics.median(walls))
    return Calibration(detect_ms, face_share, threads, region_ms, embed_ms, decode_costs(video, jpegs))


# --- 1 and 2. capacity and tracking -----------------------------------------------------


@dataclass
class CameraFigures:
    fps: float
    input_fps: float
    scans_per_s: float
    faces_per_s: float
    embeddings_per_s: float
    reports: int


@dataclass
class CapacityRun:
    variant: Variant
    cameras: list[CameraFigures]
    cpu: CpuUse
    names: Counter[str]
    """The run's events by person (``unknown`` for none), over all its cameras."""
    passes: float
    """Passes of the clip all its cameras played together, warm-up included."""

    @property
    def total_fps(self) -> float:
        return sum(c.fps for c in self.cameras)

    @property
    def scans_per_s(self) -> float:
        return sum(c.scans_per_s for c in self.cameras)

    @property
    def faces_per_s(self) -> float:
        return sum(c.faces_per_s for c in self.cameras)

    @property
    def embeddings_per_s(self) -> float:
        return sum(c.embeddings_per_s for c in self.cameras)


def figures(reports: list[dict[str, Any]]) -> CameraFigures:
    """One camera's figures from its status reports (one per distinct ``last_frame_at``)."""
    distinct = list({r["last_frame_at"]: r for r in reports if r["last_frame_at"]}.values())
    fps = statistics.fmean(r["processed_fps"] for r in distinct) if distinct else 0.0
    input_fps = statistics.fmean(r["input_fps"] for r in distinct) if distinct else 0.0
    if len(distinct) < 2:
        return CameraFigures(fps, input_fps, 0.0, 0.0, 0.0, len(distinct))
    first, last = distinct[0], distinct[-1]
    span = epoch(last["last_frame_at"]) - epoch(first["last_frame_at"])
    scans, faces, embeddings = ((last[k] - first[k]) / span for k in ("scans", "faces_seen", "embeddings"))
    return CameraFigures(fps, input_fps, scans, faces, embeddings, len(distinct))


def event_names(api: Api, camera_ids: list[int]) -> Counter[str]:
    names: Counter[str] = Counter()
    for camera_id in camera_ids:
        page = api.http.get("/api/events", params={"camera_id": camera_id, "limit": 500}).json()
        names.update(e["person_name"] or "unknown" for e in page["items"])
    return names


def video_seconds(path: Path) -> float:
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        return float(capture.get(cv2.CAP_PROP_FRAME_COUNT) / capture.get(cv2.CAP_PROP_FPS))
    finally:
        capture.release()


def capacity_run(
    api: Api, worker: Worker, variant: Variant, count: int, video: Path, procs: dict[str, int], args: Any
) -> CapacityRun:
    ids = [
        add_camera(api, f"{worker.id}-{i}", str(video), worker.id, process_fps=30, loop=True)
        for i in range(count)
    ]
    try:
        wait_streaming(api, ids)
        streaming = time.monotonic()
        time.sleep(args.warmup)
        before = cpu_snapshot(procs, worker.pid)
        reports: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
        deadline = time.monotonic() + args.window
        while time.monotonic() < deadline:
            for camera_id in ids:
                reports[camera_id].append(camera_status(api, camera_id))
            time.sleep(0.5)
        after = cpu_snapshot(procs, worker.pid)
        passes = count * (time.monotonic() - streaming) / video_seconds(video)
        names = event_names(api, ids)
    finally:
        remove_cameras(api, ids)
    time.sleep(1.5)  # the worker stops the cameras' threads
    cameras = [figures(reports[i]) for i in ids]
    return CapacityRun(variant, cameras, CpuUse.between(before, after), names, passes)


# --- 3. capture -> event ----------------------------------------------------------------


@dataclass
class EventLatencies:
    latencies: list[float] = field(default_factory=list)
    """Arrival of the first ``created`` notice of each event - its ``first_seen``."""
    repeated: list[tuple[int, float]] = field(default_factory=list)
    """(event id, seconds after its first ``created``) of each further ``created`` notice for it."""
    worst: list[tuple[float, int, float]] = field(default_factory=list)
    """(latency, camera id, first_seen - cameras streaming) of the slowest few."""


def event_latencies(
    api: Api, feed: EventFeedClient, camera_ids: list[int], since: float, streaming_at: float
) -> EventLatencies:
    found = EventLatencies()
    first: dict[int, float] = {}
    rows = []
    for notice in feed.created(set(camera_ids), since):
        event_id = int(notice.data["event_id"])
        if event_id in first:
            found.repeated.append((event_id, notice.arrived - first[event_id]))
            continue
        first[event_id] = notice.arrived
        event = api.http.get(f"/api/events/{event_id}").json()
        first_seen = epoch(event["first_seen"])
        found.latencies.append(notice.arrived - first_seen)
        rows.append((notice.arrived - first_seen, int(event["camera_id"]), first_seen - streaming_at))
    found.worst = sorted(rows, reverse=True)[:3]
    return found


@dataclass
class EventRun:
    events: EventLatencies
    statuses: dict[int, dict[str, Any]]
    cpu: CpuUse


def worker_events(
    api: Api, feed: EventFeedClient, worker: Worker, jpegs: list[bytes], procs: dict[str, int], args: Any
) -> EventRun:
    # Each camera starts at another point of the clip, as independent cameras would: in step,
    # every face would reach the worker's one embedder at the same moment on every camera.
    n = args.latency_cameras
    servers = [
        MjpegServer(jpegs[k:] + jpegs[:k], SOURCE_FPS) for k in (i * len(jpegs) // n for i in range(n))
    ]
    since = time.time()
    ids = [
        add_camera(api, f"latency-{i}", s.url(), worker.id, args.event_process_fps, loop=False)
        for i, s in enumerate(servers)
    ]
    try:
        wait_streaming(api, ids)
        streaming_at = time.time()
        before = cpu_snapshot(procs, worker.pid)
        time.sleep(args.latency_window)
        after = cpu_snapshot(procs, worker.pid)
        latencies = event_latencies(api, feed, ids, since, streaming_at)
        statuses = {i: camera_status(api, i) for i in ids}
    finally:
        remove_cameras(api, ids)
        for server in servers:
            server.stop()
    return EventRun(latencies, statuses, CpuUse.between(before, after))


def probe_events(api: Api, feed: EventFeedClient, probe: ProbeWorker, count: int) -> EventLatencies:
    camera_id = add_camera(api, "probe-events", "http://127.0.0.1:9/probe", probe.id, 5, loop=False)
    try:
        wait_streaming(api, [camera_id], processing=False)
        since = time.time()
        probe.send_samples(camera_id, count, interval=0.25)
        time.sleep(1.0)
        return event_latencies(api, feed, [camera_id], since, since)
    finally:
        remove_cameras(api, [camera_id])


# --- 4. live view -----------------------------------------------------------------------


@dataclass
class LiveFigures:
    frames: list[Received] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    spans: list[float] = field(default_factory=list)
    gaps: list[float] = field(default_factory=list)
    arrived_at_api: float = 0.0
    seconds: float = 0.0
    unreadable: int = 0
    repeats: int = 0
    errors: list[str] = field(default_factory=list)

    def add_round(self, client: MjpegClient, sent: SendLog, arrived_at_api: float, seconds: float) -> None:
        frames = client.frames
        self.frames += frames
        self.arrived_at_api += arrived_at_api
        self.seconds += seconds
        if client.error:
            self.errors.append(client.error)
        if len(frames) > 1:
            self.spans.append(frames[-1].arrived - frames[0].arrived)
            self.gaps += [b.arrived - a.arrived for a, b in itertools.pairwise(frames)]
        previous = None
        for frame in frames:
            if frame.index is None:
                self.unreadable += 1
                continue
            self.repeats += frame.index == previous
            previous = frame.index
            sent_at = sent.sent_at(frame.index, frame.arrived)
            if sent_at is not None:
                self.latencies.append(frame.arrived - sent_at)

    @property
    def delivered_fps(self) -> float:
        return len(self.gaps) / sum(self.spans) if self.spans else 0.0


def live_round(api: Api, camera_id: int, sent: SendLog, window: float, into: LiveFigures) -> None:
    before = socket_messages_in(api, "live_frame")
    client = MjpegClient(api.url, api.api_key, camera_id)
    started = time.monotonic()
    client.start()
    time.sleep(window)
    client.stop()
    seconds = time.monotonic() - started
    time.sleep(0.5)  # the API turns live view off; a frame may still be on its way
    into.add_round(client, sent, socket_messages_in(api, "live_frame") - before, seconds)


def live_view(
    api: Api, worker: Worker, probe: ProbeWorker, jpegs: list[bytes], args: Any
) -> dict[str, LiveFigures]:
    """Rounds of: the real camera at ``--live-process-fps``, the same at 0.5, the probe's relay only."""
    source = StampedMjpeg(jpegs, SOURCE_FPS)
    real_id = add_camera(api, "live", source.url(), worker.id, args.live_process_fps, loop=False)
    probe_id = add_camera(api, "probe-live", "http://127.0.0.1:9/probe", probe.id, 5, loop=False)
    variants = [
        (f"worker, process_fps {args.live_process_fps:g}", real_id, args.live_process_fps, source.sent),
        ("worker, process_fps 0.5", real_id, 0.5, source.sent),
        ("probe worker: relay only", probe_id, None, probe.live_sent),
    ]
    results = {name: LiveFigures() for name, *_ in variants}
    try:
        wait_streaming(api, [real_id])
        wait_streaming(api, [probe_id], processing=False)
        for _ in range(args.live_rounds):
            for name, camera_id, process_fps, sent in variants:
                if process_fps is not None:
                    api.http.patch(f"/api/cameras/{camera_id}", json={"process_fps": process_fps})
                    time.sleep(1.5)  # applied on the fly by the worker
                live_round(api, camera_id, sent, args.live_window, results[name])
    finally:
        remove_cameras(api, [real_id, probe_id])
        source.stop()
    return results


# --- report -----------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f}"


def pcts(values: list[float]) -> str:
    if not values:
        return "   (none)"
    return (
        f"n {len(values):3d}  p50 {ms(percentile(values, 50))}  p90 {ms(percentile(values, 90))}  "
        f"p99 {ms(percentile(values, 99))}  max {ms(max(values))} ms"
    )


def print_calibration(c: Calibration) -> None:
    print("\n== 0. The worker's detector and embedder, in this process (640x360 frames of the clip)")
    for upsample in sorted(c.detect_ms, reverse=True):
        cpu, wall = c.detect_ms[upsample]
        one, two, cores = c.threads[upsample]
        print(
            f"  HOG upsample {upsample}: {cpu:6.1f} ms CPU/frame ({wall:6.1f} ms wall; faces in "
            f"{c.face_share[upsample]:.0%} of frames); 1 thread {one:5.1f} fps, 2 threads at once "
            f"{two:5.1f} fps (x{two / one:.2f}) using {cores:.2f} cores"
        )
    cpu, wall = c.region_ms
    print(
        f"  one tracked face looked for near its box (upsample 0, region scaled to a 100 px face): "
        f"{cpu:6.1f} ms CPU ({wall:6.1f} ms wall)"
    )
    cpu, wall = c.embed_ms
    print(
        f"  embedding (5-point landmarks + 128-d descriptor): {cpu:6.1f} ms CPU "
        f"({wall:6.1f} ms wall) per face"
    )
    print(
        f"  decoding one 640x360 frame: {c.decode_ms['file']:.1f} ms CPU from the MP4 file, "
        f"{c.decode_ms['jpeg']:.1f} ms from MJPEG (the reader decodes every frame the source sends)"
    )


def print_capacity(runs: list[CapacityRun], c: Calibration) -> None:
    print("\n== 1. Processed fps per worker (640x360, process_fps 30, looping file at 30 fps)")
    print(
        "  variant        cams  per-camera fps          total  scans  in/cam  worker  CPU ms   fps per   API"
        "  others  idle  busiest worker"
    )
    print(
        "                                                 fps    /s      fps   cores  /frame  wkr core cores"
        "   cores cores  threads (cores)"
    )
    for r in runs:
        per = " ".join(f"{f.fps:5.1f}" for f in r.cameras)
        input_fps = statistics.fmean(f.input_fps for f in r.cameras)
        worker = r.cpu.procs["worker"]
        per_frame = worker * 1000 / r.total_fps if r.total_fps else 0.0
        threads = " ".join(f"{t:.2f}" for t in r.cpu.top_threads)
        print(
            f"  {r.variant.label:<14s} {len(r.cameras):4d}  {per:<23s} {r.total_fps:5.1f}"
            f" {r.scans_per_s:5.1f} {input_fps:7.1f} {worker:7.2f} {per_frame:7.1f} {per_core(r):9.1f}"
            f" {r.cpu.procs['api']:5.2f} {r.cpu.others:7.2f} {r.cpu.idle:5.2f}  {threads}"
        )
    by = {(r.variant, len(r.cameras)): r for r in runs}
    counts = sorted({len(r.cameras) for r in runs})
    print("  ratios (same run), processed fps per worker core against the old way (up1 scan 0s):")
    for n in counts:
        old = by.get((OLD, n))
        if old and per_core(old):
            others = ", ".join(
                f"{v.label} x{per_core(by[(v, n)]) / per_core(old):.2f}"
                for v in VARIANTS
                if v != OLD and (v, n) in by
            )
            print(f"    {n} camera(s): {others}")
    for variant in VARIANTS:
        base = by.get((variant, counts[0]))
        if base and base.total_fps:
            scaled = ", ".join(
                f"{n} cams x{by[(variant, n)].total_fps / base.total_fps:.2f}"
                for n in counts[1:]
                if (variant, n) in by
            )
            if scaled:
                print(f"    {variant.label}: total fps vs {counts[0]} camera(s): {scaled}")
    met = ", ".join(f"{n} cams {per_core(by[(NEW, n)]):.1f}" for n in counts if (NEW, n) in by)
    print(f"  target >= 10 processed fps per worker core at upsample 1, {NEW.label} (the default): {met}")
    print("  ceiling from section 0, detection only (no decoding, no embeddings): 1000 / CPU ms per frame")
    for upsample, (cpu, _) in sorted(c.detect_ms.items(), reverse=True):
        print(f"    full frame, upsample {upsample}: {1000 / cpu:5.1f} fps per core")
    print(f"    one face looked for near its box: {1000 / c.region_ms[0]:5.1f} fps per core")
    print("  the worker's CPU per processed frame, split with section 0's costs (ms; detection = full scans")
    print("  at their rate + one face's region on every other processed frame, so a rough split):")
    print("    variant        cams  total  detect  embeddings  decoding all input  rest (tracking, JPEGs...)")
    for r in runs:
        if not r.total_fps:
            continue
        worker_ms = r.cpu.procs["worker"] * 1000 / r.total_fps
        scan_ms = c.detect_ms[r.variant.upsample][0]
        followed = max(0.0, r.total_fps - r.scans_per_s)
        detect = (r.scans_per_s * scan_ms + followed * c.region_ms[0]) / r.total_fps
        embed = r.embeddings_per_s * c.embed_ms[0] / r.total_fps
        decode = sum(f.input_fps for f in r.cameras) * c.decode_ms["file"] / r.total_fps
        rest = worker_ms - detect - embed - decode
        print(
            f"    {r.variant.label:<14s} {len(r.cameras):4d} {worker_ms:6.1f} {detect:7.1f} {embed:11.1f}"
            f" {decode:19.1f} {rest:7.1f}"
        )


def per_core(r: CapacityRun) -> float:
    """Processed fps per core the worker used."""
    worker = r.cpu.procs["worker"]
    return r.total_fps / worker if worker else 0.0


def print_tracking(runs: list[CapacityRun], c: Calibration) -> None:
    print("\n== 2. Embeddings vs faces seen (camera status counters, same windows), and who the events name")
    print(
        "  variant        cams  faces/s  embeddings/s  embedded  spared  core-s/s embedding"
        "  passes  events by name"
    )
    for r in runs:
        faces, embeddings = r.faces_per_s, r.embeddings_per_s
        share = embeddings / faces if faces else 0.0
        names = ", ".join(f"{name} {n}" for name, n in sorted(r.names.items()))
        print(
            f"  {r.variant.label:<14s} {len(r.cameras):4d} {faces:8.1f} {embeddings:13.2f} {share:9.1%}"
            f" {1 - share:7.1%} {embeddings * c.embed_ms[0] / 1000:19.2f} {r.passes:7.1f}"
            f"  {names or '(none)'}"
        )


def print_events(run: EventRun, probe: EventLatencies, c: Calibration, args: Any) -> None:
    print(
        f"\n== 3. Frame capture -> event 'created' on the SSE feed (arrival - first_seen); "
        f"{args.latency_cameras} MJPEG camera(s) at {SOURCE_FPS:g} fps, "
        f"process_fps {args.event_process_fps:g}, {NEW.label}, {args.latency_window:g} s"
    )
    real = run.events
    print(f"  real worker:          {pcts(real.latencies)}")
    print(f"  probe worker (API):   {pcts(probe.latencies)}")
    if real.latencies and probe.latencies:
        whole, api = percentile(real.latencies, 50), percentile(probe.latencies, 50)
        print(
            f"  p50: API part {ms(api).strip()} ms = {api / whole:.0%}; "
            f"worker part ~{ms(whole - api).strip()} ms"
        )
    worst = ", ".join(f"{ms(lat).strip()} ms (camera {cam}, {age:.1f} s in)" for lat, cam, age in real.worst)
    print(f"  slowest: {worst}")
    work = c.detect_ms[1][0] + c.embed_ms[0]
    cpu = run.cpu
    print(
        f"  CPU work before a first sample leaves the worker: detect + embed = {work:.0f} ms CPU (section 0);"
        f" in this window the worker used {cpu.procs['worker']:.2f} cores, the API {cpu.procs['api']:.2f},"
        f" others {cpu.others:.2f}, idle {cpu.idle:.2f}"
    )
    for camera_id, s in run.statuses.items():
        print(
            f"  camera {camera_id}: state {s['state']}, input {s['input_fps']} fps, processed"
            f" {s['processed_fps']} fps, faces {s['faces_seen']}, embeddings {s['embeddings']},"
            f" events dropped {s['events_dropped']}"
        )
    if real.repeated:
        again = ", ".join(f"event {e} +{later:.1f} s" for e, later in real.repeated[:5])
        print(
            f"  PROBLEM: {len(real.repeated)} more 'created' notice(s) for events already announced "
            f"(not counted above): {again}"
        )


def print_live(results: dict[str, LiveFigures], args: Any) -> None:
    print(
        f"\n== 4. Live view via /api/cameras/{{id}}/stream.mjpeg: source sent -> client received "
        f"({args.live_rounds} rounds of {args.live_window:g} s each, alternating; worker live cap 5 fps, "
        f"960 px; source {SOURCE_FPS:g} fps MJPEG; {NEW.label})"
    )
    for name, f in results.items():
        print(
            f"  {name}: live frames into the API {f.arrived_at_api / f.seconds:4.2f}/s, delivered "
            f"{f.delivered_fps:4.2f} fps ({len(f.frames)} frames, {f.unreadable} unreadable, "
            f"{f.repeats} repeated)"
        )
        print(f"      latency  {pcts(f.latencies)}")
        if f.gaps:
            print(f"      gap between frames  p50 {ms(percentile(f.gaps, 50))}  max {ms(max(f.gaps))} ms")
        for error in f.errors:
            print(f"      client error: {error}")
    names = list(results)
    whole, relay = results[names[0]].latencies, results[names[-1]].latencies
    if whole and relay:
        p_whole, p_relay = percentile(whole, 50), percentile(relay, 50)
        print(
            f"  p50: relay {ms(p_relay).strip()} ms of {ms(p_whole).strip()} ms = {p_relay / p_whole:.0%}; "
            f"capture + worker ~{ms(p_whole - p_relay).strip()} ms"
        )


# --- main -------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cameras", type=int, nargs="+", default=[1, 2, 4], help="camera counts per worker")
    parser.add_argument("--warmup", type=float, default=4.0, help="seconds before each capacity window")
    parser.add_argument("--window", type=float, default=10.0, help="seconds of each capacity window")
    parser.add_argument("--video", type=Path, help="capacity on this video file instead of the generated one")
    parser.add_argument("--latency-cameras", type=int, default=2)
    parser.add_argument("--latency-window", type=float, default=30.0)
    parser.add_argument("--event-process-fps", type=float, default=5.0, help="the event cameras' process_fps")
    parser.add_argument("--probe-samples", type=int, default=30, help="new tracks the probe worker sends")
    parser.add_argument("--live-window", type=float, default=8.0, help="seconds per live round")
    parser.add_argument("--live-rounds", type=int, default=2)
    parser.add_argument("--live-process-fps", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true", help="shorter windows (noisier figures)")
    parser.add_argument("--keep", action="store_true", help="keep the logs and data in the temp dir")
    args = parser.parse_args()
    if args.quick:
        args.warmup, args.window, args.latency_window = 3.0, 6.0, 20.0
        args.live_window, args.live_rounds, args.probe_samples = 5.0, 2, 15
    if args.video is not None:
        if not args.video.is_file():
            parser.error(f"no video file {args.video}")
        args.video = args.video.resolve()
    return args


def main() -> None:
    args = parse_args()
    started = time.monotonic()
    faces = sample_faces()
    with Stack(keep=args.keep) as stack:
        clip = build_face_video(stack.dir / "faces30.mp4", faces, fps=SOURCE_FPS, size=FRAME_SIZE)
        frames = read_frames(clip.path)
        jpegs = [jpeg(f, 85) for f in frames]
        print(f"clip: {clip.frame_count} frames, {clip.width}x{clip.height} at {clip.fps:g} fps, barcoded")
        calibration = calibrate(frames, args.video or clip.path, jpegs)
        print_calibration(calibration)

        api = stack.start_api(EVENT_MERGE_SECONDS="2")
        workers = {
            v: stack.start_worker(
                api,
                f"cam-up{v.upsample}-scan{v.scan_interval:g}",
                DETECT_UPSAMPLE=str(v.upsample),
                CAMERA_SCAN_INTERVAL=str(v.scan_interval),
            )
            for v in VARIANTS
        }
        for worker in workers.values():
            worker.wait_registered(60)
        enroll(api, "Barack Obama", faces, ["obama2.jpg", "obama3.jpg"])  # not the clip's photo
        enroll(api, "Joe Biden", faces, ["biden.jpg"])  # the only one there is: the clip's
        live_jpegs = [jpeg(f, 75) for f in frames]  # as the worker encodes live frames
        crop = jpeg(frames[60][100:340, 60:300], 85)
        probe = ProbeWorker(api.ws_url, api.worker_token, "probe", live_jpegs, crop=crop, snapshot=jpegs[60])
        probe.start()
        feed = EventFeedClient(api.url, api.api_key)
        feed.start()
        procs = {"worker": 0, "api": api.pid, "bench": os.getpid()}
        try:
            runs = []
            video = args.video or clip.path
            for i, count in enumerate(args.cameras):
                for variant in VARIANTS if i % 2 == 0 else VARIANTS[::-1]:
                    worker = workers[variant]
                    others = {f"w{j}": w.pid for j, w in enumerate(workers.values()) if w is not worker}
                    run_procs = {**procs, "worker": worker.pid, **others}
                    runs.append(capacity_run(api, worker, variant, count, video, run_procs, args))
                    total = runs[-1].total_fps
                    print(f"  [capacity: {variant.label}, {count} camera(s): {total:.1f} fps]")
            print_capacity(runs, calibration)
            print_tracking(runs, calibration)

            others = {f"w{j}": w.pid for j, w in enumerate(workers.values()) if w is not workers[NEW]}
            event_procs = {**procs, "worker": workers[NEW].pid, **others}
            real_events = worker_events(api, feed, workers[NEW], jpegs, event_procs, args)
            api_events = probe_events(api, feed, probe, args.probe_samples)
            print_events(real_events, api_events, calibration, args)

            print_live(live_view(api, workers[NEW], probe, jpegs, args), args)
            if feed.error:
                print(f"\nSSE client error: {feed.error}")
        finally:
            feed.stop(1)
            probe.stop()
            print(f"\nran {time.monotonic() - started:.0f} s")
            stack.report()


if __name__ == "__main__":
    main()
