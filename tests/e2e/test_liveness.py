"""Workers that freeze, lose the API, or are told to stop: offline on time, back by themselves."""

from __future__ import annotations

import signal
import threading
import time

from harness import wait_until


def test_frozen_worker_goes_offline_within_the_timeout_and_returns_on_sigcont(api, make_worker):
    worker = make_worker(api, "sleepy")
    worker.send(signal.SIGSTOP)
    stopped_at = time.monotonic()
    wait_until(lambda: api.worker("sleepy")["status"] == "offline", 15, "the frozen worker to go offline")
    # HEARTBEAT_TIMEOUT is 3 s here; the reaper runs every half interval.
    assert time.monotonic() - stopped_at < 3 + 5
    assert "silent for" in api.log()
    worker.send(signal.SIGCONT)
    worker.wait_registered(timeout=20)


def test_workers_come_back_by_themselves_after_the_api_restarts(make_api, make_worker):
    api = make_api()
    workers = [make_worker(api, f"w{i}") for i in range(2)]
    api.stop(sig=signal.SIGINT)
    time.sleep(2)  # workers now back off and retry against a closed port
    api.start()  # same port, data and secrets
    for worker in workers:
        worker.wait_registered(timeout=30)
    assert all(w.alive() for w in workers)


def test_sigterm_finishes_the_running_job_then_exits_zero(api, make_worker):
    worker = make_worker(api, "graceful")
    answers = []
    request = threading.Thread(
        target=lambda: answers.append(api.http.post("/api/diagnostics/echo", json={"data": "x", "delay": 2}))
    )
    request.start()
    wait_until(lambda: api.worker("graceful")["status"] == "busy", 10, "the job to start")
    worker.send(signal.SIGTERM)
    assert worker.wait(15) == 0
    request.join(15)
    assert answers[0].status_code == 200 and answers[0].json()["worker_id"] == "graceful"
    assert "worker graceful stopped" in worker.log()
    assert "disconnected (code 1000)" in api.log()
    assert api.worker("graceful")["status"] == "offline"


def test_sigterm_hands_back_a_job_it_cannot_finish_in_time(api, make_worker):
    staying = make_worker(api, "staying")
    leaving = make_worker(api, "leaving", SHUTDOWN_TIMEOUT="0.5")
    api.http.post(f"/api/workers/{staying.id}/drain")  # so the job starts on `leaving`
    answers = []
    request = threading.Thread(
        target=lambda: answers.append(api.http.post("/api/diagnostics/echo", json={"data": 7, "delay": 3}))
    )
    request.start()
    wait_until(lambda: api.worker("leaving")["status"] == "busy", 10, "the job to start")
    api.http.post(f"/api/workers/{staying.id}/resume")
    leaving.send(signal.SIGTERM)
    assert leaving.wait(15) == 0
    request.join(20)
    assert answers[0].status_code == 200
    assert answers[0].json() == {"data": 7, "worker_id": "staying"}
    assert "handed job" in leaving.log()
