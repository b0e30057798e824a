"""The API on PostgreSQL (DATABASE_URL): migrations, people, faces and recognition work the same."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from harness import wait_until

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'psycopg[binary]')")

SERVER = os.environ.get("FACEGRID_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def database() -> Iterator[str]:
    """A fresh, empty database on the local PostgreSQL server, dropped afterwards."""
    try:
        admin = psycopg.connect(SERVER, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server at {SERVER} ({exc}); set FACEGRID_TEST_POSTGRES to use one")
    name = f"facegrid_test_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield SERVER.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
    finally:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.close()


def test_the_api_runs_on_postgresql(make_api, make_worker, database, sample_faces):
    api = make_api(DATABASE_URL=database)
    assert api.http.get("/ready").json()["status"] == "ready"
    make_worker(api, "pg-worker")
    person = api.http.post("/api/persons", json={"name": "Barack Obama", "metadata": {"team": "a"}}).json()
    files = [("files", (n, (sample_faces / n).read_bytes())) for n in ("obama.jpg", "obama2.jpg")]
    assert api.http.post(f"/api/persons/{person['id']}/faces", files=files).json()["enrolled"] == 2
    found = api.http.get("/api/persons", params={"q": "obama"}).json()
    assert found["total"] == 1 and found["items"][0]["face_count"] == 2
    photo = (sample_faces / "obama3.jpg").read_bytes()
    match = api.http.post("/api/recognize", files={"file": ("x.jpg", photo)}).json()["faces"][0]["match"]
    assert match["person_id"] == person["id"]
    api.stop()
    api.start()  # the gallery comes back from PostgreSQL
    assert "2 enrolled faces" in api.log()
    wait_until(lambda: "pg-worker" in api.online(), 30, "the worker to reconnect")
    match = api.http.post("/api/recognize", files={"file": ("x.jpg", photo)}).json()["faces"][0]["match"]
    assert match["person_id"] == person["id"]
    api.stop()  # before the database goes away
