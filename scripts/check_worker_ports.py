#!/usr/bin/env python3
"""Prove that FaceGrid workers listen on no port: one worker, many at once, and while jobs run.

Workers only dial out to the API's WebSocket. A worker (or anything it spawns) that
opens a listening TCP socket or binds a UDP one is an attack surface nobody asked
for, so this check starts an API (or uses a running one), starts workers, waits until
the API lists them under the pids we started, and samples the sockets of each worker
process and all its descendants with psutil. psutil reads one process's sockets at a
time, which needs no root for your own processes on Linux, macOS and Windows.
Sampling starts with the worker process, before it registers, and with `all` the
jobs scenario reuses the N workers of `multiple` (each start-up loads face models).

    python scripts/check_worker_ports.py [--workers N] [--duration S] [--scenario all]
                                         [--api-url URL] [--worker-cmd CMD] [--json]

Exit codes: 0 pass; 1 a worker or a descendant had a listening TCP or a bound UDP
socket; 2 cannot verify (psutil missing, access denied, workers never listed, a
process died, interrupted). A check that could not be made never passes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

try:
    import psutil
except ImportError:  # reported as "cannot verify", never as a pass
    psutil = None

EXIT_PASS, EXIT_VIOLATION, EXIT_CANNOT_VERIFY = 0, 1, 2

REPO = Path(__file__).resolve().parents[1]
API_DIR = REPO / "apps" / "api"
WORKER_DIR = REPO / "apps" / "worker"
SCENARIOS = ("single", "multiple", "jobs")
# Worker log lines that suggest a server started; a hint only, the sockets are the proof.
LOG_HINT = re.compile(r"running on|listening on|uvicorn running|serving on", re.IGNORECASE)
# Retired settings that once made workers listen: never pass them on to the processes we start.
RETIRED_SETTINGS = ("WORKER_HTTP_PORT", "USE_ENHANCED_WORKER")
ECHO_DELAY = 0.2
STOP_TIMEOUT = 10.0


class CannotVerify(Exception):
    """The check could not be made; the run must not pass."""


class Interrupted(Exception):
    """SIGTERM (or SIGHUP) arrived: clean up and report that nothing was verified."""


# --- report --------------------------------------------------------------


@dataclass
class Violation:
    """One listening TCP or bound UDP socket, seen in `samples` samples of a scenario."""

    scenario: str
    worker_id: str
    pid: int
    process: str
    protocol: str
    status: str
    address: str
    port: int
    remote: str = ""
    samples: int = 1

    def describe(self) -> str:
        remote = f" (connected to {self.remote})" if self.remote else ""
        where = host_port(self.address, self.port)
        who = f"worker {self.worker_id} pid {self.pid} ({self.process})"
        return f"{who}: {self.protocol} {self.status} {where}{remote}"


@dataclass
class ScenarioResult:
    name: str
    workers: list[dict[str, Any]] = field(default_factory=list)
    samples: int = 0
    seconds: float = 0.0
    jobs_completed: int | None = None
    jobs_failed: int | None = None
    jobs_by_worker: dict[str, int] | None = None
    reused_workers: bool = False  # the workers of the previous scenario, still running
    errors: list[str] = field(default_factory=list)
    violations: int = 0
    finished: bool = False  # False when cut short (an error, Ctrl-C): such a scenario never passes

    @property
    def status(self) -> str:
        if self.violations:
            return "fail"
        return "pass" if self.finished and not self.errors else "cannot_verify"


@dataclass
class Report:
    api_url: str = ""
    api_started_here: bool = False
    api_pid: int | None = None
    worker_cmd: list[str] = field(default_factory=list)
    scenarios: list[ScenarioResult] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def violation(self, found: Violation) -> bool:
        """Record a violation; False when this socket was already reported in this scenario."""
        for known in self.violations:
            key = (known.scenario, known.pid, known.protocol, known.address, known.port)
            if key == (found.scenario, found.pid, found.protocol, found.address, found.port):
                known.samples += 1
                return False
        self.violations.append(found)
        return True

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def exit_code(self) -> int:
        if self.violations:
            return EXIT_VIOLATION
        if self.errors or not self.scenarios or not all(s.finished for s in self.scenarios):
            return EXIT_CANNOT_VERIFY
        return EXIT_PASS

    def to_json(self) -> dict[str, Any]:
        code = self.exit_code()
        scenarios = [{**asdict(s), "status": s.status} for s in self.scenarios]
        return {
            "result": {EXIT_PASS: "pass", EXIT_VIOLATION: "fail", EXIT_CANNOT_VERIFY: "cannot_verify"}[code],
            "exit_code": code,
            "api": {"url": self.api_url, "started_here": self.api_started_here, "pid": self.api_pid},
            "worker_cmd": self.worker_cmd,
            "scenarios": scenarios,
            "violations": [asdict(v) for v in self.violations],
            "warnings": self.warnings,
            "errors": self.errors,
            "seconds": round(self.seconds, 2),
            "platform": sys.platform,
            "psutil": getattr(psutil, "__version__", None),
        }


def host_port(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


_STARTED_AT = time.monotonic()


def note(message: str) -> None:
    """Progress goes to stderr, so `--json` output on stdout stays machine-readable."""
    elapsed = time.monotonic() - _STARTED_AT
    print(f"check_worker_ports [{elapsed:5.1f}s] {message}", file=sys.stderr, flush=True)


# --- processes -------------------------------------------------------------


@dataclass
class Started:
    """A process this script started, with its log; only the Launcher stops it."""

    name: str
    role: str  # "api" or "worker"
    popen: subprocess.Popen[bytes]
    proc: psutil.Process
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def tree(self) -> list[psutil.Process]:
        """The process and all its descendants (raises psutil.NoSuchProcess once it is gone)."""
        return [self.proc, *self.proc.children(recursive=True)]

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join("    | " + line for line in text.splitlines()[-lines:])

    def died(self) -> CannotVerify:
        code = self.popen.poll()
        how = f"exited with code {code}" if code is not None else "disappeared"
        return CannotVerify(f"{self.name} (pid {self.pid}) {how} before the check finished; log tail:\n"
                            f"{self.log_tail()}")


class Launcher:
    """Starts processes and stops every one of them, descendants included, on close."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._started: list[Started] = []

    def start(self, name: str, role: str, cmd: list[str], cwd: Path, env: dict[str, str]) -> Started:
        log_path = self.log_dir / f"{name}.log"
        with open(log_path, "ab") as log:
            # A session of their own: a Ctrl-C in the terminal reaches only this script,
            # which then stops everything in order.
            options: dict[str, Any] = (
                {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)} if os.name == "nt"
                else {"start_new_session": True}
            )
            try:
                popen = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, **options)
            except OSError as exc:
                raise CannotVerify(f"cannot start {name} ({shlex.join(cmd)}): {exc}") from None
        try:
            proc = psutil.Process(popen.pid)
        except psutil.Error:  # gone and reaped already: nothing left to stop
            popen.wait()
            raise CannotVerify(f"{name} (pid {popen.pid}) exited at once; see {log_path}") from None
        started = Started(name, role, popen, proc, log_path)
        self._started.append(started)
        return started

    def stop(self, *group: Started, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM to all at once (workers drain in parallel), SIGKILL what is left after `timeout`,
        then the same for any descendants that outlived their parent."""
        group = tuple(s for s in group if s in self._started)
        family: list[psutil.Process] = []
        for started in group:
            self._started.remove(started)
            with contextlib.suppress(psutil.Error):
                family += started.proc.children(recursive=True)
            if started.popen.poll() is None:
                started.popen.terminate()
        deadline = time.monotonic() + timeout
        for started in group:
            try:
                started.popen.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                started.popen.kill()
                started.popen.wait(5)
        for proc in family:  # psutil checks the create time, so a reused pid is never hit
            try:
                proc.terminate()
            except psutil.Error:
                continue
        _, alive = psutil.wait_procs(family, timeout=3)
        for proc in alive:
            try:
                proc.kill()
            except psutil.Error:
                continue

    def close(self) -> None:
        """Workers first (they would only retry a vanished API), then the API."""
        self.stop(*(s for s in self._started if s.role == "worker"))
        self.stop(*self._started)


def default_python() -> str:
    for candidate in (REPO / ".venv" / "bin" / "python", REPO / ".venv" / "Scripts" / "python.exe"):
        if candidate.exists():
            return str(candidate)
    return sys.executable


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in RETIRED_SETTINGS}
    # The root .env may hold a production DATABASE_URL or LOG_FILE: never let them apply here.
    env.update(LOG_FILE="", LOG_LEVEL="INFO", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a .env file (enough for the two secrets; python-dotenv may be absent)."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key.strip()] = value
    return values


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- API -----------------------------------------------------------------


class ApiClient:
    """The few API calls this check needs, with the standard library only."""

    def __init__(self, url: str, api_key: str) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key
        parts = urlsplit(self.url)
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (443 if parts.scheme in ("https", "wss") else 80)
        # A proxy from the environment must not sit between us and a loopback API.
        loopback = self.host in ("localhost", "127.0.0.1", "::1")
        handlers = [urllib.request.ProxyHandler({})] if loopback else []
        self._opener = urllib.request.build_opener(*handlers)

    def _call(self, method: str, path: str, body: object = None, timeout: float = 10.0) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"X-API-Key": self.api_key, "Content-Type": "application/json"}
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        with self._opener.open(request, timeout=timeout) as response:
            return json.loads(response.read() or b"null")

    def healthy(self) -> bool:
        try:
            return bool(self._call("GET", "/health", timeout=2).get("status") == "ok")
        except (OSError, ValueError, AttributeError):
            return False

    def workers(self) -> list[dict[str, Any]]:
        try:
            listed = self._call("GET", "/api/workers")
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403):
                raise CannotVerify(f"the API refused API_KEY ({exc.code}): is it the API's key?") from None
            raise
        if not isinstance(listed, list):
            raise CannotVerify(f"GET /api/workers answered {type(listed).__name__}, not a list")
        return listed

    def echo(self, data: object, delay: float) -> str:
        """Run one echo job; the id of the worker that ran it."""
        answer = self._call("POST", "/api/diagnostics/echo", {"data": data, "delay": delay, "timeout": 15},
                            timeout=20)
        return str(answer.get("worker_id"))

    def addresses(self) -> set[str]:
        """The API host's IPs, so a worker's link to it is told apart from other connections."""
        try:
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        except OSError:
            return set()
        return {str(info[4][0]) for info in infos}


class JobPump:
    """Keeps echo jobs in flight on every worker until stopped, and counts who answered."""

    def __init__(self, api: ApiClient, threads: int) -> None:
        self._api = api
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True, name=f"echo-{n}")
                         for n in range(threads)]
        self.by_worker: dict[str, int] = {}
        self.failed = 0
        self.last_error = ""

    @property
    def completed(self) -> int:
        with self._lock:
            return sum(self.by_worker.values())

    def completed_on(self, worker_ids: set[str]) -> int:
        """Jobs run by these workers (a running API may also have workers of its own)."""
        with self._lock:
            return sum(n for worker_id, n in self.by_worker.items() if worker_id in worker_ids)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        deadline = time.monotonic() + 20
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _run(self, n: int) -> None:
        i = 0
        while not self._stop.is_set():
            try:
                worker_id = self._api.echo({"probe": n, "i": i}, ECHO_DELAY)
            except Exception as exc:  # any failure is counted; the pump must keep going
                detail = ""
                if isinstance(exc, urllib.error.HTTPError):  # the API's reason, e.g. "no worker"
                    detail = exc.read().decode(errors="replace")[:200]
                with self._lock:
                    self.failed += 1
                    self.last_error = f"{type(exc).__name__}: {exc} {detail}".strip()
                self._stop.wait(0.5)
            else:
                with self._lock:
                    self.by_worker[worker_id] = self.by_worker.get(worker_id, 0) + 1
            i += 1


# --- socket inspection -------------------------------------------------------


def net_connections(proc: psutil.Process) -> list[Any]:
    """The process's own inet sockets (psutil >= 6 renamed connections() to net_connections())."""
    method = getattr(proc, "net_connections", None) or proc.connections
    return list(method(kind="inet"))


def protocol_of(conn: Any) -> str:
    base = "tcp" if conn.type == socket.SOCK_STREAM else "udp"
    return base + ("6" if conn.family == socket.AF_INET6 else "")


def plain_ip(ip: str) -> str:
    return ip.removeprefix("::ffff:")


def self_test() -> None:
    """Positive control: psutil must see this process's own listening TCP and bound UDP socket."""
    with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        tcp.bind(("127.0.0.1", 0))
        tcp.listen(1)
        udp.bind(("127.0.0.1", 0))
        want = {("tcp", tcp.getsockname()[1]), ("udp", udp.getsockname()[1])}
        try:
            seen = {(protocol_of(c), c.laddr.port) for c in net_connections(psutil.Process()) if c.laddr}
        except psutil.Error as exc:
            raise CannotVerify(f"psutil cannot read this process's sockets: {exc!r}") from None
    if not want <= seen:
        raise CannotVerify(f"psutil does not report a known listening/bound socket ({sorted(want - seen)})")


@dataclass
class Worker:
    worker_id: str
    started: Started
    registered_pid: int | None = None
    api_link_seen: bool = False
    most_processes: int = 0  # the largest tree sampled: the worker plus its descendants

    def summary(self) -> dict[str, Any]:
        return {"id": self.worker_id, "pid": self.started.pid, "registered_pid": self.registered_pid,
                "api_link_seen": self.api_link_seen, "processes_checked": self.most_processes,
                "log": str(self.started.log_path)}


class Inspector:
    """Samples the sockets of worker process trees and records what it finds in the report."""

    def __init__(self, report: Report, api_port: int, api_ips: set[str]) -> None:
        self.report = report
        self.api_port = api_port
        self.api_ips = {plain_ip(ip) for ip in api_ips}

    def sample(self, scenario: ScenarioResult, workers: list[Worker]) -> None:
        for worker in workers:
            self._inspect(scenario, worker)
        scenario.samples += 1

    def _inspect(self, scenario: ScenarioResult, worker: Worker) -> None:
        started = worker.started
        if started.popen.poll() is not None:
            raise started.died()
        try:
            procs = started.tree()
        except psutil.NoSuchProcess:
            raise started.died() from None
        worker.most_processes = max(worker.most_processes, len(procs))
        for proc in procs:
            try:
                conns = net_connections(proc)
                name = proc.name()
            except psutil.AccessDenied:
                raise CannotVerify(f"access denied reading the sockets of pid {proc.pid} (worker "
                                   f"{worker.worker_id}); run as the user who owns the workers") from None
            except psutil.NoSuchProcess:
                if proc.pid == started.pid:
                    raise started.died() from None
                continue  # a short-lived descendant that has already exited
            for conn in conns:
                self._classify(scenario, worker, proc.pid, name, conn)

    def _classify(self, scenario: ScenarioResult, worker: Worker, pid: int, name: str, conn: Any) -> None:
        protocol = protocol_of(conn)
        laddr = conn.laddr or None
        raddr = conn.raddr or None
        remote = host_port(raddr.ip, raddr.port) if raddr else ""
        if conn.type == socket.SOCK_DGRAM or conn.status == psutil.CONN_LISTEN:
            status = "LISTEN" if conn.type == socket.SOCK_STREAM else "bound"
            found = Violation(scenario.name, worker.worker_id, pid, name, protocol, status,
                              laddr.ip if laddr else "?", laddr.port if laddr else 0, remote)
            if self.report.violation(found):
                scenario.violations += 1
                note(f"VIOLATION [{scenario.name}] {found.describe()}")
            return
        to_api = raddr is not None and raddr.port == self.api_port and (
            not self.api_ips or plain_ip(raddr.ip) in self.api_ips)
        if to_api:
            worker.api_link_seen = True
            return
        local = host_port(laddr.ip, laddr.port) if laddr else "?"
        self.report.warn(f"[{scenario.name}] worker {worker.worker_id} pid {pid} ({name}): unexpected "
                         f"{protocol} connection {conn.status} {local} -> {remote or 'nowhere'} "
                         f"(only the link to the API's port {self.api_port} is expected)")


# --- the run ---------------------------------------------------------------


@dataclass
class Context:
    args: argparse.Namespace
    report: Report
    launcher: Launcher
    api: ApiClient
    worker_token: str
    worker_cmd: list[str]
    inspector: Inspector
    api_process: Started | None = None
    run_id: str = field(default_factory=lambda: secrets.token_hex(3))

    def start_worker(self, scenario: str, n: int) -> Worker:
        worker_id = f"portcheck-{self.run_id}-{scenario}-{n}"
        env = base_env(API_URL=self.api.url, WORKER_ID=worker_id, WORKER_TOKEN=self.worker_token,
                       SHUTDOWN_TIMEOUT="3")
        return Worker(worker_id, self.launcher.start(worker_id, "worker", self.worker_cmd, WORKER_DIR, env))

    def check_api_alive(self) -> None:
        if self.api_process is not None and self.api_process.popen.poll() is not None:
            raise self.api_process.died()

    def wait_registered(self, scenario: ScenarioResult, workers: list[Worker]) -> None:
        """Sample while waiting (a listener opened at start-up counts too) until all are listed."""
        timeout = self.args.timeout
        deadline = time.monotonic() + timeout
        why = ""
        while True:
            self.check_api_alive()
            self.inspector.sample(scenario, workers)
            try:
                listed = {w.get("id"): w for w in self.api.workers() if w.get("status") != "offline"}
            except (OSError, ValueError) as exc:
                listed, why = {}, f"GET /api/workers failed: {exc}"
            pending = []
            for worker in workers:
                entry = listed.get(worker.worker_id)
                tree = {p.pid for p in _alive_tree(worker.started)}
                if entry is None:
                    pending.append(worker)
                elif entry.get("pid") not in tree:
                    why = (f"the API lists {worker.worker_id} with pid {entry.get('pid')}, which is neither "
                           f"the process started (pid {worker.started.pid}) nor one of its descendants")
                    pending.append(worker)
                else:
                    worker.registered_pid = int(entry["pid"])
            if not pending:
                return
            if time.monotonic() > deadline:
                names = ", ".join(f"{w.worker_id} (pid {w.started.pid})" for w in pending)
                tails = "\n".join(f"  {w.worker_id}:\n{w.started.log_tail()}" for w in pending)
                raise CannotVerify(f"the API did not list {names} within {timeout:g} s. {why}\n{tails}")
            time.sleep(0.25)


def _alive_tree(started: Started) -> list[psutil.Process]:
    try:
        return started.tree()
    except psutil.NoSuchProcess:
        return []


def run_scenario(ctx: Context, name: str, count: int, reuse: list[Worker] | None = None,
                 keep: bool = False) -> list[Worker]:
    """Start `count` workers (or sample `reuse`, already listed), sample them, and stop them.

    With `keep`, workers that passed are handed back running for the next scenario
    instead: `all` samples the same N workers idle, then while jobs run, which saves
    a round of start-ups (each loads the face models).
    """
    result = ScenarioResult(name, reused_workers=bool(reuse))
    ctx.report.scenarios.append(result)
    jobs = " with echo jobs running" if name == "jobs" else ""
    note(f"scenario {name}: {count} worker(s){jobs}{' (the same ones)' if reuse else ''}")
    workers: list[Worker] = list(reuse or [])
    pump: JobPump | None = None
    began = time.monotonic()
    try:
        ctx.check_api_alive()
        if not workers:
            for n in range(1, count + 1):
                workers.append(ctx.start_worker(name, n))
            ctx.wait_registered(result, workers)
            listed = ", ".join(f"{w.worker_id} (pid {w.registered_pid})" for w in workers)
            note(f"scenario {name}: API lists {listed}")
        if name == "jobs":
            pump = JobPump(ctx.api, threads=count + 1)  # one more than slots: the queue never runs dry
            pump.start()
        ours = {w.worker_id for w in workers}
        sampling_until = time.monotonic() + ctx.args.duration
        hard_stop = sampling_until + ctx.args.timeout
        while True:
            ctx.check_api_alive()
            ctx.inspector.sample(result, workers)
            now = time.monotonic()
            jobs_ran = pump is None or pump.completed_on(ours) > 0
            if (now >= sampling_until and jobs_ran) or now >= hard_stop:
                break
            time.sleep(ctx.args.interval)
        if pump is not None and pump.completed_on(ours) == 0:
            raise CannotVerify(f"none of this check's workers completed an echo job within "
                               f"{ctx.args.duration + ctx.args.timeout:g} s "
                               f"(last error: {pump.last_error or 'none'})")
        unseen = [w.worker_id for w in workers if not w.api_link_seen]
        if unseen:
            raise CannotVerify(f"psutil never saw the link of {', '.join(unseen)} to the API's port "
                               f"{ctx.api.port}: their sockets may be hidden from this user")
        result.finished = True
    except CannotVerify as exc:
        result.errors.append(str(exc))
        ctx.report.errors.append(f"[{name}] {exc}")
        note(f"scenario {name}: CANNOT VERIFY: {exc}")
    finally:
        if pump is not None:
            pump.stop()
            result.jobs_completed, result.jobs_failed = pump.completed, pump.failed
            result.jobs_by_worker = dict(pump.by_worker)
        result.workers = [w.summary() for w in workers]
        handing_on = keep and result.finished
        if workers and not handing_on:
            note(f"scenario {name}: stopping {len(workers)} worker(s)")
            ctx.launcher.stop(*(w.started for w in workers))
            for worker in workers:
                _scan_log(ctx.report, name, worker)
        result.seconds = round(time.monotonic() - began, 2)
    if pump is not None:
        ran = result.jobs_by_worker or {}
        idle = [w.worker_id for w in workers if w.worker_id not in ran]
        if idle and not result.errors:
            ctx.report.warn(f"[{name}] no echo job ran on {', '.join(idle)} (the API chose other workers)")
    return workers if handing_on else []


def _scan_log(report: Report, scenario: str, worker: Worker) -> None:
    try:
        lines = worker.started.log_path.read_text(errors="replace").splitlines()
    except OSError:
        return
    for line in lines:
        if LOG_HINT.search(line):
            report.warn(f"[{scenario}] worker {worker.worker_id} logged a sign of a server: "
                        f"{line.strip()[:200]}")


def start_api(
    args: argparse.Namespace, report: Report, launcher: Launcher, data_dir: Path
) -> tuple[ApiClient, str, Started]:
    """Start the API on a free loopback port with fresh secrets; retry if the port was taken meanwhile."""
    # Hex secrets: the API refuses values containing placeholder words, which hex cannot spell.
    api_key, worker_token = secrets.token_hex(24), secrets.token_hex(24)
    for attempt in range(1, 4):
        port = free_port()
        env = base_env(API_HOST="127.0.0.1", API_PORT=str(port), DATA_DIR=str(data_dir), DATABASE_URL="",
                       API_KEY=api_key, WORKER_TOKEN=worker_token)
        api = ApiClient(f"http://127.0.0.1:{port}", api_key)
        started = launcher.start(f"api-{attempt}", "api", [default_python(), "-m", "app.main"], API_DIR, env)
        note(f"starting the API on 127.0.0.1:{port} (pid {started.pid})")
        deadline = time.monotonic() + args.timeout
        while started.popen.poll() is None and not api.healthy():
            if time.monotonic() > deadline:
                raise CannotVerify(f"the API did not answer /health within {args.timeout:g} s; log:\n"
                                   f"{started.log_tail()}")
            time.sleep(0.2)
        if started.popen.poll() is None:
            _check_api_listens(started, port)
            report.api_url, report.api_started_here, report.api_pid = api.url, True, started.pid
            return api, worker_token, started
        log = started.log_tail(40)
        launcher.stop(started)
        if "address already in use" not in log.lower():
            raise CannotVerify(f"the API exited at start-up; log:\n{log}")
    raise CannotVerify("the API could not bind a free port in 3 attempts")


def _check_api_listens(started: Started, port: int) -> None:
    """Positive control: psutil must see the API's own listening socket, under the API's pid."""
    for _ in range(20):
        for proc in _alive_tree(started):
            try:
                if any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
                       for c in net_connections(proc)):
                    return
            except psutil.AccessDenied:
                raise CannotVerify(f"access denied reading the API's sockets (pid {proc.pid})") from None
            except psutil.NoSuchProcess:
                continue
        time.sleep(0.1)
    raise CannotVerify(f"psutil does not show the API (pid {started.pid}) listening on port {port}: "
                       "it would not see a worker's listening socket either")


def use_running_api(args: argparse.Namespace, report: Report) -> tuple[ApiClient, str]:
    dotenv = read_dotenv(REPO / ".env")
    api_key = os.environ.get("API_KEY") or dotenv.get("API_KEY", "")
    worker_token = os.environ.get("WORKER_TOKEN") or dotenv.get("WORKER_TOKEN", "")
    missing = [n for n, v in (("API_KEY", api_key), ("WORKER_TOKEN", worker_token)) if not v]
    if missing:
        raise CannotVerify(f"--api-url needs {' and '.join(missing)} in the environment or {REPO / '.env'}")
    api = ApiClient(args.api_url, api_key)
    report.api_url = api.url
    deadline = time.monotonic() + min(args.timeout, 10.0)
    while not api.healthy():
        if time.monotonic() > deadline:
            raise CannotVerify(f"no API answers {api.url}/health")
        time.sleep(0.5)
    api.workers()  # fails now, clearly, if API_KEY is wrong
    note(f"using the running API at {api.url}")
    return api, worker_token


def print_summary(report: Report, out: Any) -> None:
    def say(line: str = "") -> None:
        print(line, file=out)

    say("FaceGrid worker port check")
    where = f"started here, pid {report.api_pid}" if report.api_started_here else "already running"
    say(f"  API: {report.api_url or '-'} ({where})")
    for s in report.scenarios:
        line = (f"  [{s.status.upper().replace('_', ' ')}] {s.name}: {len(s.workers)} worker(s), "
                f"{s.samples} sample(s) in {s.seconds:.1f} s, {s.violations} listening/bound socket(s)")
        if s.jobs_completed is not None:
            per = ", ".join(f"{k}: {v}" for k, v in sorted((s.jobs_by_worker or {}).items()))
            line += f", {s.jobs_completed} echo job(s) done ({per or 'none'}), {s.jobs_failed} failed"
        say(line)
    for v in report.violations:
        say(f"  VIOLATION [{v.scenario}] {v.describe()} (seen in {v.samples} sample(s))")
    for w in report.warnings:
        say(f"  warning: {w}")
    for e in report.errors:
        say(f"  cannot verify: {e}")
    code = report.exit_code()
    verdict = {
        EXIT_PASS: "PASS: no worker process or descendant had a listening TCP or bound UDP socket",
        EXIT_VIOLATION: "FAIL: a worker process (or a descendant) had a listening TCP or bound UDP socket",
        EXIT_CANNOT_VERIFY: "CANNOT VERIFY: the check could not be completed (see above)",
    }[code]
    say(f"RESULT: {verdict} (exit {code}, {report.seconds:.1f} s)")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Exit codes: 0 pass, 1 listening/bound port found, 2 cannot verify.",
    )
    parser.add_argument("--workers", type=int, default=3, help="workers started at once (default 3)")
    parser.add_argument("--duration", type=float, default=5.0,
                        help="seconds to keep sampling per scenario once workers are listed (default 5)")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between samples (default 0.5)")
    # Workers load and self-test the face models before they register: allow for a busy machine.
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds to wait for the API and for registration (default 60)")
    parser.add_argument("--scenario", choices=(*SCENARIOS, "all"), default="all",
                        help="single: one worker; multiple: N at once; jobs: N while echo jobs run; "
                        "all (default)")
    parser.add_argument("--api-url",
                        help="use this running API (API_KEY, WORKER_TOKEN from env or the root .env)")
    parser.add_argument("--worker-cmd",
                        help="worker command, run in apps/worker (default: venv python -m app.main)")
    parser.add_argument("--log-dir", type=Path, help="keep the API's and workers' logs here")
    parser.add_argument("--json", action="store_true",
                        help="print a JSON report on stdout (the summary goes to stderr)")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.duration < 0 or args.interval <= 0 or args.timeout <= 0:
        parser.error("--duration must be >= 0, --interval and --timeout > 0")
    return args


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise Interrupted(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = Report()
    began = time.monotonic()
    out = sys.stderr if args.json else sys.stdout
    if psutil is None:
        report.errors.append("psutil is not installed (pip install 'psutil>=6'); cannot inspect sockets")
        _finish(report, args, out, began)
        return report.exit_code()
    worker_cmd = (shlex.split(args.worker_cmd, posix=os.name != "nt") if args.worker_cmd
                  else [default_python(), "-m", "app.main"])
    report.worker_cmd = worker_cmd
    # Even when started in the background with SIGINT ignored, Ctrl-C / SIGINT must clean up.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _interrupt)
    work = Path(tempfile.mkdtemp(prefix="facegrid-portcheck-"))
    log_dir = args.log_dir or work / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    launcher = Launcher(log_dir)
    try:
        self_test()
        api_process = None
        if args.api_url:
            api, worker_token = use_running_api(args, report)
        else:
            api, worker_token, api_process = start_api(args, report, launcher, work / "data")
        inspector = Inspector(report, api.port, {"127.0.0.1"} if api_process else api.addresses())
        ctx = Context(args, report, launcher, api, worker_token, worker_cmd, inspector, api_process)
        names = SCENARIOS if args.scenario == "all" else (args.scenario,)
        running: list[Worker] = []
        for name in names:
            ctx.check_api_alive()
            keep = name == "multiple" and "jobs" in names
            running = run_scenario(ctx, name, 1 if name == "single" else args.workers, running, keep)
    except CannotVerify as exc:
        report.errors.append(str(exc))
    except (KeyboardInterrupt, Interrupted) as exc:
        report.errors.append(f"interrupted ({str(exc) or 'SIGINT'}) before the check finished")
    except Exception as exc:  # an unexpected failure is reported, never mistaken for a pass
        traceback.print_exc()
        report.errors.append(f"unexpected error: {type(exc).__name__}: {exc}")
    finally:
        # A second Ctrl-C must not leave processes behind: ignore it while cleaning up.
        for name in ("SIGINT", "SIGTERM", "SIGHUP"):
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), signal.SIG_IGN)
        launcher.close()
        shutil.rmtree(work, ignore_errors=True)
    _finish(report, args, out, began)
    return report.exit_code()


def _finish(report: Report, args: argparse.Namespace, out: Any, began: float) -> None:
    report.seconds = time.monotonic() - began
    print_summary(report, out)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))


if __name__ == "__main__":
    sys.exit(main())
