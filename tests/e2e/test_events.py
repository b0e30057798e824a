"""Events end to end: an API crash, a worker's buffered samples and its full outbox, retention
and the query's time limits — real API and worker processes, real video."""

from __future__ import annotations

import signal
import sqlite3
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from harness import Api, wait_until

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
    assert all(_time(e["last_seen"]) < restarted and e["id"] not in seen for e in buffered), buffered
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
