"""The two port checks pass on real workers, fail naming a listening stand-in, and never pass blind.

Each test runs a script as CI would (a real API, real workers, real sockets) and
reads its exit code and report. The stand-in worker (`listening_worker.py`) writes
"<pid> <protocol> <port>" to LISTENING_WORKER_REPORT, so a test knows exactly which
socket the check must name.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from harness import REPO, free_port

CHECK = REPO / "scripts" / "check_worker_ports.py"
VERIFY = REPO / "scripts" / "verify_no_listening_ports.sh"
STANDIN = Path(__file__).with_name("listening_worker.py")
PYTHON = sys.executable
RUN_TIMEOUT = 300
# Generous: workers load face models before registering, and CI machines are often busy.
REGISTER_TIMEOUT = "120"

posix_only = pytest.mark.skipif(os.name == "nt", reason="needs a POSIX shell")


# Settings a developer may have exported that would point the scripts elsewhere.
FOREIGN = ("API_URL", "API_KEY", "WORKER_TOKEN", "WORKER_CMD", "PORT_TOOL", "LOG_DIR", "WORKERS", "SAMPLES")


def script_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in FOREIGN}
    env.update(LISTENING_WORKER_REPORT=str(tmp_path / "standin.txt"), PYTHON=PYTHON, TIMEOUT=REGISTER_TIMEOUT)
    env.update(extra)
    return env


def standin_cmd(*flags: str) -> str:
    return shlex.join([PYTHON, str(STANDIN), *flags])


def standin_sockets(tmp_path: Path) -> set[tuple[int, str, int]]:
    """(pid, protocol, port) of every socket the stand-ins opened."""
    path = tmp_path / "standin.txt"
    lines = path.read_text().split("\n") if path.exists() else []
    return {(int(pid), proto, int(port)) for pid, proto, port in (line.split() for line in lines if line)}


def run_check(tmp_path: Path, *args: str, **env: str) -> tuple[int, dict[str, Any], str]:
    cmd = [PYTHON, str(CHECK), "--json", "--timeout", REGISTER_TIMEOUT, *args]
    env_ = script_env(tmp_path, **env)
    done = subprocess.run(cmd, capture_output=True, text=True, env=env_, timeout=RUN_TIMEOUT)
    try:
        report = json.loads(done.stdout)
    except ValueError:
        pytest.fail(f"no JSON report (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.returncode, report, done.stderr


def run_verify(tmp_path: Path, **env: str) -> tuple[int, str]:
    done = subprocess.run(["bash", str(VERIFY)], capture_output=True, text=True,
                          env=script_env(tmp_path, **env), timeout=RUN_TIMEOUT)
    return done.returncode, done.stdout + done.stderr


def assert_all_stopped(procs: list[psutil.Process]) -> None:
    """Everything the script had started is gone (a zombie awaiting its reaper counts as gone)."""
    _, alive = psutil.wait_procs(procs, timeout=10)
    running = []
    for proc in alive:
        try:
            if proc.status() != psutil.STATUS_ZOMBIE:
                running.append(f"{proc.pid} {proc.cmdline()}")
        except psutil.NoSuchProcess:
            continue
    assert not running, f"left running: {running}"


def interrupt_after(
    cmd: list[str], env: dict[str, str], marker: str, sig: int
) -> tuple[int, str, list[psutil.Process]]:
    """Start `cmd`, send `sig` once `marker` appears on its stderr; its exit code, output, descendants."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: list[str] = []
    deadline = time.monotonic() + 60
    assert proc.stderr is not None
    for line in proc.stderr:
        seen.append(line)
        if marker in line or time.monotonic() > deadline:
            break
    descendants = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, "".join(seen) + err + out, descendants


# --- check_worker_ports.py (psutil) ------------------------------------------------


def test_check_passes_on_real_workers_in_every_scenario(tmp_path):
    code, report, err = run_check(tmp_path, "--workers", "2", "--duration", "1")
    assert code == 0, err
    assert report["result"] == "pass" and not report["violations"] and not report["errors"]
    scenarios = {s["name"]: s for s in report["scenarios"]}
    assert list(scenarios) == ["single", "multiple", "jobs"]
    assert all(s["status"] == "pass" and s["samples"] >= 2 for s in scenarios.values())
    assert [len(scenarios[n]["workers"]) for n in scenarios] == [1, 2, 2]
    for scenario in scenarios.values():  # the API listed each worker under the pid started
        assert all(w["registered_pid"] == w["pid"] and w["api_link_seen"] for w in scenario["workers"])
    assert scenarios["jobs"]["jobs_completed"] > 0 and scenarios["jobs"]["jobs_failed"] == 0
    assert report["api"]["started_here"] and report["api"]["url"].startswith("http://127.0.0.1:")


@pytest.mark.parametrize(
    ("scenario", "workers", "flags", "wrap"),
    [
        pytest.param("single", "1", [], False, id="tcp-listener"),
        pytest.param("multiple", "2", ["--udp"], True, id="udp-in-descendants", marks=posix_only),
    ],
)
def test_check_fails_naming_the_listening_standin(tmp_path, scenario, workers, flags, wrap):
    cmd = standin_cmd(*flags)
    if wrap:  # `sh -c 'x; true'` keeps sh as the parent: the socket is in a descendant
        cmd = shlex.join(["sh", "-c", f"{cmd}; true"])
    code, report, err = run_check(tmp_path, "--scenario", scenario, "--workers", workers, "--duration", "0.5",
                                  "--worker-cmd", cmd)
    assert code == 1, err
    assert report["result"] == "fail"
    expected = standin_sockets(tmp_path)
    assert len(expected) == int(workers)
    found = {(v["pid"], v["protocol"], v["port"]) for v in report["violations"]}
    assert found == expected
    for violation in report["violations"]:
        assert violation["worker_id"].startswith("portcheck-") and violation["address"] == "127.0.0.1"
        assert f"pid {violation['pid']}" in err and f"127.0.0.1:{violation['port']}" in err
    if wrap:
        started = {w["pid"] for w in report["scenarios"][0]["workers"]}
        assert not started & {pid for pid, _, _ in expected}, "the sockets should be in descendants"


def test_check_cannot_verify_without_an_api(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    code, report, _ = run_check(tmp_path, "--api-url", url, "--timeout", "2",
                                API_KEY="k" * 32, WORKER_TOKEN="t" * 32)
    assert code == 2
    assert report["result"] == "cannot_verify" and "no API answers" in report["errors"][0]


def test_check_cannot_verify_when_a_worker_dies(tmp_path):
    dying = shlex.join([PYTHON, "-c", "import sys; print('bye'); sys.exit(3)"])
    code, report, err = run_check(tmp_path, "--scenario", "single", "--worker-cmd", dying)
    assert code == 2, err
    assert report["result"] == "cannot_verify"
    assert "exited with code 3" in report["errors"][0] and "bye" in report["errors"][0]


def test_check_cannot_verify_without_psutil(tmp_path):
    code = ("import runpy, sys; sys.modules['psutil'] = None; sys.argv = sys.argv[1:]; "
            "runpy.run_path(sys.argv[0], run_name='__main__')")
    done = subprocess.run([PYTHON, "-c", code, str(CHECK), "--json"], capture_output=True, text=True,
                          env=script_env(tmp_path), timeout=RUN_TIMEOUT)
    assert done.returncode == 2
    assert "psutil is not installed" in json.loads(done.stdout)["errors"][0]


@posix_only
def test_check_cleans_up_when_interrupted(tmp_path):
    cmd = [PYTHON, str(CHECK), "--json", "--scenario", "multiple", "--workers", "2", "--duration", "60"]
    code, output, started = interrupt_after(cmd, script_env(tmp_path), "API lists", signal.SIGINT)
    assert code == 2, output
    assert "interrupted" in output
    assert len(started) >= 3  # the API and two workers
    assert_all_stopped(started)


# --- verify_no_listening_ports.sh (ss / lsof / netstat) -----------------------------


@posix_only
def test_verify_passes_on_real_workers(tmp_path):
    code, output = run_verify(tmp_path, WORKERS="2")
    assert code == 0, output
    assert "[PASS] [single] 1 worker(s)" in output and "[PASS] [multiple] 2 worker(s)" in output
    assert "RESULT: PASS" in output


@posix_only
def test_verify_fails_naming_the_listening_standin(tmp_path):
    code, output = run_verify(tmp_path, WORKERS="2", SAMPLES="1", WORKER_CMD=standin_cmd())
    assert code == 1, output
    sockets = standin_sockets(tmp_path)
    assert len(sockets) == 3  # one worker, then two
    for pid, proto, port in sockets:
        assert f"(pid {pid}): {proto} socket listening on 127.0.0.1:{port}" in output, output
    assert "RESULT: FAIL" in output


@posix_only
@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2)")
def test_verify_cannot_verify_when_the_tool_hides_pids(tmp_path):
    # An ss that shows sockets without their owners, as ss does without permission: silence proves nothing.
    fake = tmp_path / "bin" / "ss"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\n{shutil.which('ss')} \"$@\" | sed 's/users:.*//'\n")
    fake.chmod(0o755)
    path = f"{fake.parent}{os.pathsep}{os.environ['PATH']}"
    code, output = run_verify(tmp_path, WORKERS="1", PORT_TOOL="ss", PATH=path)
    assert code == 2, output
    assert "CANNOT VERIFY" in output and "RESULT: PASS" not in output


@posix_only
def test_verify_cannot_verify_without_an_api(tmp_path):
    code, output = run_verify(tmp_path, API_URL=f"http://127.0.0.1:{free_port()}", TIMEOUT="2",
                              API_KEY="k" * 32, WORKER_TOKEN="t" * 32)
    assert code == 2, output
    assert "no API answers" in output


@posix_only
def test_verify_cleans_up_when_interrupted(tmp_path):
    marker = "the API lists"
    code, output, started = interrupt_after(["bash", str(VERIFY)], script_env(tmp_path, WORKERS="2"), marker,
                                            signal.SIGTERM)
    assert code == 2, output
    assert "interrupted" in output
    assert_all_stopped(started)
