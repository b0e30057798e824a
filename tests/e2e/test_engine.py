"""The worker's face engine: one child process per job slot, each killed and replaced alone.

Real API and worker processes on real photos. The engine's children are found among the
worker's children by their `multiprocessing` spawn command line, then crashed on purpose.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from pathlib import Path

import cv2
import httpx
import numpy as np
import psutil
import pytest
from harness import Api, Worker, wait_until

MakeFaces = Callable[[int, int], bytes]


def engine_children(worker: Worker) -> list[psutil.Process]:
    """The worker's face-engine processes (multiprocessing also starts a resource tracker)."""
    found = []
    for child in psutil.Process(worker.pid).children():
        with contextlib.suppress(psutil.Error):
            if "spawn_main" in " ".join(child.cmdline()) and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child)
    return found


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


@pytest.fixture(scope="module")
def face(sample_faces: Path) -> np.ndarray:
    """Obama's face with a margin around it, cut from obama.jpg (the box HOG finds there)."""
    image = cv2.imread(str(sample_faces / "obama.jpg"))
    return image[8:537, 213:741]


@pytest.fixture(scope="module")
def many_faces(face: np.ndarray) -> MakeFaces:
    """A JPEG tiling ``n`` x ``n`` copies of one face, each ``tile`` px: every one is found."""

    def make(n: int, tile: int) -> bytes:
        small = cv2.resize(face, (tile, tile), interpolation=cv2.INTER_AREA)
        grid = np.vstack([np.hstack([small] * n)] * n)
        return cv2.imencode(".jpg", grid)[1].tobytes()

    return make


def _recognize(api: Api, data: bytes) -> httpx.Response:
    return api.http.post("/api/recognize", files={"file": ("photo.jpg", data)})


class Background:
    """One request run on a thread, so the test can act while the worker computes."""

    def __init__(self, call: Callable[[], httpx.Response]) -> None:
        self.response: httpx.Response | None = None
        self._thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[], httpx.Response]) -> None:
        self.response = call()

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def result(self, timeout: float = 120) -> httpx.Response:
        self._thread.join(timeout)
        assert self.response is not None, "the request did not finish"
        return self.response


def test_a_crashed_engine_process_fails_only_its_own_job(make_api, make_worker, many_faces, sample_faces):
    api = make_api(JOB_TIMEOUT="300")
    worker = make_worker(api, "pair", MAX_JOBS="2")
    children = engine_children(worker)
    assert len(children) == 2, "one engine process per job slot"
    before = {c.pid: cpu_seconds(c) for c in children}
    photo = many_faces(7, 96)  # 49 faces: several seconds of embedding per job
    requests = [Background(lambda: _recognize(api, photo)) for _ in range(2)]
    # Both processes are computing once each has burnt CPU since the jobs were sent.
    wait_until(
        lambda: all(cpu_seconds(c) - before[c.pid] > 0.5 for c in children), 120, "both jobs to run"
    )
    victim, survivor = children
    victim.kill()
    answers = sorted((r.result() for r in requests), key=lambda r: r.status_code)
    assert [a.status_code for a in answers] == [200, 422], [a.text for a in answers]
    assert len(answers[0].json()["faces"]) == 49
    assert "crashed" in answers[1].json()["detail"]
    assert api.online()["pair"]["pid"] == worker.pid
    def slots() -> set[int]:
        pids = {c.pid for c in engine_children(worker)}
        return pids if len(pids) == 2 and victim.pid not in pids else set()

    assert survivor.pid in wait_until(slots, 60, "a fresh process in the crashed one's slot")
    obama = _recognize(api, (sample_faces / "obama3.jpg").read_bytes())
    assert obama.status_code == 200 and len(obama.json()["faces"]) == 1
    assert "face-engine process" in worker.log() and "died" in worker.log()
