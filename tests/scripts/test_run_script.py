"""scripts/run.sh as a person runs it: says it runs only once its workers are online, fails loudly.

Each test runs the real script in its own session (as a terminal runs a foreground job, so
`interrupt` is exactly what Ctrl-C does) from a folder that links to this checkout's apps and
.venv, so a run writes its .env and data there, never into the checkout.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest
from harness import REPO, free_port, wait_until

pytestmark = pytest.mark.skipif(os.name == "nt", reason="needs a POSIX shell")

# Workers load face models before registering, and the machines running tests are often busy.
START_TIMEOUT = 120
BANNER = "FaceGrid is running"


def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    for name in ("apps", "packages", ".venv", "requirements-dev.txt", ".env.example"):
        (root / name).symlink_to(REPO / name)
    for name in ("run.sh", "setup.sh"):
        (root / "scripts" / name).symlink_to(REPO / "scripts" / name)
    (root / ".env").write_text("# these tests configure everything through the environment\n")
    return root


def run_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("API_URL", "WORKERS", "WORKER_ID")}
    env.update(
        API_HOST="127.0.0.1",
        API_PORT=str(free_port()),
        API_KEY=secrets.token_urlsafe(24),
        WORKER_TOKEN=secrets.token_urlsafe(24),
        DATA_DIR=str(tmp_path / "data"),
        DATABASE_URL="",
        LOG_FILE="",
        RECONNECT_MAX_DELAY="2",
    )
    env.update(settings)
    return env


class Run:
    """One `scripts/run.sh`: its output collected line by line, the command lines of every
    process it starts sampled while it runs."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.env = env
        self.proc = subprocess.Popen(
            ["bash", str(root / "scripts" / "run.sh")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self.cmdlines: set[str] = set()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        threading.Thread(target=self._sample, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def _sample(self) -> None:
        while self.proc.poll() is None:
            for child in self.children(recursive=True):
                try:
                    self.cmdlines.add(" ".join(child.cmdline()))
                except psutil.Error:
                    continue
            time.sleep(0.01)

    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float = START_TIMEOUT) -> None:
        def seen() -> bool:
            if text in self.output():
                return True
            if self.proc.poll() is not None:
                code = self.proc.returncode
                raise AssertionError(f"run.sh exited ({code}) before {text!r}:\n{self.output()}")
            return False

        wait_until(seen, timeout, f"run.sh to print {text!r}", interval=0.05)

    def children(self, recursive: bool = False) -> list[psutil.Process]:
        try:
            return psutil.Process(self.proc.pid).children(recursive=recursive)
        except psutil.NoSuchProcess:
            return []

    def child_in(self, app: str) -> psutil.Process:
        """The process run.sh started in apps/<app> (the API, or the only worker)."""
        return next(c for c in self.children() if Path(c.cwd()).name == app)

    def interrupt(self) -> None:
        os.killpg(self.proc.pid, signal.SIGINT)  # Ctrl-C: the whole foreground group

    def finish(self, timeout: float = 120) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(10)
        return code

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


@pytest.fixture
def start(tmp_path):
    started: list[Run] = []
    root = checkout(tmp_path)

    def make(env: dict[str, str]) -> Run:
        started.append(Run(root, env))
        return started[-1]

    yield make
    for run in started:
        run.cleanup()


def online(env: dict[str, str]) -> dict[str, int]:
    """Online workers (id -> pid) as the API lists them."""
    url = f"http://127.0.0.1:{env['API_PORT']}/api/workers"
    workers = httpx.get(url, headers={"X-API-Key": env["API_KEY"]}, timeout=10).json()
    return {w["id"]: w["pid"] for w in workers if w["status"] != "offline"}


def stopped_cleanly(run: Run) -> None:
    started = run.children(recursive=True)
    run.interrupt()
    assert run.finish() == 0, run.output()
    assert "run: stopped" in run.output()
    _, alive = psutil.wait_procs(started, timeout=15)
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], run.output()


def test_a_second_run_says_it_runs_only_once_its_workers_are_online(tmp_path, start):
    env = run_env(tmp_path)
    first = start(env)
    first.wait_for(BANNER)
    stopped_cleanly(first)  # the database now lists worker-001, offline

    second = start(env)
    second.wait_for(BANNER)
    worker = second.child_in("worker")
    assert online(env) == {"worker-001": worker.pid}, second.output()
    assert "Workers:    1 online" in second.output()
    assert not [c for c in second.cmdlines if env["API_KEY"] in c]  # never in `ps`

    # A worker that dies is started again; Ctrl-C then stops all, restarting nothing.
    worker.kill()
    second.wait_for("run: worker worker-001 exited with status 137; starting it again")
    wait_until(lambda: online(env).get("worker-001") not in (None, worker.pid), START_TIMEOUT,
               "the restarted worker to register")
    stopped_cleanly(second)
    assert second.output().count("starting it again") == 1


def test_an_api_that_cannot_start_fails_the_run(tmp_path, start):
    run = start(run_env(tmp_path, API_PORT="99999"))
    assert run.finish() == 1, run.output()
    assert "API_PORT" in run.output() and "run: the API failed to start" in run.output()
    assert BANNER not in run.output()


def test_a_port_held_by_another_api_fails_the_run(tmp_path, start, make_api):
    # The worst case: an API already running from the same .env, so even its key and token fit.
    other = make_api()
    run = start(run_env(tmp_path, API_PORT=str(other.port), API_KEY=other.api_key,
                        WORKER_TOKEN=other.worker_token))
    assert run.finish() == 1, run.output()
    assert "run: the API failed to start" in run.output()
    assert BANNER not in run.output()


def test_the_api_dying_while_workers_load_fails_the_run(tmp_path, start):
    run = start(run_env(tmp_path))
    run.wait_for("run: waiting for the workers")
    worker = run.child_in("worker")
    worker.suspend()  # so it cannot register meanwhile
    run.child_in("api").kill()
    try:
        run.wait_for("run: the API exited")
    finally:
        worker.resume()  # run.sh stops it on its way out
    assert run.finish() == 1, run.output()
    assert BANNER not in run.output()
