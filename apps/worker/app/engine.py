"""The face engine: the vision pipeline in child processes, one per job slot (`MAX_JOBS`).

Why processes and not threads: a decoder or dlib crash on a hostile image kills only a
child, and a child can be killed when its job runs too long or is cancelled; a thread can
be neither. Each slot owns one child and runs one job at a time in it, so a child that
dies or is killed takes only its own job along: that job fails, the slot gets a fresh
child, the other slots carry on. Computing in children also keeps the worker's event
loop (heartbeats, pings) free of the GIL. Children start with `spawn`, load the models
once, and run the pipeline's self-test before the worker registers.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from .engine_child import EngineConfig, serve

log = logging.getLogger(__name__)

_SPAWN = multiprocessing.get_context("spawn")

TERMINATE_GRACE = 1.0
"""Seconds children have to exit after SIGTERM when the engine closes; then SIGKILL
(a stopped or wedged child ignores SIGTERM)."""


class EngineCrashed(Exception):
    """A child process died while working (the input most likely crashed the decoder or dlib)."""


class EngineProcess:
    """One job slot: a child process and the one call it runs at a time.

    A call cancelled while it runs (the job's timeout, `cancel_job`, a stop) kills the
    child; a child that dies fails its call with :class:`EngineCrashed`. Either way the
    slot starts a fresh child at once, unless the engine is closing.
    """

    def __init__(self, config: EngineConfig, name: str) -> None:
        self.name = name
        self._config = config
        # The pipe's send and recv block (a large image, a long job), so they run on this thread.
        self._io = ThreadPoolExecutor(1, thread_name_prefix=name)
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._closing = False

    def _start(self) -> None:
        parent, child = _SPAWN.Pipe()
        process = _SPAWN.Process(target=serve, args=(child, self._config), name=self.name, daemon=True)
        process.start()
        child.close()  # the child now holds the only other end: its death ends our recv at once
        self._process, self._conn = process, parent

    async def call(self, name: str, *args: Any) -> Any:
        """Run ``engine_child``'s call ``name`` in the child; its errors are raised here."""
        if self._process is None:
            self._start()
        process, conn = self._process, self._conn
        assert process is not None and conn is not None
        loop = asyncio.get_running_loop()
        try:
            ok, value = await loop.run_in_executor(self._io, _round_trip, conn, (name, args))
        except asyncio.CancelledError:
            self._replace(process, conn, "was killed: its job was stopped")
            raise
        except (EOFError, OSError):
            self._replace(process, conn, "died")
            raise EngineCrashed("the face engine crashed on this input") from None
        if not ok:
            raise value
        return value

    def _replace(self, process: BaseProcess, conn: Connection, what: str) -> None:
        process.kill()  # a no-op for a child that is gone; works on a stopped (SIGSTOP) one
        if self._closing:
            return  # close() reaps it
        log.warning("face-engine process %s (pid %s) %s; starting a fresh one", self.name, process.pid, what)
        self._io.submit(_retire, process, conn)  # after the dead call's recv has returned
        self._start()

    def close(self) -> BaseProcess | None:
        """Start no more children and send SIGTERM to this one; return it, for the caller to reap."""
        self._closing = True
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if conn is not None:
            self._io.submit(conn.close)
        self._io.shutdown(wait=False)
        if process is not None:
            process.terminate()
        return process


class FaceEngine:
    """The job slots. A job waits for a free slot; there is one unless the API sends more
    than ``MAX_JOBS`` jobs at once."""

    def __init__(self, config: EngineConfig, processes: int) -> None:
        self._slots = [EngineProcess(config, f"face-engine-{i + 1}") for i in range(processes)]
        self._free: asyncio.Queue[EngineProcess] = asyncio.Queue()
        for slot in self._slots:
            self._free.put_nowait(slot)
        self.models: dict[str, str] = {}

    async def start(self) -> dict[str, float]:
        """Start every process and self-test it (models loaded); raises if the pipeline cannot run."""
        reports = await asyncio.gather(*(slot.call("self_test") for slot in self._slots))
        self.models = reports[0]["models"]
        timings: dict[str, float] = reports[0]["timings"]
        return timings

    async def analyze(self, data: bytes, options: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
        """One image's `analyze` result and crops payload; ``options`` go to ``FacePipeline.analyze``."""
        slot = await self._free.get()
        try:
            result: tuple[dict[str, Any], bytes] = await slot.call("analyze", data, options)
            return result
        finally:
            self._free.put_nowait(slot)

    async def close(self) -> None:
        """Stop every child: SIGTERM, then SIGKILL for any still there after ``TERMINATE_GRACE``."""
        processes = [p for p in (slot.close() for slot in self._slots) if p is not None]
        if processes:
            await asyncio.get_running_loop().run_in_executor(None, _reap, processes)


def _round_trip(conn: Connection, request: tuple[str, tuple[Any, ...]]) -> tuple[bool, Any]:
    conn.send(request)
    reply: tuple[bool, Any] = conn.recv()
    return reply


def _retire(process: BaseProcess, conn: Connection) -> None:
    process.join()
    conn.close()


def _reap(processes: list[BaseProcess]) -> None:
    deadline = time.monotonic() + TERMINATE_GRACE
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.is_alive():
            log.warning("face-engine process %s ignored SIGTERM; killing it", process.name)
            process.kill()
            process.join()
