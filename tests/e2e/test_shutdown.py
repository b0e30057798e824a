"""Stopping the API: SIGINT ends open streams at once, and the API exits 0 with no error logged."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import httpx
import pytest
from harness import Api, free_port, wait_until
from stream_servers import BlackHole
from video_fixture import build_face_video


@pytest.fixture(scope="module")
def video(sample_faces: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_face_video(tmp_path_factory.mktemp("video") / "faces.mp4", sample_faces).path


class Follower:
    """Reads one streaming response in a thread until it ends; `ended` says how."""

    def __init__(self, api: Api, path: str) -> None:
        self.chunks = 0
        self.ended: bool | Exception | None = None
        self.thread = threading.Thread(target=self._read, args=(api, path), daemon=True)
        self.thread.start()

    def _read(self, api: Api, path: str) -> None:
        try:
            with api.http.stream("GET", path) as response:
                for _ in response.iter_bytes():
                    self.chunks += 1
            self.ended = True  # the response ended complete
        except httpx.HTTPError as exc:  # e.g. cut off mid-body
            self.ended = exc


def test_sigint_ends_the_event_feed_and_live_view_and_exits_cleanly(make_api, make_worker, video):
    api = make_api()
    make_worker(api, "live", STALL_TIMEOUT="3", CAMERA_OPEN_TIMEOUT="3")
    camera = api.http.post(
        "/api/cameras", json={"name": "loop", "url": str(video), "loop": True, "process_fps": 2}
    ).json()
    wait_until(
        lambda: api.http.get(f"/api/cameras/{camera['id']}").json()["status"]["state"] == "streaming",
        30,
        "the camera to stream",
    )
    streams = {
        "event feed": Follower(api, "/api/events/stream"),
        "live view": Follower(api, f"/api/cameras/{camera['id']}/stream.mjpeg"),
    }
    wait_until(lambda: all(s.chunks for s in streams.values()), 30, "both streams to deliver")
    api.send(signal.SIGINT)
    assert api.wait(60) == 0
    for name, stream in streams.items():
        stream.thread.join(10)
        assert stream.ended is True, f"{name}: {stream.ended!r}"
    log = api.log()
    assert " ERROR " not in log and "Traceback" not in log, log



def test_a_worker_stopped_with_cameras_running_and_failing_exits_cleanly(make_api, make_worker, video):
    """SIGINT to a worker with a streaming camera and failing ones (refused, hanging, missing):
    its cameras stop as it drains and it exits 0, with nothing logged as an error."""
    api = make_api()
    worker = make_worker(api, "stopping", STALL_TIMEOUT="5", CAMERA_OPEN_TIMEOUT="5")
    hole = BlackHole()
    try:
        sources = [
            {"url": str(video), "loop": True},
            {"url": f"rtsp://127.0.0.1:{free_port()}/refused"},
            {"url": f"http://127.0.0.1:{hole.port}/hangs.mjpg"},
            {"url": str(video.with_name("missing.mp4"))},
        ]
        cameras = [{"name": f"c{i}", **source} for i, source in enumerate(sources)]
        ids = [api.http.post("/api/cameras", json=camera).json()["id"] for camera in cameras]
        wait_until(
            lambda: api.http.get(f"/api/cameras/{ids[0]}").json()["status"]["faces_seen"] > 0,
            60,
            "the video camera to see faces",
        )
        worker.send(signal.SIGINT)
        assert worker.wait(60) == 0, worker.log()
    finally:
        hole.stop()
    log = worker.log()
    assert "stop requested" in log and "terminate called" not in log and "Traceback" not in log, log
