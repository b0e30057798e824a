"""Throughput and latency of ``POST /api/recognize`` through real workers, beside the in-process pipeline.

Starts a real API and two real workers (``MAX_JOBS=1`` each, the worker's default
detector settings: HOG, upsample 1, detect max side 960), enrolls Obama from
``obama.jpg`` and ``obama2.jpg``, then measures, interleaved round by round so
that machine noise falls on every path alike:

* ``in-process``     -- :class:`FacePipeline` called in this process, one thread (the floor);
* ``1 worker  c=1``  -- sequential requests, the second worker drained (``POST /api/workers/w2/drain``);
* ``1 worker  c=2``  -- two requests in flight: the API queues one while the worker runs the other;
* ``2 workers c=2`` and ``c=4`` -- both workers taking jobs.

Each request sends one sample photo, round robin. Throughput is images over wall
time (a pass's tail, when fewer requests than clients are left, included);
latency is per request as the client sees it. CPU seconds per image are split
between the API, the workers (parent and face-engine children), this process and
everything else on the machine, which says what limits a ratio below its target.

    python bench/recognize_throughput.py               # 3 rounds of 2 sweeps over the photos
    python bench/recognize_throughput.py --rounds 5
    python bench/recognize_throughput.py --quick       # 1 round of 1 sweep: a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx
import psutil
from pipeline_inprocess import make_pipeline, run_inprocess, sample_images
from stack import Api, Stack, Worker, percentile

# The worker's defaults (apps/worker/app/config.py), set explicitly on both sides.
DETECTOR = "hog"
UPSAMPLE = 1
MAX_SIDE = 960
WORKER_ENV = {
    "MAX_JOBS": "1",
    "DETECTOR": DETECTOR,
    "DETECT_UPSAMPLE": str(UPSAMPLE),
    "DETECT_MAX_SIDE": str(MAX_SIDE),
}
ENROLL = ("obama.jpg", "obama2.jpg")
PERSON = "Barack Obama"

INPROC = "in-process"
W1C1, W1C2, W2C2, W2C4 = "1 worker  c=1", "1 worker  c=2", "2 workers c=2", "2 workers c=4"
MODES: list[tuple[str, int, int]] = [(W1C1, 1, 1), (W1C2, 1, 2), (W2C2, 2, 2), (W2C4, 2, 4)]
"""(label, workers taking jobs, requests in flight)"""

Image = tuple[str, bytes]


# --- CPU accounting ---------------------------------------------------------


class CpuMeter:
    """CPU seconds used by the API, the workers (with their children), this process and the machine."""

    def __init__(self, api: Api, workers: list[Worker]) -> None:
        self.api = psutil.Process(api.pid)
        self.workers = [psutil.Process(w.pid) for w in workers]
        self.me = psutil.Process()

    @staticmethod
    def _cpu(procs: list[psutil.Process]) -> float:
        total = 0.0
        for p in procs:
            try:
                t = p.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += t.user + t.system
        return total

    def snapshot(self) -> dict[str, float]:
        machine = psutil.cpu_times()
        engines = [child for w in self.workers for child in w.children(recursive=True)]
        return {
            "api": self._cpu([self.api]),
            "worker": self._cpu(self.workers),  # the socket side: receives images, relays to engines
            "engines": self._cpu(engines),  # face-engine child processes (and resource trackers)
            "bench": self._cpu([self.me]),
            "machine": machine.user + machine.nice + machine.system + machine.irq + machine.softirq,
        }

    @staticmethod
    def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        used = {k: after[k] - before[k] for k in before}
        ours = used["api"] + used["worker"] + used["engines"] + used["bench"]
        used["other"] = max(0.0, used["machine"] - ours)
        return used


# --- results ----------------------------------------------------------------


@dataclass
class Mode:
    """Everything measured for one way of running the images, summed over rounds."""

    label: str
    seconds: list[float] = field(default_factory=list)
    wall: float = 0.0
    faces: int = 0
    errors: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        return len(self.seconds) / self.wall if self.wall else 0.0

    def add_cpu(self, used: dict[str, float]) -> None:
        for key, value in used.items():
            self.cpu[key] = self.cpu.get(key, 0.0) + value

    def line(self) -> str:
        ms = [s * 1000 for s in self.seconds]
        return (
            f"  {self.label:15s} {self.throughput:5.2f} images/s   p50 {percentile(ms, 50):7.1f} ms"
            f"   p99 {percentile(ms, 99):7.1f} ms   ({len(ms)} images, {self.faces} faces"
            f"{f', {len(self.errors)} errors' if self.errors else ''})"
        )

    def cpu_line(self) -> str:
        n = len(self.seconds) or 1
        per = {k: v / n * 1000 for k, v in self.cpu.items()}
        wall = self.wall or 1.0
        busy = self.cpu.get("machine", 0.0) / (wall * (os.cpu_count() or 1)) * 100
        ours = sum(self.cpu.get(k, 0.0) for k in ("engines", "worker", "api", "bench")) / wall
        return (
            f"  {self.label:15s} engines {per['engines']:4.0f}  worker {per['worker']:3.0f}"
            f"  API {per['api']:3.0f}  bench {per['bench']:4.0f}  other processes {per['other']:5.0f}"
            f"   | cores: ours {ours:4.2f}, others {self.cpu.get('other', 0.0) / wall:4.2f}"
            f" (machine {busy:3.0f}% busy)"
        )


# --- the HTTP side ------------------------------------------------------------


async def recognize(client: httpx.AsyncClient, image: Image) -> dict[str, Any]:
    name, data = image
    response = await client.post("/api/recognize", files={"file": (name, data)})
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


async def drive(client: httpx.AsyncClient, work: list[Image], concurrency: int, mode: Mode) -> None:
    """Send ``work`` with ``concurrency`` requests in flight; record each request's latency."""
    queue = deque(work)

    async def one_client() -> None:
        while queue:
            image = queue.popleft()
            started = time.perf_counter()
            try:
                body = await recognize(client, image)
            except httpx.HTTPError as exc:
                detail = exc.response.text[:200] if isinstance(exc, httpx.HTTPStatusError) else ""
                mode.errors.append(f"{image[0]}: {exc!r} {detail}")
                continue
            mode.seconds.append(time.perf_counter() - started)
            mode.faces += len(body["faces"])

    started = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(concurrency)))
    mode.wall += time.perf_counter() - started


async def enroll(client: httpx.AsyncClient, images: dict[str, bytes]) -> int:
    response = await client.post("/api/persons", json={"name": PERSON})
    response.raise_for_status()
    person_id = int(response.json()["id"])
    files = [("files", (name, images[name])) for name in ENROLL]
    response = await client.post(f"/api/persons/{person_id}/faces", files=files)
    response.raise_for_status()
    result = response.json()
    if result["enrolled"] != len(ENROLL):
        raise SystemExit(f"enrollment refused a photo: {result}")
    return person_id


async def set_active(client: httpx.AsyncClient, spare: Worker, active: bool) -> None:
    """Let the second worker take jobs, or drain it (the API then sends it none)."""
    response = await client.post(f"/api/workers/{spare.id}/{'resume' if active else 'drain'}")
    response.raise_for_status()


# --- the run ------------------------------------------------------------------


async def measure(api: Api, workers: list[Worker], images: list[Image], rounds: int, sweeps: int) -> None:
    pipeline = make_pipeline(detector=DETECTOR, upsample=UPSAMPLE, detection_max_side=MAX_SIDE)
    meter = CpuMeter(api, workers)
    work = [img for _ in range(sweeps) for img in images]
    results = {label: Mode(label) for label in [INPROC, *(m[0] for m in MODES)]}
    headers = {"X-API-Key": api.api_key}
    limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
    async with httpx.AsyncClient(base_url=api.url, headers=headers, timeout=120, limits=limits) as client:
        await enroll(client, dict(images))
        # Warm-up: every worker child and this process's pipeline run a first image.
        pipeline.analyze(images[0][1])
        await asyncio.gather(*(recognize(client, images[i % len(images)]) for i in range(4)))
        print("matches (threshold 0.6):")
        for image in images:
            body = await recognize(client, image)
            found = [
                f"{f['match']['name']} {f['match']['distance']:.3f}" if f["match"] else "unknown"
                for f in body["faces"]
            ]
            print(f"  {image[0]:26s} {', '.join(found) or 'no face'}")

        active = 2
        for r in range(rounds):
            steps: list[tuple[str, int, int]] = [(INPROC, 0, 1), *MODES]
            shift = r % len(steps)  # rotate the order: no path always runs first or last in a round
            for label, count, concurrency in steps[shift:] + steps[:shift]:
                if count and count != active:
                    await set_active(client, workers[1], count == 2)
                    active = count
                mode = results[label]
                before = meter.snapshot()
                if count == 0:
                    run = run_inprocess(pipeline, [d for _, d in work], rounds=1, threads=1)
                    mode.seconds += run.seconds
                    mode.wall += run.wall
                    mode.faces += run.faces
                else:
                    await drive(client, work, concurrency, mode)
                mode.add_cpu(CpuMeter.delta(before, meter.snapshot()))
            print(f"round {r + 1}/{rounds} done")
        if active != 2:
            await set_active(client, workers[1], True)
    report(results, len(work), rounds)


def report(results: dict[str, Mode], per_pass: int, rounds: int) -> None:
    print(f"\n{rounds} round(s) x {per_pass} images per path, interleaved; HOG upsample 1, max side 960")
    for mode in results.values():
        print(mode.line())
    print("\nCPU milliseconds per image, by process; cores = CPU seconds per wall second:")
    for mode in results.values():
        print(mode.cpu_line())

    def ratio(a: str, b: str) -> float:
        return results[a].throughput / results[b].throughput if results[b].throughput else 0.0

    print("\nratios of throughput:")
    print(f"  1 worker c=1  / in-process    {ratio(W1C1, INPROC):5.2f}x   (target >= 0.9x)")
    print(f"  1 worker c=2  / in-process    {ratio(W1C2, INPROC):5.2f}x   (requests pipelined in the API)")
    print(f"  2 workers c=2 / 1 worker c=1  {ratio(W2C2, W1C1):5.2f}x")
    print(f"  2 workers c=4 / 1 worker c=2  {ratio(W2C4, W1C2):5.2f}x   (target >= 1.8x: both saturated)")

    # What the CPU cost per image allows, had this run's processes the machine to themselves.
    def per_image(label: str, *keys: str) -> float:
        mode = results[label]
        return sum(mode.cpu.get(k, 0.0) for k in keys) / max(1, len(mode.seconds))

    cores = os.cpu_count() or 1
    inproc = per_image(INPROC, "bench")
    serial = per_image(W1C1, "engines", "worker", "api", "bench")  # c=1: each step waits for the last
    engine = per_image(W1C2, "engines")  # c=2: the API's work overlaps; one engine process bounds it
    shared = per_image(W2C4, "engines", "worker", "api", "bench")  # c=4: everything shares the cores
    if inproc and serial and engine and shared:
        one, two = 1 / engine, min(2, cores) / shared
        print(
            f"ceilings from CPU per image (others' load does not enter them): 1 worker c=1 / in-process"
            f" <= {inproc / serial:.2f}x (CPU {serial * 1000:.0f} vs {inproc * 1000:.0f} ms per image);"
            f" 2 workers / 1 worker <= {two / one:.2f}x on {cores} cores"
            f" ({two:.2f} vs {one:.2f} images/s: the API's {per_image(W2C4, 'api') * 1000:.0f} ms"
            f" and the workers' {per_image(W2C4, 'worker') * 1000:.0f} ms per image share the cores)"
        )
    errors = [e for m in results.values() for e in m.errors]
    if errors:
        print(f"\n{len(errors)} failed request(s):")
        for line in errors[:10]:
            print(f"  {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--sweeps", type=int, default=2, help="sweeps over the photos per path per round")
    parser.add_argument("--quick", action="store_true", help="1 round of 1 sweep")
    parser.add_argument("--keep", action="store_true", help="keep the process logs")
    args = parser.parse_args()
    rounds, sweeps = (1, 1) if args.quick else (args.rounds, args.sweeps)

    images = sample_images()
    print(f"{len(images)} sample photos: {', '.join(n for n, _ in images)}; {os.cpu_count()} CPUs")
    started = time.perf_counter()
    with Stack(keep=args.keep) as stack:
        api = stack.start_api()
        workers = [stack.start_worker(api, f"w{i}", **WORKER_ENV) for i in (1, 2)]
        for worker in workers:
            worker.wait_registered(timeout=120)
        print(f"API and 2 workers up in {time.perf_counter() - started:.1f} s")
        asyncio.run(measure(api, workers, images, rounds, sweeps))
        stack.report()
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
