"""Start-up failures: one clear line and an exit code, and nothing changed — real API processes."""

from __future__ import annotations

import sqlite3
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from harness import API_DIR, PYTHON, Api


def _run(api: Api) -> subprocess.CompletedProcess[str]:
    """Start `api` as a person would and wait for it to exit (it is expected not to start)."""
    return subprocess.run(
        [PYTHON, "-m", "app.main"], cwd=API_DIR, env=api.env, capture_output=True, text=True, timeout=60
    )


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = (done.stdout + done.stderr).splitlines()
    assert len(lines) == 1 and "Traceback" not in lines[0], lines
    return lines[0]


def _open_event(api: Api) -> int:
    """An event still open, as the running API would have it, written straight into its database."""
    body = {"name": "Door", "url": "rtsp://192.0.2.10/s", "enabled": False}
    camera = api.http.post("/api/cameras", json=body)
    assert camera.status_code == 201, camera.text
    seen = datetime.now(timezone.utc).replace(tzinfo=None).isoformat(sep=" ")  # as SQLAlchemy stores it
    with sqlite3.connect(api.data_dir / "facegrid.db") as db:
        return db.execute(
            "INSERT INTO events (camera_id, first_seen, last_seen, box, samples, ended)"
            " VALUES (?, ?, ?, '{}', 1, 0)",
            (camera.json()["id"], seen, seen),
        ).lastrowid or 0


def _ended(api: Api, event_id: int) -> bool:
    with sqlite3.connect(api.data_dir / "facegrid.db") as db:
        return bool(db.execute("SELECT ended FROM events WHERE id = ?", (event_id,)).fetchone()[0])


def test_a_second_api_on_the_same_data_dir_stops_and_changes_nothing(make_api, tmp_path: Path):
    first = make_api()
    event_id = _open_event(first)
    second = Api(tmp_path / "second", DATA_DIR=str(first.data_dir))  # its own port
    done = _run(second)
    assert done.returncode == 3
    line = _one_line(done)
    assert f"another FaceGrid API (pid {first.pid}) is already using DATA_DIR {first.data_dir}" in line
    assert not _ended(first, event_id)  # its start-up would have ended the first one's open events
    assert first.http.get("/health").json()["pid"] == first.pid
    # Once the first one has stopped, the lock is free again (and the open event is ended then).
    first.stop()
    first.start()
    assert _ended(first, event_id)


def test_a_taken_port_stops_the_api_before_it_touches_its_database(make_api, tmp_path: Path):
    first = make_api()
    second = Api(tmp_path / "second", API_PORT=str(first.port))  # its own DATA_DIR
    done = _run(second)
    assert done.returncode == 3
    assert f"cannot listen on 127.0.0.1:{first.port}: [Errno 98] Address already in use" in _one_line(done)
    assert not (second.data_dir / "facegrid.db").exists()


def test_an_unusable_data_dir_is_one_line_and_exit_4(tmp_path: Path):
    done = _run(Api(tmp_path, DATA_DIR="/proc/nope"))
    assert done.returncode == 4
    assert "cannot start: cannot use DATA_DIR /proc/nope: No such file or directory" in _one_line(done)


def test_a_database_that_does_not_answer_is_one_line_and_exit_4_without_its_password(tmp_path: Path):
    url = "postgresql://nobody:s3cret-pw@127.0.0.1:1/nodb"  # port 1: nothing listens there
    done = _run(Api(tmp_path, DATABASE_URL=url))
    assert done.returncode == 4
    line = _one_line(done)
    assert "cannot start: cannot open the database postgresql://***:***@127.0.0.1:1/nodb: " in line
    assert "Connection refused" in line and "s3cret-pw" not in line and "nobody" not in line
