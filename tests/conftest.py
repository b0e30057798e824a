"""Fixtures shared by every test folder: real API and worker processes, cleaned up after."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from harness import Api, Proc, Worker

MakeApi = Callable[..., Api]
MakeWorker = Callable[..., Worker]


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
