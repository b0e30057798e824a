"""The processes of one benchmark run: real API and workers (from tests/harness.py) and baselines.

A :class:`Stack` owns one temporary directory and every process started in it;
leaving its ``with`` block stops them in reverse order of start (workers before
their API) and removes the directory unless asked to keep it. Each process logs
to a file there, so a benchmark can show the warnings and errors it provoked.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from types import TracebackType

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the end-to-end tests' harness starts processes the same way

from harness import Api, Proc, Worker, free_port, wait_until  # noqa: E402

HOST = "127.0.0.1"

# Lines worth showing after a run: anything above INFO, and tracebacks.
_PROBLEM = re.compile(r" (WARNING|ERROR|CRITICAL) |Traceback|Exception|Error:")

__all__ = [
    "HOST",
    "REPO",
    "Api",
    "Proc",
    "Stack",
    "Worker",
    "free_port",
    "name_of",
    "percentile",
    "wait_until",
]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def name_of(proc: Proc) -> str:
    return proc.log_path.stem


class Stack:
    """Owns a temp dir and the processes of one benchmark run."""

    def __init__(self, *, keep: bool = False) -> None:
        self.keep = keep
        self.dir = Path(tempfile.mkdtemp(prefix="facegrid-bench-"))
        self.procs: list[Proc] = []

    def start_api(self, **settings: str) -> Api:
        """A real API on a free loopback port, with its own data dir and fresh secrets."""
        home = self.dir / f"api{sum(isinstance(p, Api) for p in self.procs)}"
        home.mkdir()
        api = Api(home, **settings)
        self.procs.append(api)
        api.start()
        return api

    def start_worker(self, api: Api, worker_id: str, **settings: str) -> Worker:
        worker = Worker(api, worker_id, api.data_dir.parent, **settings)
        self.procs.append(worker)
        worker.start()
        return worker

    def start_proc(self, name: str, args: list[str]) -> Proc:
        """Any other child (a baseline server), logging to ``name``.log."""
        proc = Proc(args, REPO, {**os.environ, "PYTHONUNBUFFERED": "1"}, self.dir / f"{name}.log")
        self.procs.append(proc)
        proc.start()
        return proc

    @staticmethod
    def wait_online(api: Api, count: int, timeout: float = 30.0) -> None:
        wait_until(lambda: len(api.online()) >= count, timeout, f"{count} worker(s) to register")

    def stop(self) -> dict[str, int | None]:
        """Stop everything, newest first; returns exit codes by name."""
        return {name_of(p): p.stop() for p in reversed(self.procs)}

    def problems(self) -> dict[str, list[str]]:
        """Warning/error lines per process log."""
        found = {}
        for proc in self.procs:
            lines = [line for line in proc.log().splitlines() if _PROBLEM.search(line)]
            if lines:
                found[name_of(proc)] = lines
        return found

    def report(self, limit: int = 15) -> None:
        """Stop everything and print unexpected exit codes and the warning/error lines logged."""
        codes = self.stop()
        # uvicorn re-raises SIGTERM after its graceful shutdown, so -SIGTERM is a clean exit too.
        bad = {name: code for name, code in codes.items() if code not in (0, None, -signal.SIGTERM)}
        if bad:
            print(f"\nunexpected exit codes: {bad}")
        found = self.problems()
        if not found:
            print("\nprocess logs: no warnings or errors")
        for name, lines in found.items():
            print(f"\nprocess log {name}: {len(lines)} warning/error line(s)")
            for line in lines[:limit]:
                print(f"    {line}")
            if len(lines) > limit:
                print(f"    ... {len(lines) - limit} more")
        if self.keep:
            print(f"\nlogs kept in {self.dir}")

    def __enter__(self) -> Stack:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
