"""A worker's start-up time and memory, with ``MAX_JOBS`` 1 and 2.

Starts a real API, then for each ``MAX_JOBS`` (interleaved over ``--repeats``) one
real worker at a time, and measures:

* start-up: process start -> listed by ``GET /api/workers`` with its pid (models
  loaded and self-test run: the worker registers only after both), split at the
  worker's own log lines ("starting": imports done; "models ready": face engine
  up and self-tested);
* memory of the worker process plus all its children (face-engine processes and
  multiprocessing's resource tracker): RSS, PSS and USS summed (psutil), idle
  after registering and again after ``--recognitions`` ``POST /api/recognize`` sent
  ``MAX_JOBS`` at a time; and how many face-engine processes exist at each point.

    python bench/worker_footprint.py                   # MAX_JOBS 1 and 2, 2 repeats, 20 recognitions
    python bench/worker_footprint.py --repeats 3 --recognitions 40
    python bench/worker_footprint.py --quick           # 1 repeat
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from dataclasses import dataclass, field
from datetime import datetime

import httpx
import psutil
from pipeline_inprocess import sample_images
from stack import Api, Stack, Worker, percentile

ENGINE_MARK = "multiprocessing.spawn"
TRACKER_MARK = "multiprocessing.resource_tracker"


@dataclass
class Memory:
    """Sums over the worker's process tree, in bytes, and what the tree holds."""

    rss: int = 0
    pss: int = 0
    uss: int = 0
    parent_rss: int = 0
    engines: int = 0
    engine_rss: list[int] = field(default_factory=list)

    @classmethod
    def of(cls, pid: int) -> Memory:
        root = psutil.Process(pid)
        memory = cls()
        for proc in [root, *root.children(recursive=True)]:
            try:
                info = proc.memory_full_info()  # rss, pss, uss: reads /proc/PID/smaps
                cmdline = " ".join(proc.cmdline())
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            memory.rss += info.rss
            memory.pss += getattr(info, "pss", 0)
            memory.uss += info.uss
            if proc.pid == pid:
                memory.parent_rss = info.rss
            elif ENGINE_MARK in cmdline and TRACKER_MARK not in cmdline:
                memory.engines += 1
                memory.engine_rss.append(info.rss)
        return memory

    def line(self) -> str:
        mib = 2**20
        engines = ", ".join(f"{r / mib:.0f}" for r in self.engine_rss) or "none"
        return (
            f"RSS {self.rss / mib:6.0f} MiB  PSS {self.pss / mib:6.0f} MiB  USS {self.uss / mib:6.0f} MiB"
            f"   (parent {self.parent_rss / mib:.0f} MiB; {self.engines} engine process(es): {engines} MiB)"
        )


@dataclass
class Sample:
    max_jobs: int
    startup: float
    phases: dict[str, float]
    idle: Memory
    busy: Memory
    latencies: list[float]


def log_times(worker: Worker, started_wall: float) -> dict[str, float]:
    """Seconds from process start to the worker's own start-up log lines."""
    marks = {"imports done": "basic socket-only worker", "models ready": "models ready"}
    found: dict[str, float] = {}
    for line in worker.log().splitlines():
        for name, text in marks.items():
            if name not in found and text in line:
                stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
                found[name] = stamp - started_wall
    return found


def wait_listed(api: Api, worker: Worker, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if not worker.alive():
            raise SystemExit(f"worker {worker.id} exited:\n{worker.log()[-3000:]}")
        info = api.online().get(worker.id)
        if info and info["pid"] == worker.pid:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"worker {worker.id} not registered after {timeout:g} s")
        time.sleep(0.02)


async def recognize_many(
    api: Api, images: list[tuple[str, bytes]], count: int, concurrency: int
) -> list[float]:
    """``count`` recognitions, ``concurrency`` at a time; seconds per request, in order of sending."""
    order = itertools.cycle(images)
    work = [next(order) for _ in range(count)]
    latencies = [0.0] * count
    index = iter(range(count))
    headers = {"X-API-Key": api.api_key}
    async with httpx.AsyncClient(base_url=api.url, headers=headers, timeout=120) as client:

        async def one_client() -> None:
            for i in index:
                name, data = work[i]
                started = time.perf_counter()
                response = await client.post("/api/recognize", files={"file": (name, data)})
                response.raise_for_status()
                latencies[i] = time.perf_counter() - started

        await asyncio.gather(*(one_client() for _ in range(concurrency)))
    return latencies


def measure(
    stack: Stack, api: Api, images: list[tuple[str, bytes]], max_jobs: int, run: int, recognitions: int
) -> Sample:
    worker = Worker(api, f"fp-j{max_jobs}-{run}", api.data_dir.parent, MAX_JOBS=str(max_jobs))
    stack.procs.append(worker)
    started_wall = time.time()
    started = time.perf_counter()
    worker.start()
    wait_listed(api, worker)
    startup = time.perf_counter() - started
    phases = log_times(worker, started_wall)
    time.sleep(1.0)  # let start-up garbage settle before reading memory
    idle = Memory.of(worker.pid)
    latencies = asyncio.run(recognize_many(api, images, recognitions, concurrency=max_jobs))
    time.sleep(0.5)
    busy = Memory.of(worker.pid)
    worker.stop()
    return Sample(max_jobs, startup, phases, idle, busy, latencies)


def report(samples: list[Sample], recognitions: int) -> None:
    for max_jobs in sorted({s.max_jobs for s in samples}):
        mine = [s for s in samples if s.max_jobs == max_jobs]
        print(f"\nMAX_JOBS={max_jobs} ({len(mine)} start(s))")
        for s in mine:
            phases = ", ".join(f"{k} {v:.2f} s" for k, v in s.phases.items())
            print(f"  start-up {s.startup:5.2f} s to registered   ({phases})")
        startups = sorted(s.startup for s in mine)
        print(f"  start-up min {startups[0]:.2f} s, max {startups[-1]:.2f} s")
        for s in mine:
            print(f"  idle                       {s.idle.line()}")
            print(f"  after {recognitions:3d} recognitions   {s.busy.line()}")
        first = [s.latencies[:max_jobs] for s in mine]
        rest = [x for s in mine for x in s.latencies[max_jobs:]]
        firsts = "; ".join(", ".join(f"{x * 1000:.0f}" for x in f) for f in first)
        print(
            f"  recognize latency ({max_jobs} in flight): first request(s) {firsts} ms;"
            f" the rest p50 {percentile(rest, 50) * 1000:.0f} ms, p99 {percentile(rest, 99) * 1000:.0f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-jobs", default="1,2", help="comma-separated MAX_JOBS values")
    parser.add_argument("--repeats", type=int, default=2, help="starts per MAX_JOBS, interleaved")
    parser.add_argument("--recognitions", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="1 repeat")
    parser.add_argument("--keep", action="store_true", help="keep the process logs")
    args = parser.parse_args()
    values = [int(v) for v in args.max_jobs.split(",")]
    repeats = 1 if args.quick else args.repeats

    images = sample_images()
    began = time.perf_counter()
    samples = []
    with Stack(keep=args.keep) as stack:
        api = stack.start_api()
        print(f"API up (pid {api.pid}, RSS {psutil.Process(api.pid).memory_info().rss / 2**20:.0f} MiB)")
        for run in range(repeats):
            for max_jobs in values:
                sample = measure(stack, api, images, max_jobs, run, args.recognitions)
                samples.append(sample)
                print(f"MAX_JOBS={max_jobs} run {run + 1}: registered after {sample.startup:.2f} s")
        print(f"API RSS at the end {psutil.Process(api.pid).memory_info().rss / 2**20:.0f} MiB")
        report(samples, args.recognitions)
        stack.report()
    print(f"\ntotal {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
