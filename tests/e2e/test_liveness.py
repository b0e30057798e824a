"""Workers that freeze, lose the API, or are told to stop: offline on time, back by themselves."""

from __future__ import annotations

import signal
import threading
import time

from harness import timestamp, wait_until


def test_frozen_workers_go_offline_at_the_timeout_and_return_on_sigcont(make_api, make_worker):
    # A 2 s interval: a reaper that checked once a second would be up to a second late.
    api = make_api(HEARTBEAT_INTERVAL="2", HEARTBEAT_TIMEOUT="3")
    workers = [make_worker(api, name) for name in ("sleepy", "dozy")]
    for worker in workers:
        worker.send(signal.SIGSTOP)
    for worker in workers:
        wait_until(lambda w=worker: api.worker(w.id)["status"] == "offline", 20, f"{worker.id} to go offline")
        gone = api.worker(worker.id)
        # The silence the API measured, from its own records: last heard from -> marked offline.
        silence = (timestamp(gone["offline_since"]) - timestamp(gone["last_seen"])).total_seconds()
        assert 3 - 0.1 <= silence < 3 + 0.3, f"{worker.id} went offline after {silence:.2f} s of silence"
        assert f"worker {worker.id} silent for" in api.log()
    for worker in workers:
        worker.send(signal.SIGCONT)
    for worker in workers:
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
