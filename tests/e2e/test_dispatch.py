"""Job dispatch through real workers: least-loaded, queued in order, retried, refused clearly."""

from __future__ import annotations

import signal
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
from harness import wait_until

MB = 1024 * 1024


def _echo(api, data, delay=0.0, **extra):
    return api.http.post("/api/diagnostics/echo", json={"data": data, "delay": delay, **extra})


def _queued(api) -> int:
    line = next(
        x for x in api.http.get("/metrics").text.splitlines() if x.startswith("facegrid_jobs_queued ")
    )
    return int(float(line.split()[1]))


def test_no_worker_means_503_with_retry_after(api):
    response = _echo(api, 1)
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert "no worker available" in response.json()["detail"]


def test_echo_round_trip_counts_on_the_worker_and_in_metrics(api, make_worker):
    make_worker(api, "solo")
    response = _echo(api, {"nested": [1, 2.5, None, "é"]})
    assert response.json() == {"data": {"nested": [1, 2.5, None, "é"]}, "worker_id": "solo"}
    assert api.worker("solo")["jobs_done"] == 1
    metrics = api.http.get("/metrics").text
    assert "facegrid_workers_connected 1.0" in metrics
    assert 'facegrid_jobs_total{kind="echo",outcome="ok"} 1.0' in metrics
    assert 'facegrid_job_latency_seconds_count{kind="echo"} 1.0' in metrics
    assert 'facegrid_socket_messages_total{direction="in",type="register"} 1.0' in metrics
    # Every message the API sends is counted, not only jobs.
    assert 'facegrid_socket_messages_total{direction="out",type="registered"} 1.0' in metrics
    assert 'facegrid_socket_messages_total{direction="out",type="job"} 1.0' in metrics
    assert 'facegrid_socket_messages_total{direction="in",type="job_result"} 1.0' in metrics


def test_concurrent_jobs_spread_to_the_least_loaded_workers(api, make_worker):
    make_worker(api, "a")
    make_worker(api, "b")
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda i: _echo(api, i, delay=1), range(2)))
    assert {a.json()["worker_id"] for a in answers} == {"a", "b"}


def test_busy_workers_queue_jobs_and_serve_them_in_order(api, make_worker):
    make_worker(api, "one", MAX_JOBS="1")
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(_echo, api, 0, 1)]
        wait_until(lambda: api.worker("one")["status"] == "busy", 10, "the first job to start")
        for i in range(1, 4):
            futures.append(pool.submit(_echo, api, i, 0.1))
            wait_until(lambda n=i: _queued(api) == n, 10, f"{i} queued jobs")
        answers = [f.result() for f in futures]
    assert [a.json()["data"] for a in answers] == [0, 1, 2, 3]
    assert api.worker("one")["jobs_done"] == 4


def test_a_full_queue_answers_503(make_api, make_worker):
    api = make_api(JOB_QUEUE_SIZE="1")
    make_worker(api, "one", MAX_JOBS="1")
    with ThreadPoolExecutor(3) as pool:
        running = pool.submit(_echo, api, "running", 2)
        wait_until(lambda: api.worker("one")["status"] == "busy", 10, "the first job to start")
        queued = pool.submit(_echo, api, "queued", 0)
        wait_until(lambda: _queued(api) == 1, 10, "one queued job")
        refused = _echo(api, "refused")
        assert refused.status_code == 503 and "already waiting" in refused.json()["detail"]
        assert running.result().status_code == 200 and queued.result().status_code == 200


def test_job_timeout_is_a_504(api, make_worker):
    make_worker(api, "slow")
    response = _echo(api, 1, delay=3, timeout=0.5)
    assert response.status_code == 504 and "within 0.5 s" in response.json()["detail"]
    cancels = 'facegrid_socket_messages_total{direction="out",type="cancel_job"}'
    wait_until(lambda: api.metric(cancels) == 1, 10, "the cancel_job to be sent and counted")


def test_job_moves_to_another_worker_when_its_worker_is_killed(api, make_worker):
    workers = {w.id: w for w in (make_worker(api, "victim"), make_worker(api, "survivor"))}
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(_echo, api, "precious", 3)
        busy = wait_until(
            lambda: next((w for w in api.online().values() if w["status"] == "busy"), None),
            10,
            "a busy worker",
        )
        workers[busy["id"]].send(signal.SIGKILL)
        result = answer.result(timeout=30)
    assert result.status_code == 200
    other = ({"victim", "survivor"} - {busy["id"]}).pop()
    assert result.json() == {"data": "precious", "worker_id": other}
    assert "goes back to the queue" in api.log()


def test_drained_worker_gets_no_jobs_until_resumed(api, make_worker):
    make_worker(api, "d1")
    make_worker(api, "d2")
    assert api.http.post("/api/workers/d1/drain").json()["status"] == "draining"
    assert {_echo(api, i).json()["worker_id"] for i in range(4)} == {"d2"}
    api.http.post("/api/workers/d2/drain")
    assert _echo(api, 0).status_code == 503
    assert api.http.post("/api/workers/d1/resume").json()["status"] == "idle"
    assert _echo(api, 0).json()["worker_id"] == "d1"
    assert api.http.post("/api/workers/ghost/drain").status_code == 404


def _png_of_size(photo: bytes, size: int) -> bytes:
    """``photo`` as a valid PNG of exactly ``size`` bytes: a tEXt chunk after IHDR holds the padding."""
    png = cv2.imencode(".png", cv2.imdecode(np.frombuffer(photo, np.uint8), cv2.IMREAD_COLOR))[1].tobytes()
    keyword = b"Comment\0"
    text = keyword + b"x" * (size - len(png) - 12 - len(keyword))
    chunk = struct.pack(">I", len(text)) + b"tEXt" + text + struct.pack(">I", zlib.crc32(b"tEXt" + text))
    return png[:33] + chunk + png[33:]  # 33: signature and IHDR


def test_the_largest_upload_allowed_reaches_a_worker_and_no_worker_is_dropped(
    make_api, make_worker, sample_faces: Path
):
    api = make_api(MAX_UPLOAD_MB="31")  # the most the settings accept: one socket message is 32 MB
    make_worker(api, "big-1")
    make_worker(api, "big-2")
    connected = {w["id"]: w["connected_since"] for w in api.workers()}
    photo = (sample_faces / "obama.jpg").read_bytes()

    largest = api.http.post("/api/detect", files={"file": ("big.png", _png_of_size(photo, 31 * MB))})
    assert largest.status_code == 200, largest.text
    assert (largest.json()["width"], len(largest.json()["faces"])) == (910, 1)

    over = api.http.post("/api/detect", files={"file": ("big.png", _png_of_size(photo, 31 * MB + 1))})
    assert over.status_code == 413 and "31 MB" in over.json()["detail"]

    assert {w["id"]: w["connected_since"] for w in api.workers()} == connected
    assert "send failed" not in api.log()
