"""Events end to end: unknown faces given to a person, an API crash, a worker's buffered
samples, retention and the query's time limits — real API and worker processes, real video."""

from __future__ import annotations

import signal
import sqlite3
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness import Api, wait_until
from video_fixture import Appearance, build_face_video

FAST = {"STALL_TIMEOUT": "3", "CAMERA_OPEN_TIMEOUT": "3"}
LOOP = 8.5
"""A little over one pass of the `video` fixture: long enough for both its faces to be seen."""


def _events(api: Api, **params: Any) -> list[dict[str, Any]]:
    response = api.http.get("/api/events", params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


def _camera(api: Api, url: Path, **fields: Any) -> dict[str, Any]:
    body = {"name": "Hall", "url": str(url), "process_fps": 6, **fields}
    response = api.http.post("/api/cameras", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def _status(api: Api, camera_id: int) -> dict[str, Any]:
    return api.http.get(f"/api/cameras/{camera_id}").json()["status"]  # type: ignore[no-any-return]


def _time(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


@pytest.fixture
def biden_thrice(sample_faces: Path, tmp_path: Path) -> Path:
    """Biden walks past three times, with pauses longer than the worker's track timeout (2 s)
    plus the API's merge window (EVENT_MERGE_SECONDS=0.5 below): three appearances."""
    visits = tuple(
        Appearance("biden", enter=t, settled=t + 0.5, leaving=t + 1.75, gone=t + 2.25)
        for t in (0.5, 6.75, 13.0)
    )
    return build_face_video(tmp_path / "biden.mp4", sample_faces, duration=16.0, appearances=visits).path


def test_unknown_faces_are_given_to_a_person_in_one_step(make_api, make_worker, sample_faces, biden_thrice):
    api = make_api(HEARTBEAT_INTERVAL="1", HEARTBEAT_TIMEOUT="4", EVENT_MERGE_SECONDS="0.5")
    make_worker(api, "w", **FAST)
    camera = _camera(api, biden_thrice)
    wait_until(lambda: _status(api, camera["id"])["state"] == "stopped", 120, "the video to end")
    wait_until(lambda: all(e["ended"] for e in _events(api)), 30, "its events to end")
    events = sorted(_events(api), key=lambda e: e["first_seen"])
    assert [e["person_id"] for e in events] == [None, None, None], events
    first, second, third = (e["id"] for e in events)
    persons = api.http.get("/api/persons").json()["total"]

    def assign(**body: Any) -> Any:
        return api.http.post("/api/events/assign", json=body)

    # Refusals say why, and change nothing.
    for bad in (
        {"event_ids": [first], "person_id": 1, "name": "Joe Biden"},
        {"event_ids": [first]},
        {"event_ids": [], "name": "Joe Biden"},
        {"event_ids": [first, first], "name": "Joe Biden"},
        {"event_ids": [first], "name": ""},
        {"event_ids": [first], "name": "   "},  # names are checked as when creating a person
        {"event_ids": [first], "name": "Joe\nBiden"},
        {"event_ids": [first], "name": "J" * 201},
        {"event_ids": [first], "name": "Joe Biden", "extra": 1},
    ):
        assert assign(**bad).status_code == 422, bad
    missing = assign(event_ids=[first, third + 1000], name="Joe Biden")
    assert missing.status_code == 404 and str(third + 1000) in missing.json()["detail"]
    assert assign(event_ids=[first], person_id=9999).status_code == 404
    assert api.http.get("/api/persons").json()["total"] == persons
    assert len(_events(api, unknown="true")) == 3

    # A failure part-way (the second crop cannot be written) undoes it all: the new person,
    # the first face and its crop, the events' names. One transaction.
    crops = api.data_dir / "faces"
    (crops / "2.jpg").mkdir()
    body, key = {"event_ids": [first, second], "name": "Joe Biden"}, {"X-API-Key": api.api_key}
    with httpx.Client(base_url=api.url, headers=key) as once:  # the server drops a connection after a 500
        assert once.post("/api/events/assign", json=body).status_code == 500
    (crops / "2.jpg").rmdir()
    assert api.http.get("/api/persons").json()["total"] == persons
    assert len(_events(api, unknown="true")) == 3 and list(crops.iterdir()) == []

    # Two faces to a new person, in one call.
    done = assign(event_ids=[first, second], name="Joe Biden")
    assert done.status_code == 200, done.text
    out = done.json()
    biden = out["person"]
    assert biden["name"] == "Joe Biden" and biden["face_count"] == 2
    assert sorted(f["source_name"] for f in out["faces"]) == [f"event {first}", f"event {second}"]
    assert all(api.http.get(f["crop_url"]).content[:2] == b"\xff\xd8" for f in out["faces"])
    named = [(e["id"], e["person_name"]) for e in out["events"]]
    assert named == [(first, "Joe Biden"), (second, "Joe Biden")]

    # Twice is refused, whole: the third face is not enrolled either.
    again = assign(event_ids=[third, first], person_id=biden["id"])
    assert again.status_code == 409 and f"event {first}" in again.json()["detail"]
    assert api.http.get(f"/api/persons/{biden['id']}").json()["face_count"] == 2

    # The third to the person who now exists.
    assert assign(event_ids=[third], person_id=biden["id"]).status_code == 200
    assert api.http.get(f"/api/persons/{biden['id']}").json()["face_count"] == 3
    assert _events(api, unknown="true") == []
    assert sorted(e["id"] for e in _events(api, person_id=biden["id"])) == [first, second, third]
    assert api.http.get(f"/api/events/{third}").json()["person_name"] == "Joe Biden"

    # The enrolled faces are the gallery's now: a photo of him is recognised.
    photo = {"file": ("biden.jpg", (sample_faces / "biden.jpg").read_bytes())}
    faces = api.http.post("/api/recognize", files=photo).json()["faces"]
    assert [f["match"]["name"] for f in faces] == ["Joe Biden"]


def test_after_an_api_crash_open_events_end_and_what_the_worker_saw_meanwhile_arrives(
    make_api, make_worker, video
):
    api = make_api(HEARTBEAT_INTERVAL="1", HEARTBEAT_TIMEOUT="4")
    worker = make_worker(api, "w", **FAST)
    camera = _camera(api, video, loop=True)
    wait_until(lambda: any(not e["ended"] for e in _events(api)), 60, "a face in view")
    seen = {e["id"] for e in _events(api)}
    api.stop(signal.SIGKILL)
    crashed = time.time()
    # While the API is down, the camera is pinned to a worker that does not exist: once back,
    # the API never gives it to this worker again, so whatever of it arrives was buffered.
    with sqlite3.connect(api.data_dir / "facegrid.db") as db:
        db.execute("UPDATE cameras SET pinned_worker = 'elsewhere'")
    wait_until(lambda: "connection to the API lost" in worker.log(), 30, "the worker to notice")
    time.sleep(LOOP)  # the worker keeps watching, and keeps what it sees
    restarted = time.time()
    api.start()

    before = [e for e in _events(api) if e["id"] in seen]
    assert before and all(e["ended"] and _time(e["last_seen"]) <= crashed for e in before), before
    buffered = wait_until(
        lambda: [e for e in _events(api) if _time(e["last_seen"]) > crashed],
        60,
        "events from the samples the worker buffered",
    )
    # Faces first seen while the API was down came in (the worker goes on buffering until it is
    # connected again, so an event may also hold samples from the API's start-up).
    assert all(e["id"] not in seen for e in buffered), buffered
    assert any(crashed < _time(e["first_seen"]) < restarted for e in buffered), buffered
    assert _status(api, camera["id"])["worker_id"] is None  # they came without the camera being its


def test_a_full_outbox_drops_the_oldest_and_says_how_many(make_api, make_worker, video):
    api = make_api(HEARTBEAT_INTERVAL="1", HEARTBEAT_TIMEOUT="4")
    worker = make_worker(api, "w", CAMERA_OUTBOX="2", **FAST)
    camera = _camera(api, video, loop=True)
    wait_until(lambda: _events(api), 60, "a first event")
    assert _status(api, camera["id"])["events_dropped"] == 0
    api.stop(signal.SIGKILL)
    wait_until(lambda: "connection to the API lost" in worker.log(), 30, "the worker to notice")
    time.sleep(LOOP)  # more track messages than the outbox holds
    api.start()
    status = wait_until(
        lambda: (s := _status(api, camera["id"]))["worker_id"] == "w" and s["events_dropped"] > 0 and s,
        60,
        "the drops to be reported",
    )
    assert status["state"] != "error"


def test_retention_deletes_old_events_and_their_images(make_api):
    api = make_api(EVENT_RETENTION_DAYS="2")
    gate = {"name": "Gate", "url": "rtsp://127.0.0.1:9/none", "enabled": False}  # nothing runs it
    camera = api.http.post("/api/cameras", json=gate).json()
    api.stop()
    now = datetime.now(timezone.utc)
    images = api.data_dir / "events"
    rows = {"old": now - timedelta(days=3), "recent": now - timedelta(days=1)}
    ids = {}
    with sqlite3.connect(api.data_dir / "facegrid.db") as db:
        for name, seen in rows.items():
            stamp = seen.replace(tzinfo=None).isoformat(sep=" ")
            ids[name] = db.execute(
                "INSERT INTO events (camera_id, first_seen, last_seen, box, samples, ended)"
                " VALUES (?, ?, ?, '{\"x\": 1, \"y\": 1, \"width\": 50, \"height\": 50}', 1, 1)",
                (camera["id"], stamp, stamp),
            ).lastrowid
            (images / str(ids[name])).mkdir(parents=True)
            for kind in ("face", "snapshot"):
                (images / str(ids[name]) / f"{kind}.jpg").write_bytes(b"\xff\xd8" + name.encode())
    api.start()  # the first sweep runs at start-up
    wait_until(lambda: not (images / str(ids["old"])).exists(), 30, "the old event's images to go")
    assert api.http.get(f"/api/events/{ids['old']}").status_code == 404
    assert [e["id"] for e in _events(api)] == [ids["recent"]]
    assert api.http.get(f"/api/events/{ids['recent']}/face.jpg").content == b"\xff\xd8recent"


def test_event_times_must_stay_within_the_calendar_in_utc(make_api):
    api = make_api()
    for params in (
        {"until": "0001-01-01T00:00:00+01:00"},
        {"since": "9999-12-31T23:59:59-01:00"},
    ):
        response = api.http.get("/api/events", params=params)
        assert response.status_code == 422, (params, response.text)
        [error] = response.json()["detail"]
        assert error["loc"] == ["query", next(iter(params))] and "UTC" in error["msg"]
    # Without a zone a time is UTC: the first day of year 1 is a valid (if early) start.
    for params in ({"since": "0001-01-01"}, {"until": "9999-12-31T23:59:59Z"}, {"since": "2026-01-01T10:00"}):
        assert api.http.get("/api/events", params=params).status_code == 200, params
