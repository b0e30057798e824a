"""Cameras end to end: real video through real workers to events, live view and status in the API."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
from harness import REPO, Api, free_port, wait_until
from stream_servers import BlackHole, MjpegServer, RtspServer, rtsp_unavailable
from video_fixture import build_face_video, read_frames, transcode_h264

FAST = {"STALL_TIMEOUT": "3", "CAMERA_OPEN_TIMEOUT": "3"}
FAILED = ("reconnecting", "error")


@pytest.fixture
def enrolled(make_api, sample_faces: Path) -> Api:
    """An API where Obama is enrolled (from photos other than the one in the video) and Biden is not."""
    api = make_api(HEARTBEAT_INTERVAL="1", HEARTBEAT_TIMEOUT="4")
    person = api.http.post("/api/persons", json={"name": "Barack Obama"}).json()
    api.obama = person["id"]  # type: ignore[attr-defined]
    return api


def _enroll_obama(api: Api, sample_faces: Path) -> None:
    files = [("files", (n, (sample_faces / n).read_bytes())) for n in ("obama2.jpg", "obama3.jpg")]
    out = api.http.post(f"/api/persons/{api.obama}/faces", files=files).json()  # type: ignore[attr-defined]
    assert out["enrolled"] == 2, out


def _camera(api: Api, **fields: Any) -> dict[str, Any]:
    response = api.http.post("/api/cameras", json={"name": "cam", "process_fps": 6, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def _status(api: Api, camera_id: int) -> dict[str, Any]:
    return api.http.get(f"/api/cameras/{camera_id}").json()["status"]


def _events(api: Api, **params: Any) -> list[dict[str, Any]]:
    return api.http.get("/api/events", params=params).json()["items"]


def _received(api: Api, message_type: str) -> int:
    """How many messages of this type the API has received from workers (its /metrics)."""
    for line in api.http.get("/metrics").text.splitlines():
        if line.startswith(f'facegrid_socket_messages_total{{direction="in",type="{message_type}"}}'):
            return int(float(line.split()[-1]))
    return 0


def test_a_video_camera_yields_one_event_per_appearance(enrolled, make_worker, sample_faces, video):
    api = enrolled
    make_worker(api, "cam-worker", **FAST)
    _enroll_obama(api, sample_faces)
    camera = _camera(api, name="Hall", url=str(video))
    wait_until(lambda: len([e for e in _events(api) if e["ended"]]) >= 2, 60, "two finished appearances")
    wait_until(lambda: _status(api, camera["id"])["state"] == "stopped", 30, "the file to end")
    events = _events(api)
    known = [e for e in events if e["person_id"] == api.obama]
    unknown = [e for e in events if e["person_id"] is None]
    assert len(known) == 1, events
    assert len(unknown) == 1, events
    obama, biden = known[0], unknown[0]
    assert obama["person_name"] == "Barack Obama" and obama["camera_name"] == "Hall"
    assert obama["distance"] < 0.6
    assert biden["distance"] is None or biden["distance"] > 0.6
    assert obama["first_seen"] < biden["first_seen"]  # Obama walks in first; the list is newest first
    assert events[0]["id"] == biden["id"]
    for event in (obama, biden):
        assert (event["frame_width"], event["frame_height"]) == (640, 360)
        box = event["box"]
        assert box["x"] >= 0 and box["x"] + box["width"] <= 640 and box["y"] + box["height"] <= 360
        face = api.http.get(event["face_url"])
        snapshot = api.http.get(event["snapshot_url"])
        assert face.headers["content-type"] == "image/jpeg" and len(face.content) > 1000
        assert snapshot.content[:2] == b"\xff\xd8"
    assert [e["id"] for e in _events(api, unknown="true")] == [biden["id"]]
    assert [e["id"] for e in _events(api, person_id=api.obama)] == [obama["id"]]
    assert _events(api, camera_id=camera["id"] + 100) == []
    seen = api.http.get(f"/api/persons/{api.obama}").json()["last_seen"]
    assert seen["camera_id"] == camera["id"] and seen["event_id"] == obama["id"]
    status = _status(api, camera["id"])
    assert status["faces_seen"] > status["embeddings"] > 0  # tracking: far fewer embeddings than faces


def test_state_changes_are_reported_at_once(enrolled, make_worker, video):
    api = enrolled
    make_worker(api, "quiet-worker", CAMERA_STATUS_INTERVAL="600", **FAST)  # no periodic report in time
    camera = _camera(api, url=str(video))  # 8 s, played once
    wait_until(lambda: _status(api, camera["id"])["state"] == "streaming", 30, "streaming")
    wait_until(lambda: _status(api, camera["id"])["state"] == "stopped", 60, "the end of the file")
    assert _status(api, camera["id"])["processed_frames"] > 0


def test_detection_runs_at_the_cameras_detection_width(enrolled, make_worker, sample_faces, tmp_path):
    # 1280x720 frames with ~110 px faces: ~55 px at a detection width of 640 (found), ~14 px
    # at 160 (too small). DETECT_MAX_SIDE, for photos, at its minimum must not cap cameras.
    api = enrolled
    video = build_face_video(tmp_path / "wide.mp4", sample_faces, size=(1280, 720)).path
    make_worker(api, "width-worker", DETECT_MAX_SIDE="160", **FAST)
    wide = _camera(api, name="wide", url=str(video), loop=True, detection_width=640)
    narrow = _camera(api, name="narrow", url=str(video), loop=True, detection_width=160)
    wait_until(lambda: _status(api, wide["id"])["faces_seen"] >= 3, 90, "faces at 640 px")
    wait_until(lambda: _status(api, narrow["id"])["scans"] >= 8, 60, "full scans at 160 px")  # ~1/s
    wide_status, narrow_status = _status(api, wide["id"]), _status(api, narrow["id"])
    assert narrow_status["faces_seen"] == 0, narrow_status
    assert wide_status["detect_ms"] > narrow_status["detect_ms"] > 0, (wide_status, narrow_status)


def test_live_view_streams_only_while_watched(enrolled, make_worker, video):
    api = enrolled
    make_worker(api, "live-worker", **FAST)
    camera = _camera(api, url=str(video), loop=True)
    wait_until(lambda: _status(api, camera["id"])["state"] == "streaming", 30, "the camera to stream")

    def live_frames_sent() -> int:
        return _received(api, "live_frame")

    assert live_frames_sent() == 0  # nobody watches: the worker sends no frames
    parts = 0
    with api.http.stream("GET", f"/api/cameras/{camera['id']}/stream.mjpeg") as stream:
        assert stream.headers["content-type"].startswith("multipart/x-mixed-replace")
        for chunk in stream.iter_bytes():
            parts += chunk.count(b"Content-Type: image/jpeg")
            if parts >= 5:
                assert _status(api, camera["id"])["viewers"] == 1
                break
    wait_until(lambda: _status(api, camera["id"])["viewers"] == 0, 10, "the viewer to be gone")
    settled = wait_until(lambda: (n := live_frames_sent()) and n, 5, "a count")
    wait_until(lambda: live_frames_sent() == settled, 10, "the worker to stop sending", interval=1.5)
    assert live_frames_sent() == settled and parts >= 5
    snapshot = api.http.get(f"/api/cameras/{camera['id']}/snapshot.jpg")
    assert snapshot.status_code == 200 and snapshot.content[:2] == b"\xff\xd8"


class Viewer:
    """One live-view client of the API, reading its MJPEG stream on a thread until it ends."""

    def __init__(self, api: Api, camera_id: int) -> None:
        self.frames = 0
        self.ended = threading.Event()
        self._client = httpx.Client(base_url=api.url, headers={"X-API-Key": api.api_key}, timeout=120)
        self._thread = threading.Thread(target=self._watch, args=(camera_id,), daemon=True)
        self._thread.start()

    def _watch(self, camera_id: int) -> None:
        try:
            with self._client.stream("GET", f"/api/cameras/{camera_id}/stream.mjpeg") as stream:
                for chunk in stream.iter_bytes():
                    self.frames += chunk.count(b"Content-Type: image/jpeg")
        finally:
            self.ended.set()

    def close(self) -> None:
        self._client.close()


def test_live_view_survives_disable_and_enable_and_ends_when_the_camera_is_deleted(
    enrolled, make_worker, video
):
    api = enrolled
    worker = make_worker(api, "live-again", **FAST)
    camera = _camera(api, url=str(video), loop=True)
    wait_until(lambda: _status(api, camera["id"])["state"] == "streaming", 30, "the camera to stream")
    viewer = Viewer(api, camera["id"])
    try:
        wait_until(lambda: viewer.frames >= 3, 20, "live frames")
        api.http.patch(f"/api/cameras/{camera['id']}", json={"enabled": False})
        wait_until(lambda: f"camera {camera['id']}: stopped" in worker.log(), 10, "the worker to stop it")
        assert _status(api, camera["id"])["viewers"] == 1  # still watching, waiting
        before = viewer.frames
        api.http.patch(f"/api/cameras/{camera['id']}", json={"enabled": True})
        wait_until(lambda: viewer.frames >= before + 3, 30, "live frames after enabling it again")
        assert not viewer.ended.is_set()
        assert api.http.delete(f"/api/cameras/{camera['id']}").status_code == 204
        assert viewer.ended.wait(15), "the viewer of a deleted camera still waits"
    finally:
        viewer.close()


PASSWORD = "p@ss:w/rd?#1 %zz"
"""Characters that do get encoded in a URL, so every written form of it differs."""
QUERY_SECRET = "hunter2zz"


def _forms(secret: str) -> set[str]:
    """Every way a secret may be written: raw and as each encoder writes it (either hex case)."""
    once = quote(secret, safe="")
    encoded = {once, quote(secret), quote_plus(secret), quote(once, safe="")}
    return {secret} | encoded | {e.lower() for e in encoded} | {e.replace("%20", "+") for e in encoded}


def test_credentials_never_leave_the_api_and_a_stall_is_recovered(enrolled, make_worker, video):
    api = enrolled
    worker = make_worker(api, "mjpeg-worker", **FAST)
    frames = read_frames(video)
    server = MjpegServer(frames, fps=12, credentials=("admin", PASSWORD))
    keyed = MjpegServer(frames[:24], fps=12)  # authenticates by a query parameter, as many cameras do
    try:
        camera = _camera(api, url=server.url(userinfo="admin:" + quote(PASSWORD, safe="")))
        by_key = _camera(api, url=keyed.url(path=f"/video.mjpg?user=admin&api_key={QUERY_SECRET}"))
        closed = _camera(api, url=f"rtsp://admin:{quote(PASSWORD, safe='')}@127.0.0.1:{free_port()}/s")
        assert camera["url"] == f"http://***:***@127.0.0.1:{server.port}/video.mjpg"
        assert by_key["url"].endswith("/video.mjpg?user=***&api_key=***")
        for refused in (
            {"name": "no password echoed", "url": f"rtsp://admin:{PASSWORD}@127.0.0.1:1/s"},
            {"url": f"rtsp://admin:{PASSWORD}@127.0.0.1:1/s"},
        ):
            response = api.http.post("/api/cameras", json=refused)
            assert response.status_code == 422 and not any(f in response.text for f in _forms(PASSWORD))
        for c in (camera, by_key):
            wait_until(lambda c=c: _status(api, c["id"])["state"] == "streaming", 30, "the MJPEG stream")
        wait_until(lambda: _status(api, closed["id"])["state"] in FAILED, 15, "the closed port")
        server.pause()  # the connection stays open, frames stop: a stall
        wait_until(lambda: _status(api, camera["id"])["state"] in FAILED, 20, "the stall")
        assert _status(api, camera["id"])["reason"]
        server.resume()
        wait_until(lambda: _status(api, camera["id"])["state"] == "streaming", 40, "recovery")
        shown = api.http.get("/api/cameras").text + "".join(
            api.http.get(f"/api/cameras/{c['id']}").text for c in (camera, by_key, closed)
        )
    finally:
        server.stop()
        keyed.stop()
    assert "***" in shown and f"127.0.0.1:{server.port}" in worker.log()  # the URLs are shown, masked
    secrets = _forms(PASSWORD) | _forms(QUERY_SECRET)
    for where, text in (("responses", shown), ("the API log", api.log()), ("the worker log", worker.log())):
        leaked = {s for s in secrets if s in text}
        assert not leaked, f"{where} show {leaked}"


def test_an_unreachable_camera_fails_fast_and_the_other_keeps_working(enrolled, make_worker, video, tmp_path):
    api = enrolled
    worker = make_worker(api, "busy-worker", **FAST)
    hole = BlackHole()
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("just some text, no video here")
    try:
        good = _camera(api, name="good", url=str(video), loop=True)
        closed = _camera(api, name="closed", url=f"rtsp://viewer:pw9zz@127.0.0.1:{free_port()}/nothing")
        hanging = _camera(api, name="hanging", url=f"rtsp://127.0.0.1:{hole.port}/cam")
        text = _camera(api, name="text", url=str(not_video))
        for bad in (closed, hanging, text):
            wait_until(lambda b=bad: _status(api, b["id"])["state"] in FAILED, 15, "a failure")
            assert _status(api, bad["id"])["reason"]
        snapshot = api.http.get(f"/api/cameras/{closed['id']}/snapshot.jpg")  # says why, not a 504 later
        assert snapshot.status_code == 409 and "not streaming" in snapshot.json()["detail"], snapshot.text
        assert "pw9zz" not in snapshot.text
        wait_until(lambda: _status(api, good["id"])["state"] == "streaming", 30, "the good camera")
        # In an empty scene only the scans (one a second) are processed: a rate needs two of them.
        wait_until(lambda: _status(api, good["id"])["processed_fps"] > 0, 10, "the good camera's frames")
    finally:
        hole.stop()
    # OpenCV and FFmpeg print nothing of their own (they would, for each failed open): the
    # worker reports what went wrong itself, through its redacting log.
    log = worker.log()
    assert "[ WARN" not in log and "cap.cpp" not in log and "moov atom" not in log, log
    assert "Connection to tcp://" not in log and "pw9zz" not in log, log


def test_a_camera_that_runs_nowhere_says_why_and_a_failing_one_gives_its_slot_away(
    make_api, make_worker, video
):
    api = make_api(HEARTBEAT_INTERVAL="1", HEARTBEAT_TIMEOUT="4", CAMERA_YIELD_SECONDS="3")
    broken = _camera(api, name="broken", url=f"rtsp://viewer:pw9zz@127.0.0.1:{free_port()}/nothing")
    good = _camera(api, name="good", url=str(video), loop=True)
    pinned = _camera(api, name="pinned", url=str(video), pinned_worker="elsewhere")
    assert _status(api, good["id"])["state"] == "unassigned"
    assert _status(api, good["id"])["reason"] == "no worker is connected"
    assert _status(api, pinned["id"])["reason"] == "it is pinned to worker elsewhere, which is not connected"
    make_worker(api, "one-slot", MAX_CAMERAS="1", **FAST)
    # The first camera takes the only slot; the others say why they wait...
    assert _status(api, broken["id"])["worker_id"] == "one-slot"
    full = "the only worker is full (1 of its 1 camera slots taken, MAX_CAMERAS)"
    assert _status(api, good["id"])["reason"] == full
    # ...until it has been failing for CAMERA_YIELD_SECONDS: then the camera that works gets its slot.
    wait_until(lambda: _status(api, good["id"])["state"] == "streaming", 30, "the good camera to start")
    waiting = _status(api, broken["id"])
    assert waiting["state"] == "unassigned", waiting
    assert waiting["reason"].startswith(full + "; it kept failing (opening failed: "), waiting
    assert "refused the connection" in waiting["reason"] and "pw9zz" not in waiting["reason"]
    assert waiting["reason"].endswith("), so working cameras go first")
    time.sleep(5)  # and it does not take the slot back
    assert _status(api, good["id"])["worker_id"] == "one-slot"
    assert _status(api, pinned["id"])["reason"] == "it is pinned to worker elsewhere, which is not connected"


def test_a_joining_worker_evens_out_without_flapping_and_a_killed_workers_cameras_move(
    enrolled, make_worker, sample_faces, video
):
    api = enrolled
    first = make_worker(api, "first", **FAST)
    _enroll_obama(api, sample_faces)
    cameras = [_camera(api, name=f"cam{i}", url=str(video), loop=True) for i in range(3)]

    def placement() -> dict[int, str | None]:
        return {c["id"]: _status(api, c["id"])["worker_id"] for c in cameras}

    wait_until(lambda: set(placement().values()) == {"first"}, 20, "all three on the first worker")
    second = make_worker(api, "second", **FAST)
    wait_until(lambda: sorted(placement().values()) == ["first", "first", "second"], 20, "one to move")
    settled = placement()
    reports = _received(api, "camera_status")
    # Three more rounds of status reports from both workers later, nothing has moved again.
    wait_until(lambda: _received(api, "camera_status") >= reports + 9, 30, "more status reports")
    assert placement() == settled
    assert api.log().count("-> worker") == 4  # three placements, one move
    first.send(signal.SIGKILL)
    wait_until(lambda: set(placement().values()) == {"second"}, 20, "the cameras to move")
    before = len(_events(api))
    wait_until(lambda: len(_events(api)) > before, 40, "events from the new worker")
    assert second.alive()


def test_disabling_and_deleting_a_camera_stops_it_on_its_worker(enrolled, make_worker, video):
    api = enrolled
    worker = make_worker(api, "w", **FAST)
    camera = _camera(api, url=str(video), loop=True)
    wait_until(lambda: _status(api, camera["id"])["state"] == "streaming", 30, "streaming")
    off = api.http.patch(f"/api/cameras/{camera['id']}", json={"enabled": False}).json()
    assert off["status"]["state"] == "disabled"
    wait_until(lambda: f"camera {camera['id']}: stopped" in worker.log(), 10, "the worker to stop it")
    assert api.http.delete(f"/api/cameras/{camera['id']}").status_code == 204
    assert api.http.get(f"/api/cameras/{camera['id']}").status_code == 404
    bad = api.http.post("/api/cameras", json={"name": "", "url": ""})
    assert bad.status_code == 422


NOT_A_CAMERA = [
    ("ftp://x/y", "Cameras with ftp:// addresses are not supported"),
    ("garbage thing", "This is not a camera address."),
    ("htp//192.0.2.1/stream", "This is not a camera address."),
    ("   ", "The camera address is empty."),
    ("clips/door.mp4", "absolute path"),
    ("rtsp://user:pw5 zz@192.0.2.1/s", "contains a space"),
    ("rtsp:/user:pw7zz@192.0.2.1/s", "write rtsp://"),
    ("user:pw8zz@127.0.0.1:1", "This is not a camera address."),
    ("rtsp://admin:pa?ss@127.0.0.1:9/s", "%3F"),
]


def test_the_api_refuses_an_address_no_worker_could_open(api):
    camera = _camera(api, url="rtsp://192.0.2.10/stream1", enabled=False)
    for url, says in NOT_A_CAMERA:
        for method, path, body in (
            ("POST", "/api/cameras", {"name": "cam", "url": url}),
            ("PATCH", f"/api/cameras/{camera['id']}", {"url": url}),
        ):
            response = api.http.request(method, path, json=body)
            assert response.status_code == 422, (url, response.text)
            (item,) = response.json()["detail"]
            assert item["loc"] == ["body", "url"] and item["type"] == "camera_url"
            assert says in item["msg"] and item["msg"].endswith("."), item
            assert not any(s in response.text for s in ("pw5", "pw7zz", "pw8zz", "pa?ss")), response.text
    assert [c["url"] for c in api.http.get("/api/cameras").json()] == ["rtsp://192.0.2.10/stream1"]


def test_a_camera_its_worker_cannot_start_gives_its_slot_back(enrolled, make_worker, video):
    api = enrolled
    legacy = _camera(api, name="legacy", url=str(video), enabled=False)
    api.stop()  # a row saved before the API checked addresses
    with sqlite3.connect(api.data_dir / "facegrid.db") as db:
        db.execute("UPDATE cameras SET url = 'ftp://x/y', enabled = 1 WHERE id = ?", (legacy["id"],))
    api.start()
    make_worker(api, "one-slot", MAX_CAMERAS="1", **FAST)
    refused = wait_until(
        lambda: (s := _status(api, legacy["id"]))["state"] == "failed" and s, 20, "the worker to refuse it"
    )
    assert refused["worker_id"] is None and "ftp:// addresses are not supported" in refused["reason"]
    good = _camera(api, name="good", url=str(video), loop=True)
    wait_until(lambda: _status(api, good["id"])["state"] == "streaming", 30, "the freed slot to be used")
    assert _status(api, good["id"])["worker_id"] == "one-slot"
    fixed = api.http.patch(f"/api/cameras/{legacy['id']}", json={"url": str(video)}).json()
    assert fixed["status"]["state"] == "unassigned"  # a new address gets a new try, when there is room


@pytest.mark.skipif(rtsp_unavailable() is not None, reason=f"no RTSP test server: {rtsp_unavailable()}")
def test_an_rtsp_camera_streams_into_events(enrolled, make_worker, sample_faces, video, tmp_path):
    api = enrolled
    make_worker(api, "rtsp-worker", **FAST)
    _enroll_obama(api, sample_faces)
    server = RtspServer(transcode_h264(video_at(video), tmp_path / "faces-h264.mp4").path)
    try:
        camera = _camera(api, url=server.url)
        wait_until(lambda: _status(api, camera["id"])["state"] == "streaming", 30, "RTSP streaming")
        wait_until(lambda: any(e["person_id"] == api.obama for e in _events(api)), 40, "an Obama event")
    finally:
        server.stop()


def video_at(path: Path) -> Any:
    """The fixture's FaceVideo for ``path`` (transcode_h264 takes the description)."""
    from video_fixture import FaceVideo  # local: only this test needs it

    frames = read_frames(path)
    height, width = frames[0].shape[:2]
    return FaceVideo(path, 12.0, len(frames), width, height, "mp4v", ())


def test_worker_ports_stay_closed_while_cameras_stream(enrolled, video):
    # The API has no worker but the one the check starts, so the camera can only run there:
    # the test watches it stream, frames going up, while the check samples that worker's sockets.
    api = enrolled
    camera = _camera(api, url=str(video), loop=True)
    env = {**os.environ, "API_KEY": api.api_key, "WORKER_TOKEN": api.worker_token, **FAST}
    check = subprocess.Popen(
        [sys.executable, str(REPO / "scripts" / "check_worker_ports.py"), "--api-url", api.url,
         "--workers", "1", "--scenario", "single", "--duration", "15", "--json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    sampling, sampled, notes = threading.Event(), threading.Event(), []

    def follow_notes() -> None:
        assert check.stderr is not None
        for line in check.stderr:
            notes.append(line)
            if "scenario single: API lists" in line:
                sampling.set()  # the worker is listed: sampling until --duration from now
            elif "scenario single: stopping" in line:
                sampled.set()

    follower = threading.Thread(target=follow_notes, daemon=True)
    follower.start()
    try:
        wait_until(lambda: sampling.is_set() or check.poll() is not None, 120, "the check's worker")
        seen = []
        while not sampled.is_set() and check.poll() is None:
            seen.append(_status(api, camera["id"]))
            sampled.wait(0.5)
        out, _ = check.communicate(timeout=120)
    finally:
        if check.poll() is None:
            check.kill()
    follower.join(10)
    assert check.returncode == 0, out + "".join(notes)
    report = json.loads(out)
    (scenario,) = report["scenarios"]
    assert scenario["status"] == "pass" and scenario["samples"] >= 10 and not report["violations"], report
    (checked,) = scenario["workers"]
    streaming = [s for s in seen if s["state"] == "streaming" and s["worker_id"] == checked["id"]]
    assert len(streaming) >= 2, seen
    assert streaming[-1]["processed_frames"] > streaming[0]["processed_frames"], streaming
