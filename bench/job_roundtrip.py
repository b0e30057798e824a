"""Round trip of the trivial `echo` job (HTTP -> API -> worker socket -> API -> HTTP), beside two baselines.

Three paths are measured side by side, in interleaved rounds, in one run:

* ``echo job``  -- ``POST /api/diagnostics/echo`` on a real API with real worker process(es);
* ``bare ws``   -- request/response over one WebSocket between a minimal ``websockets``
  server process and this process (same library, default settings, a job-sized JSON message);
* ``bare http`` -- ``POST /echo`` on a minimal FastAPI app under uvicorn (same defaults as the
  API: uvloop + httptools), through the same kind of persistent httpx client.

The echo job pays for one HTTP exchange *and* one socket exchange plus the API's
dispatch and the worker's handling, so the ratios say how far it is from the
floor each transport sets. Machines are noisy: read the ratios, not the
absolute figures.

    python bench/job_roundtrip.py                    # one worker, MAX_JOBS=1
    python bench/job_roundtrip.py --two-workers      # plus a second API with two workers
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import socket
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import psutil
from pydantic import BaseModel
from stack import HOST, Api, Proc, Stack, free_port, name_of, percentile, wait_until

# --- the baseline servers (run as child processes of this script) ---------


class EchoBody(BaseModel):
    data: Any = None
    delay: float = 0.0


def serve_http(port: int) -> None:
    """A minimal FastAPI app with the echo route's shape, under uvicorn's defaults."""
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/echo")
    async def echo(body: EchoBody) -> dict[str, Any]:
        return {"data": body.data, "worker_id": "bare-http"}

    uvicorn.run(app, host=HOST, port=port, log_level="warning")


def serve_ws(port: int) -> None:
    """A minimal websockets server answering each job-like message with a result-like one."""
    from websockets.asyncio.server import ServerConnection, serve

    async def handler(ws: ServerConnection) -> None:
        async for message in ws:
            job = json.loads(message)
            reply = {"type": "job_result", "job_id": job["job_id"], "result": {"data": job["params"]["data"]}}
            await ws.send(json.dumps(reply))

    async def main() -> None:
        async with serve(handler, HOST, port) as server:
            await server.serve_forever()

    asyncio.run(main())


def spawn_baseline(stack: Stack, mode: str) -> tuple[Proc, int]:
    """Start this script in a server mode on a free port; wait until it accepts connections."""
    port = free_port()
    proc = stack.start_proc(f"bare-{mode}", [sys.executable, __file__, f"--serve-{mode}", str(port)])

    def listening() -> bool:
        if not proc.alive():
            raise RuntimeError(f"bare-{mode} server exited:\n{proc.log()}")
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
        except OSError:
            return False
        return True

    wait_until(listening, 20, f"the bare-{mode} server to listen")
    return proc, port


# --- the paths under test ---------------------------------------------------

Call = Callable[[int], Awaitable[None]]
CLIENT = "client (this process)"


def payload(i: int) -> dict[str, Any]:
    return {"hello": "worker", "seq": i}


class HttpEcho:
    """POST to an echo route through one persistent httpx client; checks the answer."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.url = url
        limits = httpx.Limits(max_connections=256)
        self.client = httpx.AsyncClient(headers=headers, timeout=60.0, limits=limits)
        self.errors: list[str] = []

    async def call(self, i: int) -> None:
        response = await self.client.post(self.url, json={"data": payload(i), "delay": 0})
        if response.status_code != 200:
            self.errors.append(f"{response.status_code} {response.text[:200]}")
        elif response.json()["data"] != payload(i):
            self.errors.append(f"wrong answer: {response.text[:200]}")

    async def close(self) -> None:
        await self.client.aclose()


class WsEcho:
    """One WebSocket; requests carry an id and a reader task resolves the waiting futures."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.errors: list[str] = []
        self._waiting: dict[str, asyncio.Future[Any]] = {}

    async def open(self) -> None:
        from websockets.asyncio.client import connect

        self.ws = await connect(self.url)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            reply = json.loads(message)
            future = self._waiting.pop(reply["job_id"], None)
            if future is not None and not future.done():
                future.set_result(reply["result"]["data"])

    async def call(self, i: int) -> None:
        job_id = uuid.uuid4().hex
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[job_id] = future
        job = {"type": "job", "job_id": job_id, "kind": "echo", "params": {"data": payload(i), "delay": 0}}
        await self.ws.send(json.dumps({**job, "timeout": 30.0}))
        if await asyncio.wait_for(future, 60) != payload(i):
            self.errors.append("wrong answer")

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()


# --- measuring --------------------------------------------------------------


@dataclass
class Runs:
    """Everything measured for one path, accumulated over the rounds."""

    seq_latencies: list[float] = field(default_factory=list)
    seq_time: float = 0.0
    seq_rates: list[float] = field(default_factory=list)
    conc_latencies: list[float] = field(default_factory=list)
    conc_time: float = 0.0
    conc_count: int = 0
    conc_rates: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # process name -> CPU seconds while measured
    requests: int = 0

    @property
    def server_cpu(self) -> float:
        return sum(seconds for name, seconds in self.cpu.items() if name != CLIENT)

    @property
    def seq_rate(self) -> float:
        return len(self.seq_latencies) / self.seq_time

    @property
    def conc_rate(self) -> float:
        return self.conc_count / self.conc_time


@dataclass
class Target:
    """One path under test: how to call it, which processes serve it, what was measured."""

    name: str
    call: Call
    servers: list[Proc]
    errors: list[str]
    runs: Runs = field(default_factory=Runs)

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time so far of each server process of this path, and of this (client) process."""
        procs = {name_of(proc): psutil.Process(proc.pid) for proc in self.servers}
        procs[CLIENT] = psutil.Process()
        return {name: sum(proc.cpu_times()[:2]) for name, proc in procs.items()}


async def sequential(call: Call, n: int, start: int) -> tuple[list[float], float]:
    latencies = []
    began = time.perf_counter()
    for i in range(start, start + n):
        t0 = time.perf_counter()
        await call(i)
        latencies.append(time.perf_counter() - t0)
    return latencies, time.perf_counter() - began


async def concurrent(call: Call, n: int, concurrency: int, start: int) -> tuple[list[float], float]:
    counter = itertools.count(start)
    end = start + n
    latencies: list[float] = []

    async def client() -> None:
        while (i := next(counter)) < end:
            t0 = time.perf_counter()
            await call(i)
            latencies.append(time.perf_counter() - t0)

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies, time.perf_counter() - began


async def measure(paths: list[Target], args: argparse.Namespace) -> None:
    seq_n = itertools.count(1_000_000)
    for path in paths:  # warm-up: imports, pools, JIT-free but cache-warm
        await sequential(path.call, args.warmup, 0)
        await concurrent(path.call, args.warmup, args.concurrency, 0)
    for r in range(args.rounds):
        # Rotate the order each round so drift on a noisy machine spreads over every path.
        for path in paths[r % len(paths) :] + paths[: r % len(paths)]:
            runs = path.runs
            cpu_before = path.cpu_seconds()
            lat, took = await sequential(path.call, args.requests, next(seq_n) * 10_000)
            runs.seq_latencies += lat
            runs.seq_time += took
            runs.seq_rates.append(len(lat) / took)
            n, c = args.concurrent_requests, args.concurrency
            lat, took = await concurrent(path.call, n, c, next(seq_n) * 10_000)
            runs.conc_latencies += lat
            runs.conc_time += took
            runs.conc_count += len(lat)
            runs.conc_rates.append(len(lat) / took)
            for name, seconds in path.cpu_seconds().items():
                runs.cpu[name] = runs.cpu.get(name, 0.0) + seconds - cpu_before[name]
            runs.requests += args.requests + args.concurrent_requests
        print(f"  round {r + 1}/{args.rounds} done", flush=True)


# --- report -----------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.3f}"


def report(paths: list[Target], args: argparse.Namespace) -> None:
    c = args.concurrency
    print(
        f"\n{'path':<22} {'seq p50 ms':>10} {'seq p99 ms':>10} {'seq req/s':>10} {'(rounds min-max)':>17}"
        f" {f'c={c} p50 ms':>11} {f'c={c} p99 ms':>11} {f'c={c} req/s':>10} {'(rounds min-max)':>17}"
        f" {'srv CPU ms/req':>14}"
    )
    for p in paths:
        r = p.runs
        print(
            f"{p.name:<22}"
            f" {ms(percentile(r.seq_latencies, 50)):>10} {ms(percentile(r.seq_latencies, 99)):>10}"
            f" {r.seq_rate:>10.0f} {f'{min(r.seq_rates):.0f}-{max(r.seq_rates):.0f}':>17}"
            f" {ms(percentile(r.conc_latencies, 50)):>11} {ms(percentile(r.conc_latencies, 99)):>11}"
            f" {r.conc_rate:>10.0f} {f'{min(r.conc_rates):.0f}-{max(r.conc_rates):.0f}':>17}"
            f" {r.server_cpu / r.requests * 1000:>14.3f}"
        )

    print("\nCPU per request, by process (user+sys, all phases and rounds)")
    for p in paths:
        per_request = {name: seconds / p.runs.requests * 1000 for name, seconds in p.runs.cpu.items()}
        parts = ", ".join(f"{name} {value:.3f} ms" for name, value in per_request.items())
        print(f"  {p.name:<22} {parts}")

    by_name = {p.name: p.runs for p in paths}
    ws, http = by_name["bare ws"], by_name["bare http"]
    print("\nratios (echo job / baseline; latency >1 = slower, throughput <1 = fewer req/s)")
    print(f"{'':<33} {'seq p50':>8} {'seq p99':>8} {'seq req/s':>9} {f'c={c} p50':>8} {f'c={c} req/s':>9}")
    for p in paths:
        if not p.name.startswith("echo job"):
            continue
        e = p.runs
        for base_name, b in (("bare ws", ws), ("bare http", http)):
            print(
                f"{p.name + ' / ' + base_name:<33}"
                f" {percentile(e.seq_latencies, 50) / percentile(b.seq_latencies, 50):>8.2f}"
                f" {percentile(e.seq_latencies, 99) / percentile(b.seq_latencies, 99):>8.2f}"
                f" {e.seq_rate / b.seq_rate:>9.2f}"
                f" {percentile(e.conc_latencies, 50) / percentile(b.conc_latencies, 50):>8.2f}"
                f" {e.conc_rate / b.conc_rate:>9.2f}"
            )
        floor = percentile(ws.seq_latencies, 50) + percentile(http.seq_latencies, 50)
        extra = percentile(e.seq_latencies, 50) - floor
        print(
            f"{'':<4}seq p50: echo job {ms(percentile(e.seq_latencies, 50)).strip()} ms"
            f" vs bare http + bare ws {ms(floor).strip()} ms"
            f" -> {ms(extra).strip()} ms ({percentile(e.seq_latencies, 50) / floor:.2f}x)"
            " left for dispatch + worker"
        )
    for p in paths:
        if p.errors:
            print(f"\n{p.name}: {len(p.errors)} errors, first: {p.errors[0]}")


# --- main -------------------------------------------------------------------


async def run(args: argparse.Namespace, stack: Stack) -> int:
    paths: list[Target] = []
    closers: list[Callable[[], Awaitable[None]]] = []
    apis: list[Api] = []
    try:
        for count in (1, 2) if args.two_workers else (1,):
            api = stack.start_api(LOG_LEVEL=args.api_log_level)
            apis.append(api)
            workers = [
                stack.start_worker(api, f"bench-{count}w-{n}", MAX_JOBS=str(args.max_jobs))
                for n in range(count)
            ]
            stack.wait_online(api, count)
            http = HttpEcho(f"{api.url}/api/diagnostics/echo", {"X-API-Key": api.api_key})
            closers.append(http.close)
            name = f"echo job, {count} worker{'s' if count > 1 else ''}"
            paths.append(Target(name, http.call, [api, *workers], http.errors))

        ws_proc, ws_port = spawn_baseline(stack, "ws")
        http_proc, http_port = spawn_baseline(stack, "http")
        ws = WsEcho(f"ws://{HOST}:{ws_port}/")
        await ws.open()
        closers.append(ws.close)
        bare_http = HttpEcho(f"http://{HOST}:{http_port}/echo")
        closers.append(bare_http.close)
        paths.append(Target("bare ws", ws.call, [ws_proc], ws.errors))
        paths.append(Target("bare http", bare_http.call, [http_proc], bare_http.errors))

        print(
            f"job_roundtrip: {args.rounds} rounds x ({args.requests} sequential + {args.concurrent_requests}"
            f" at concurrency {args.concurrency}) per path, after {args.warmup} warm-up;"
            f" MAX_JOBS={args.max_jobs}; API LOG_LEVEL={args.api_log_level}; {psutil.cpu_count()} CPUs",
            flush=True,
        )
        await measure(paths, args)
        report(paths, args)
        # How the API spread the jobs (warm-up included): ties between idle workers matter here.
        for api in apis:
            done = {w["id"]: w["jobs_done"] for w in api.online().values()}
            print(f"jobs done per worker ({api.url}): {done}")
    finally:
        for close in closers:
            try:
                await close()
            except Exception as exc:  # best effort: the processes are stopped next anyway
                print(f"closing a client failed: {exc}", file=sys.stderr)
    return 1 if any(p.errors for p in paths) else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Echo-job round trip through a real API + worker,"
        " beside bare WebSocket and bare HTTP baselines.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--requests", type=int, default=500, help="sequential requests per path per round")
    add("--concurrent-requests", type=int, default=500, help="concurrent requests per path per round")
    add("--concurrency", "-c", type=int, default=8, help="requests in flight in the concurrent phase")
    add("--rounds", type=int, default=3, help="interleaved rounds (order rotates each round)")
    add("--warmup", type=int, default=100, help="untimed requests per path before measuring")
    add("--max-jobs", type=int, default=1, help="MAX_JOBS of each worker")
    add("--two-workers", action="store_true", help="also measure a second API with 2 workers, side by side")
    add(
        "--api-log-level",
        default="INFO",
        help="LOG_LEVEL of the API (INFO writes an access-log line per request)",
    )
    add("--keep-logs", action="store_true", help="keep the temp dir with the child logs")
    parser.add_argument("--serve-ws", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--serve-http", type=int, metavar="PORT", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # progress shows through pipes too
    if args.serve_ws:
        serve_ws(args.serve_ws)
        return
    if args.serve_http:
        serve_http(args.serve_http)
        return
    with Stack(keep=args.keep_logs) as stack:
        try:
            code = asyncio.run(run(args, stack))
        finally:
            stack.report()
    raise SystemExit(code)


if __name__ == "__main__":
    main()
