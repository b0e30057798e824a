"""Workers register over the socket, are listed by the API, and are refused when they should be."""

from __future__ import annotations

import asyncio
import re
import signal
import time

import httpx
import pytest
import websockets
from facegrid_protocol import HEADER_PROTOCOL, HEADER_WORKER_ID
from harness import timestamp, wait_until


def test_worker_registers_and_is_listed_with_its_facts(api, make_worker):
    worker = make_worker(api, "worker-001", MAX_JOBS="2", MAX_CAMERAS="3")
    info = api.http.get("/api/workers/worker-001").json()
    assert info["pid"] == worker.pid
    assert info["status"] == "idle"
    assert info["hostname"] and info["version"] == "0.1.0"
    caps = info["capabilities"]
    assert caps["max_jobs"] == 2 and caps["max_cameras"] == 3 and caps["cpu_count"] >= 1
    assert "echo" in caps["job_types"]
    assert info["connected_since"] and info["last_heartbeat"] and info["last_seen"]
    assert info["offline_since"] is None
    assert info["jobs_in_flight"] == info["jobs_done"] == info["jobs_failed"] == 0
    assert "http_port" not in str(info)
    assert "basic socket-only worker worker-001" in worker.log()
    assert api.url.replace("http", "ws") + "/ws/worker" in worker.log()


def test_offline_workers_keep_when_they_were_last_heard_and_their_job_totals(make_api, make_worker):
    api = make_api()
    for jobs, total in ((2, 2), (1, 3)):  # two connections of one worker id
        worker = make_worker(api, "steady")
        for i in range(jobs):
            assert api.http.post("/api/diagnostics/echo", json={"data": i}).status_code == 200
        assert api.worker("steady")["jobs_done"] == total
        worker.stop()
        wait_until(lambda: api.worker("steady")["status"] == "offline", 20, "the worker to be offline")
        gone = api.worker("steady")
        assert gone["jobs_done"] == total and gone["jobs_failed"] == 0
        assert gone["connected_since"] is None
        # Its last heartbeat and its last message came before the socket closed, not at that moment.
        times = [timestamp(gone[k]) for k in ("last_heartbeat", "last_seen", "offline_since")]
        assert times[0] <= times[1] < times[2]
    api.stop()
    api.start()  # same data: the totals were in the database
    assert api.worker("steady")["jobs_done"] == 3


def test_three_workers_side_by_side_keep_distinct_ids(api, make_worker):
    workers = [make_worker(api, f"worker-00{i}") for i in (1, 2, 3)]
    online = api.online()
    assert {w.id: w.pid for w in workers} == {i: online[i]["pid"] for i in online}


def test_default_worker_id_is_unique_per_process(api, make_worker):
    a = make_worker(api, "", wait=False)
    b = make_worker(api, "", wait=False)
    online = wait_until(lambda: len(api.online()) == 2 and api.online(), 30, "two workers")
    assert {w["pid"] for w in online.values()} == {a.pid, b.pid}
    assert all(re.fullmatch(r".+-\d+", wid) for wid in online)


def test_rest_api_requires_the_key_but_probes_do_not(api):
    assert httpx.get(api.url + "/api/workers").status_code == 401
    wrong = httpx.get(api.url + "/api/workers", headers={"X-API-Key": "nope"})
    assert wrong.status_code == 401 and wrong.json()["detail"] == "invalid API key"
    assert httpx.get(api.url + "/health").json() == {"status": "ok", "pid": api.pid}
    assert httpx.get(api.url + "/ready").json()["status"] == "ready"
    for probe in ("/health", "/ready"):  # monitoring tools probe with HEAD too
        head = httpx.head(api.url + probe)
        assert head.status_code == 200 and head.content == b"", probe
    assert api.http.get("/api/workers/ghost").status_code == 404


def test_wrong_token_is_refused_and_nothing_registered(api, make_worker):
    worker = make_worker(api, "intruder", wait=False, WORKER_TOKEN="x" * 32)
    assert worker.wait(20) == 3
    assert "refused this worker (401): missing or invalid worker token" in worker.log()
    assert "refused worker connection" in api.log() and "invalid worker token" in api.log()
    assert api.worker("intruder") is None


def _handshake(api, **headers: str) -> websockets.InvalidStatus:
    async def attempt() -> websockets.InvalidStatus:
        with pytest.raises(websockets.InvalidStatus) as err:
            async with websockets.connect(api.ws_url, additional_headers=headers):
                pass
        return err.value

    return asyncio.run(attempt())


def test_incompatible_protocol_is_refused_with_a_reason(api):
    refused = _handshake(
        api,
        Authorization=f"Bearer {api.worker_token}",
        **{HEADER_WORKER_ID: "old-worker", HEADER_PROTOCOL: "999"},
    )
    assert refused.response.status_code == 426
    assert b"worker speaks protocol 999, this API speaks 1" in refused.response.body
    assert api.worker("old-worker") is None


def test_duplicate_id_is_refused_while_the_first_lives_then_takes_over(api, make_worker):
    first = make_worker(api, "twin")
    second = make_worker(api, "twin", wait=False)
    wait_until(lambda: "already connected" in second.log(), 20, "the second twin to be refused")
    assert second.alive(), "a duplicate id is retried, not fatal"
    assert api.online()["twin"]["pid"] == first.pid
    first.stop(sig=9)
    second.wait_registered(timeout=20)


def test_a_replaced_connection_hands_its_job_totals_on_counted_once(make_api, make_worker):
    api = make_api(HEARTBEAT_INTERVAL="1", HEARTBEAT_TIMEOUT="60")  # quiet, not yet timed out
    silent = make_worker(api, "again")
    for i in range(2):
        assert api.http.post("/api/diagnostics/echo", json={"data": i}).status_code == 200
    silent.send(signal.SIGSTOP)  # half-open, as after a network drop: the API still lists it
    time.sleep(2.5)  # over two heartbeat intervals: the next connection with its id replaces it
    fresh = make_worker(api, "again")
    assert "replacing its silent connection" in api.log()
    silent.stop(sig=signal.SIGKILL)
    assert api.worker("again")["jobs_done"] == 2  # the replaced connection's jobs, carried over
    assert api.http.post("/api/diagnostics/echo", json={"data": 2}).status_code == 200
    assert api.worker("again")["jobs_done"] == 3
    fresh.stop()
    wait_until(lambda: api.worker("again")["status"] == "offline", 20, "the worker to be offline")
    assert api.worker("again")["jobs_done"] == 3  # stored once each
    api.stop()
    api.start()
    assert api.worker("again")["jobs_done"] == 3


def test_obsolete_settings_are_ignored_with_one_warning(api, make_worker):
    worker = make_worker(api, "legacy", WORKER_HTTP_PORT="8001", USE_ENHANCED_WORKER="true")
    log = worker.log()
    assert log.count("WORKER_HTTP_PORT is set but obsolete and ignored") == 1
    assert log.count("USE_ENHANCED_WORKER is set but obsolete and ignored") == 1


def test_secrets_never_reach_the_logs(api, make_worker):
    worker = make_worker(api, "quiet")
    api.http.post("/api/diagnostics/echo", json={"data": api.api_key})  # even when echoed
    make_worker(api, "loud", wait=False, WORKER_TOKEN="y" * 40).wait(20)
    for log in (api.log(), worker.log()):
        assert api.api_key not in log and api.worker_token not in log


def test_a_worker_whose_models_do_not_load_exits_and_never_registers(api, make_worker, tmp_path):
    broken = tmp_path / "site" / "face_recognition_models"
    (broken / "models").mkdir(parents=True)
    (broken / "__init__.py").write_text("")  # the package without its model files
    worker = make_worker(api, "modelless", wait=False, PYTHONPATH=str(broken.parent))
    assert worker.wait(60) == 4
    assert "face models failed their start-up check" in worker.log()
    assert (
        "not registering" in worker.log()
        and "shape_predictor_5_face_landmarks.dat: not found" in worker.log()
    )
    assert api.worker("modelless") is None
