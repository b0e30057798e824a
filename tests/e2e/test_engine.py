"""The worker's face engine: one child process per job slot, each killed and replaced alone.

Real API and worker processes on real photos. The engine's children are found among the
worker's children by their `multiprocessing` spawn command line, then crashed or frozen on
purpose; every test un-freezes (kills) what it froze, even when it fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import cv2
import httpx
import numpy as np
import psutil
import pytest
from facegrid_protocol import Job, JobResult, Register, Registered, decode, encode
from harness import Api, Worker, free_port, wait_until
from websockets.asyncio.server import ServerConnection, serve

MakeFaces = Callable[[int, int], bytes]


def engine_children(worker: Worker) -> list[psutil.Process]:
    """The worker's face-engine processes (multiprocessing also starts a resource tracker)."""
    found = []
    for child in psutil.Process(worker.pid).children():
        with contextlib.suppress(psutil.Error):
            if "spawn_main" in " ".join(child.cmdline()) and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child)
    return found


def gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
def frozen() -> Iterator[list[psutil.Process]]:
    """Processes a test stops with SIGSTOP: killed at the end whatever happened."""
    stopped: list[psutil.Process] = []
    yield stopped
    for process in stopped:
        with contextlib.suppress(psutil.Error):
            process.kill()


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


def test_a_job_the_api_gives_up_on_is_stopped_and_frees_the_worker(
    make_api, make_worker, frozen, sample_faces
):
    # The timeout also bounds the next request, which waits for a fresh process to load its models.
    api = make_api(JOB_TIMEOUT="20")
    worker = make_worker(api, "stuck", MAX_JOBS="1")
    (child,) = engine_children(worker)
    child.suspend()  # a job that never ends
    frozen.append(child)
    photo = (sample_faces / "obama3.jpg").read_bytes()
    answer = _recognize(api, photo)
    assert answer.status_code == 504, answer.text
    wait_until(lambda: api.worker("stuck")["jobs_in_flight"] == 0, 30, "the worker to free its slot")
    assert api.worker("stuck")["status"] == "idle"
    wait_until(lambda: gone(child), 10, "the frozen engine process to be killed")
    again = _recognize(api, photo)
    assert again.status_code == 200 and len(again.json()["faces"]) == 1
    assert "cancelled job" in worker.log()


async def _run_one_job_past_its_timeout(port: int, photo: bytes, small: bytes) -> list[JobResult]:
    """Play the API: register the worker, send a job with a 1 s timeout and never cancel it."""
    answers: list[JobResult] = []
    finished = asyncio.Event()

    async def session(ws: ServerConnection) -> None:
        hello = decode(await ws.recv()).message
        assert isinstance(hello, Register)
        welcome = Registered(worker_id=hello.worker_id, heartbeat_interval=5, heartbeat_timeout=15)
        await ws.send(encode(welcome))
        # The second job waits for the replacement process to load its models: a long timeout.
        for job_id, payload, timeout in (("slow", photo, 1), ("quick", small, 120)):
            job = Job(job_id=job_id, kind="analyze", params={"embed": True}, timeout=timeout)
            await ws.send(encode(job, payload))
            while True:
                message = decode(await ws.recv()).message
                if isinstance(message, JobResult):
                    answers.append(message)
                    break
        finished.set()
        await ws.wait_closed()

    async with serve(session, "127.0.0.1", port):
        await asyncio.wait_for(finished.wait(), 120)
    return answers


def test_the_worker_stops_a_job_that_runs_past_its_timeout(tmp_path, many_faces, sample_faces):
    port = free_port()
    api = SimpleNamespace(url=f"http://127.0.0.1:{port}", worker_token="t" * 24)  # the test plays the API
    worker = Worker(api, "timed", tmp_path, RECONNECT_MAX_DELAY="1")  # type: ignore[arg-type]
    worker.start()
    try:
        wait_until(lambda: "models ready" in worker.log(), 60, "the worker's models")
        (child,) = engine_children(worker)
        slow, quick = many_faces(8, 80), (sample_faces / "obama3.jpg").read_bytes()
        answers = asyncio.run(_run_one_job_past_its_timeout(port, slow, quick))
    finally:
        worker.stop()
    timed_out, served = answers
    assert timed_out.error is not None and timed_out.error.code == "timeout", timed_out
    assert "1 s" in timed_out.error.message
    assert served.error is None and served.result is not None and len(served.result["faces"]) == 1
    assert gone(child)


def test_only_the_largest_faces_are_described_and_enrollment_counts_them_all(make_api, make_worker, face):
    api = make_api(MAX_FACES="5")
    make_worker(api, "capped")
    canvas = np.full((256, 800, 3), 200, np.uint8)
    for i in range(5):  # five large faces on top, seven smaller ones below
        canvas[0:160, i * 160 : (i + 1) * 160] = cv2.resize(face, (160, 160), interpolation=cv2.INTER_AREA)
    for i in range(7):
        canvas[160:256, i * 96 : (i + 1) * 96] = cv2.resize(face, (96, 96), interpolation=cv2.INTER_AREA)
    photo = cv2.imencode(".jpg", canvas)[1].tobytes()
    for route in ("/api/recognize", "/api/detect"):
        answer = api.http.post(route, files={"file": ("crowd.jpg", photo)}).json()
        assert answer["total_faces"] == 12 and answer["faces_truncated"] is True, route
        assert len(answer["faces"]) == 5 and all(f["box"]["y"] < 160 for f in answer["faces"]), route
    one = api.http.post("/api/detect", files={"file": ("one.jpg", cv2.imencode(".jpg", face)[1].tobytes())})
    assert one.json()["total_faces"] == 1 and one.json()["faces_truncated"] is False
    person = api.http.post("/api/persons", json={"name": "Crowd"}).json()
    enrolled = api.http.post(f"/api/persons/{person['id']}/faces", files={"files": ("crowd.jpg", photo)})
    (refused,) = enrolled.json()["results"]
    assert refused["code"] == "multiple_faces" and refused["reason"].startswith("12 faces found"), refused


def test_a_stopped_worker_hands_its_running_job_on_and_exits_zero(make_api, make_worker, frozen, many_faces):
    api = make_api(JOB_TIMEOUT="300")
    leaving = make_worker(api, "leaving", SHUTDOWN_TIMEOUT="1")
    (child,) = engine_children(leaving)
    before = cpu_seconds(child)
    photo = many_faces(7, 96)
    request = Background(lambda: _recognize(api, photo))
    wait_until(lambda: cpu_seconds(child) - before > 0.5, 60, "the job to run on 'leaving'")
    child.suspend()  # from here on the job cannot finish on 'leaving', however long the test waits
    frozen.append(child)
    staying = make_worker(api, "staying")
    leaving.send(signal.SIGTERM)
    assert leaving.wait(60) == 0
    assert gone(child), "the engine process was stopped, not left behind"
    answer = request.result()
    assert answer.status_code == 200 and len(answer.json()["faces"]) == 49
    assert api.worker(staying.id)["jobs_done"] == 1
    log = leaving.log()
    assert log.index("handed job") < log.index("worker leaving stopped")
    assert "goes back to the queue: worker leaving released it" in api.log()
