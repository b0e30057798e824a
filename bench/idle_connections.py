"""How many idle workers one API holds, and what each costs it in memory.

Starts a real API, then opens ``--count`` worker connections from this one
process (asyncio + websockets, the library the worker uses). Each registers
with its own id through the protocol package and then behaves like an idle real
worker: a ``Heartbeat(jobs_in_flight=0)`` every heartbeat interval (from a random
phase, as independent workers would be) and the worker's keepalive pings. The
connections are then held longer than the API's heartbeat timeout, watching the
API's own view (``GET /api/workers``) and its RSS.

    python bench/idle_connections.py                 # 500 connections, held 20 s
    python bench/idle_connections.py --count 2000 --hold 30
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import socket
import sys
import time
from dataclasses import dataclass

import httpx
import psutil
from facegrid_protocol import (
    HEADER_PROTOCOL,
    HEADER_WORKER_ID,
    MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
    Capabilities,
    Heartbeat,
    Register,
    Registered,
    decode,
    encode,
)
from stack import Api, Stack, percentile
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

# The real worker's keepalive settings (apps/worker/app/worker_client.py).
KEEPALIVE_INTERVAL = 5.0
KEEPALIVE_TIMEOUT = 10.0
OPEN_TIMEOUT = 30.0


def raise_fd_limit(needed: int) -> tuple[int, int]:
    """Raise this process's soft RLIMIT_NOFILE (children inherit it); returns (soft, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


@dataclass
class IdleWorker:
    """One fake idle worker: registers, heartbeats, and records how its connection ends."""

    worker_id: str
    url: str
    token: str
    keepalive: bool
    connect_seconds: float | None = None
    error: str | None = None
    closed_at: float | None = None
    close_reason: str | None = None
    heartbeats: int = 0
    registered_at: float = 0.0
    interval: float = 5.0
    timeout: float = 15.0
    ws: ClientConnection | None = None
    stopping: bool = False

    @property
    def registered(self) -> bool:
        return self.connect_seconds is not None

    @property
    def open(self) -> bool:
        return self.registered and self.closed_at is None

    def _register(self) -> Register:
        return Register(
            worker_id=self.worker_id,
            hostname=socket.gethostname(),
            pid=0,
            version="bench",
            protocol_version=PROTOCOL_VERSION,
            capabilities=Capabilities(job_types=["echo"], max_jobs=1, max_cameras=0, cpu_count=1),
        )

    async def connect(self) -> None:
        headers = {
            "Authorization": f"Bearer {self.token}",
            HEADER_WORKER_ID: self.worker_id,
            HEADER_PROTOCOL: str(PROTOCOL_VERSION),
        }
        began = time.perf_counter()
        try:
            self.ws = await connect(
                self.url,
                additional_headers=headers,
                max_size=MAX_MESSAGE_BYTES,
                open_timeout=OPEN_TIMEOUT,
                ping_interval=KEEPALIVE_INTERVAL if self.keepalive else None,
                ping_timeout=KEEPALIVE_TIMEOUT if self.keepalive else None,
            )
            await self.ws.send(encode(self._register()))
            reply = decode(await asyncio.wait_for(self.ws.recv(), OPEN_TIMEOUT)).message
            if not isinstance(reply, Registered):
                raise RuntimeError(f"expected 'registered', got {reply.type!r}")
        except Exception as exc:  # recorded and reported: one failure must not stop the others
            self.error = f"{type(exc).__name__}: {exc}"
            if self.ws is not None:
                await self.ws.close()
            return
        self.connect_seconds = time.perf_counter() - began
        self.interval = reply.heartbeat_interval
        self.timeout = reply.heartbeat_timeout

    async def serve(self) -> None:
        """Heartbeat until the connection ends; note when and why it ended."""
        assert self.ws is not None
        beat = asyncio.create_task(self._beat(self.ws))
        try:
            async for message in self.ws:
                self.close_reason = f"unexpected message: {str(message)[:80]}"
        except ConnectionClosed:
            pass
        finally:
            beat.cancel()
        if not self.stopping:
            self.closed_at = time.monotonic()
            rcvd = self.ws.protocol.close_rcvd
            self.close_reason = self.close_reason or (
                f"close {rcvd.code} {rcvd.reason}" if rcvd else f"lost: {self.ws.close_code}"
            )

    async def _beat(self, ws: ClientConnection) -> None:
        await asyncio.sleep(random.uniform(0, self.interval))  # independent workers have random phases
        while True:
            try:
                await ws.send(encode(Heartbeat(jobs_in_flight=0)))
            except ConnectionClosed:
                return
            self.heartbeats += 1
            await asyncio.sleep(self.interval)

    async def close(self) -> None:
        self.stopping = True
        if self.ws is not None:
            await self.ws.close()


class ApiProbe:
    """Reads the API's own view: live workers (GET /api/workers), RSS and open files."""

    def __init__(self, api: Api) -> None:
        self.proc = psutil.Process(api.pid)
        self.client = httpx.AsyncClient(base_url=api.url, headers={"X-API-Key": api.api_key}, timeout=60.0)
        self.listing_cpu = 0.0
        """API CPU seconds spent while answering our listings (subtracted from the idle cost)."""

    async def live_workers(self) -> tuple[int, float]:
        """(workers not offline, seconds the listing took)."""
        cpu = self.cpu_seconds()
        began = time.perf_counter()
        response = await self.client.get("/api/workers")
        response.raise_for_status()
        took = time.perf_counter() - began
        self.listing_cpu += self.cpu_seconds() - cpu
        live = sum(1 for w in response.json() if w["status"] != "offline")
        return live, took

    def rss_mb(self) -> float:
        return self.proc.memory_info().rss / 2**20

    def cpu_seconds(self) -> float:
        return sum(self.proc.cpu_times()[:2])

    def fds(self) -> int:
        return self.proc.num_fds()


def mb(value: float) -> str:
    return f"{value:.1f} MB"


async def run(args: argparse.Namespace, stack: Stack) -> bool:
    api = stack.start_api()
    probe = ApiProbe(api)
    await probe.live_workers()  # warm the route (imports, DB session) before the "before" reading
    await asyncio.sleep(1.0)
    rss_before, fds_before = probe.rss_mb(), probe.fds()
    cpu_before = probe.cpu_seconds()
    me = psutil.Process()
    client_rss_before = me.memory_info().rss / 2**20

    workers = [
        IdleWorker(f"idle-{i:05d}", api.ws_url, api.worker_token, keepalive=not args.no_keepalive)
        for i in range(args.count)
    ]
    gate = asyncio.Semaphore(args.parallel)

    servers: list[asyncio.Task[None]] = []

    async def open_one(worker: IdleWorker) -> None:
        async with gate:
            await worker.connect()
        if worker.registered:  # heartbeat at once, as a real worker does, not after all are open
            worker.registered_at = time.perf_counter()
            servers.append(asyncio.create_task(worker.serve()))

    print(f"opening {args.count} worker connections ({args.parallel} handshakes at a time)...", flush=True)
    began = time.perf_counter()
    await asyncio.gather(*(open_one(w) for w in workers))
    connect_all = time.perf_counter() - began
    cpu_connected = probe.cpu_seconds()
    registered = [w for w in workers if w.registered]
    failed = [w for w in workers if not w.registered]
    live, list_seconds = await probe.live_workers()
    live_connected = live
    rss_connected = probe.rss_mb()
    handshakes = [w.connect_seconds for w in registered if w.connect_seconds is not None]

    print(
        f"\nconnect: {len(registered)}/{args.count} registered in {connect_all:.2f} s"
        f" ({len(registered) / connect_all:.0f} /s)"
    )
    if handshakes:
        print(
            f"  connect+register latency: p50 {percentile(handshakes, 50) * 1000:.1f} ms,"
            f" p99 {percentile(handshakes, 99) * 1000:.1f} ms, max {max(handshakes) * 1000:.1f} ms"
        )
    if len(registered) >= 8:
        # Does registering get slower as connections pile up? Rate per quarter of the registrations.
        done = sorted(w.registered_at for w in registered)
        edges = [began] + [done[len(done) * q // 4 - 1] for q in (1, 2, 3, 4)]
        rates = [(len(done) // 4) / max(edges[q + 1] - edges[q], 1e-9) for q in range(4)]
        print("  registrations/s by quarter: " + ", ".join(f"{r:.0f}" for r in rates))
    if failed:
        reasons: dict[str, int] = {}
        for w in failed:
            reasons[w.error or "?"] = reasons.get(w.error or "?", 0) + 1
        for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1])[:5]:
            print(f"  FAILED x{n}: {reason}")

    timeout = registered[0].timeout if registered else float("nan")
    note = "longer than" if args.hold > timeout else "NOT longer than"
    print(f"\nholding for {args.hold:g} s, {note} the API's heartbeat timeout ({timeout:g} s)")
    print(f"{'t s':>6} {'API live':>9} {'client open':>12} {'API RSS':>10} {'API fds':>8} {'list ms':>8}")
    print(
        f"{0:>6.0f} {live:>9} {sum(w.open for w in workers):>12} {mb(rss_connected):>10}"
        f" {probe.fds():>8} {list_seconds * 1000:>8.0f}"
    )
    hold_began = time.monotonic()
    cpu_hold_began, listing_cpu_began = probe.cpu_seconds(), probe.listing_cpu
    lowest_live = live
    while (elapsed := time.monotonic() - hold_began) < args.hold - 0.5:  # no sliver of a last sample
        await asyncio.sleep(min(args.sample, args.hold - elapsed))
        live, list_seconds = await probe.live_workers()
        lowest_live = min(lowest_live, live)
        print(
            f"{time.monotonic() - hold_began:>6.0f} {live:>9} {sum(w.open for w in workers):>12}"
            f" {mb(probe.rss_mb()):>10} {probe.fds():>8} {list_seconds * 1000:>8.0f}",
            flush=True,
        )
    rss_after, fds_after = probe.rss_mb(), probe.fds()
    cpu_hold = probe.cpu_seconds() - cpu_hold_began - (probe.listing_cpu - listing_cpu_began)
    cpu_hold /= time.monotonic() - hold_began
    client_rss_after = me.memory_info().rss / 2**20
    dropped = [w for w in registered if w.closed_at is not None]
    beats = sum(w.heartbeats for w in registered)

    began = time.perf_counter()
    await asyncio.gather(*(w.close() for w in workers))
    await asyncio.gather(*servers, return_exceptions=True)
    close_all = time.perf_counter() - began
    deadline = time.monotonic() + 10
    while (live_left := (await probe.live_workers())[0]) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    rss_closed = probe.rss_mb()
    await probe.client.aclose()

    n = max(1, len(registered))
    held = len(registered) - len(dropped)
    print("\nsummary")
    rows = [
        ("connections requested", f"{args.count}"),
        ("registered (client saw 'registered')", f"{len(registered)}"),
        ("API live workers: connected / lowest in hold / end", f"{live_connected} / {lowest_live} / {live}"),
        ("time to connect + register all", f"{connect_all:.2f} s"),
        ("held open for the whole hold", f"{held}/{len(registered)}"),
        ("heartbeats sent during the run", f"{beats}"),
        ("API RSS before", mb(rss_before)),
        ("API RSS with all connected", mb(rss_connected)),
        ("API RSS after hold", mb(rss_after)),
        (
            "API RSS per connection (after hold - before) / registered",
            f"{(rss_after - rss_before) * 1024 / n:.1f} KiB",
        ),
        ("API open fds before / after hold", f"{fds_before} / {fds_after}"),
        ("API CPU per connect + register", f"{(cpu_connected - cpu_before) * 1000 / n:.2f} ms"),
        ("API CPU while holding (listing probes excluded)", f"{cpu_hold * 100:.1f} % of one core"),
        ("API RSS after all closed", mb(rss_closed)),
        ("API live workers 10 s after all closed", f"{live_left}"),
        ("close all (client side)", f"{close_all:.2f} s"),
        ("bench process RSS per connection", f"{(client_rss_after - client_rss_before) * 1024 / n:.1f} KiB"),
    ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    if dropped:
        print(f"\n{len(dropped)} connection(s) dropped during the hold; first reasons:")
        for w in dropped[:5]:
            when = (w.closed_at or hold_began) - hold_began
            print(f"  {w.worker_id} at {when:+.1f} s from hold start: {w.close_reason}")
    ok = len(registered) == args.count and not dropped and lowest_live == args.count
    print(f"\nresult: {'PASS' if ok else 'FAIL'} ({args.count} wanted registered and live throughout)")
    return ok


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Open N idle worker connections to a real API; report registration, RSS and drops.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--count", "-n", type=int, default=500, help="worker connections to open")
    add("--hold", type=float, default=20.0, help="seconds to hold them (> the 15 s heartbeat timeout)")
    add("--sample", type=float, default=5.0, help="seconds between samples during the hold")
    add("--parallel", type=int, default=50, help="handshakes in progress at once while connecting")
    add("--no-keepalive", action="store_true", help="no client keepalive pings (the real worker sends them)")
    add("--keep-logs", action="store_true", help="keep the temp dir with the API log")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # progress shows through pipes too
    soft, hard = raise_fd_limit(args.count * 2 + 512)  # before spawning: the API inherits it
    print(f"RLIMIT_NOFILE soft/hard: {soft}/{hard}; {psutil.cpu_count()} CPUs", flush=True)
    ok = False
    with Stack(keep=args.keep_logs) as stack:
        try:
            ok = asyncio.run(run(args, stack))
        except httpx.TransportError as exc:
            # Say what happened to the API rather than only how the request failed.
            api = stack.procs[0]
            state = (
                "still running"
                if api.alive()
                else f"exited with {api.popen.returncode if api.popen else '?'}"
            )
            tail = "\n".join("    | " + line for line in api.log().splitlines()[-8:])
            print(f"\nFAIL: the API stopped answering ({exc!r}); its process is {state}; log tail:\n{tail}")
        finally:
            stack.report()
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
