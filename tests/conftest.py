"""Fixtures shared by every test folder: real API and worker processes, cleaned up after."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from harness import REPO, Api, Proc, Worker

sys.path.insert(0, str(REPO / "scripts"))
from fetch_sample_faces import sample_faces_dir

MakeApi = Callable[..., Api]
MakeWorker = Callable[..., Worker]


@pytest.fixture(scope="session")
def sample_faces() -> Path:
    """Real photos (the face_recognition 1.3.0 test images), fetched once into .cache/sample_faces."""
    return sample_faces_dir()


@pytest.fixture
def make_api(tmp_path: Path) -> Iterator[MakeApi]:
    started: list[Proc] = []

    def make(**settings: str) -> Api:
        api = Api(tmp_path / f"api{len(started)}", **settings)
        api.data_dir.parent.mkdir(parents=True, exist_ok=True)
        started.append(api)
        api.start()
        return api

    yield make
    for api in started:
        api.stop()


@pytest.fixture
def api(make_api: MakeApi) -> Api:
    """An API with short heartbeats, so liveness tests take seconds, not minutes."""
    return make_api(HEARTBEAT_INTERVAL="1", HEARTBEAT_TIMEOUT="3")


@pytest.fixture
def make_worker(tmp_path: Path) -> Iterator[MakeWorker]:
    started: list[Worker] = []

    def make(api: Api, worker_id: str, *, wait: bool = True, **settings: str) -> Worker:
        settings.setdefault("RECONNECT_MAX_DELAY", "2")
        worker = Worker(api, worker_id, tmp_path, **settings)
        started.append(worker)
        worker.start()
        if wait:
            worker.wait_registered()
        return worker

    yield make
    for worker in started:
        worker.stop()
