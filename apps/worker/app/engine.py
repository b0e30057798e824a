"""The face engine: the vision pipeline in child processes, one per concurrent job.

Why processes and not threads: a decoder or dlib crash on a hostile image kills only
a child; the worker answers that job with an error, starts a fresh child and stays
registered. It also keeps the worker's event loop (heartbeats, pings) free of the
GIL while faces are computed. Children start with `spawn`, load the models once,
and run the pipeline's self-test before the worker registers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from .jobs import JobInputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineConfig:
    detector: str
    upsample: int
    detection_max_side: int
    max_pixels: int


class EngineCrashed(Exception):
    """A child process died while working (the input most likely crashed the decoder or dlib)."""


# --- what runs inside each child process -------------------------------------

_config: EngineConfig | None = None
_pipeline: Any = None


def _prepare(config: EngineConfig) -> None:
    """Process initializer: load the models now, so no job pays for it; a failure is kept
    and reported by the self-test (an initializer's own exception would only break the pool)."""
    global _config
    _config = config
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the worker decides when to stop, not Ctrl-C
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    with contextlib.suppress(Exception):
        _loaded()


def _exit_with_parent(parent: int) -> None:
    """A killed worker (SIGKILL) cannot stop its children: they notice and leave by themselves."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _loaded() -> Any:
    """The child's pipeline, loaded on first use (so a load error reaches the caller as an error)."""
    global _pipeline
    if _pipeline is None:
        from .vision.pipeline import FacePipeline  # the parent process never loads these models

        assert _config is not None
        _pipeline = FacePipeline(
            _config.detector,
            upsample=_config.upsample,
            detection_max_side=_config.detection_max_side,
            max_pixels=_config.max_pixels,
        )
    return _pipeline


def _self_test() -> dict[str, Any]:
    from .vision.errors import VisionError

    try:
        pipeline = _loaded()
        return {"timings": pipeline.self_test(), "models": pipeline.models()}
    except VisionError as exc:  # re-raised as a plain error: it must pickle back to the parent
        raise RuntimeError(str(exc)) from None


def _analyze(data: bytes, params: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """Decode, find, describe: the `analyze` job's result, with face crops as one payload."""
    from .vision.errors import VisionError

    try:
        analysis = _loaded().analyze(
            data,
            min_face_size=int(params.get("min_face_size") or 0),
            max_faces=params.get("max_faces"),
            embed=bool(params.get("embed", True)),
            crops=bool(params.get("crops", False)),
        )
    except VisionError as exc:  # its code (invalid_image, unsupported_type, too_large) goes to the API
        raise JobInputError(exc.code, str(exc)) from None
    payload = bytearray()
    out = []
    for face in analysis.faces:
        item = face.to_dict()
        if face.crop_jpeg is not None:
            item["crop"] = [len(payload), len(face.crop_jpeg)]
            payload += face.crop_jpeg
        out.append(item)
    return {"width": analysis.width, "height": analysis.height, "faces": out}, bytes(payload)


# --- the parent's side --------------------------------------------------------


class FaceEngine:
    """Owns the pool of child processes; replaces it when a child dies."""

    def __init__(self, config: EngineConfig, processes: int) -> None:
        self._config = config
        self._processes = processes
        self._pool = self._new_pool()
        self.models: dict[str, str] = {}

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self._processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_prepare,
            initargs=(self._config,),
        )

    async def start(self) -> dict[str, float]:
        """Start every process and self-test it (models loaded); raises if the pipeline cannot run."""
        reports = await asyncio.gather(*(self._call(_self_test) for _ in range(self._processes)))
        self.models = reports[0]["models"]
        timings: dict[str, float] = reports[0]["timings"]
        return timings

    async def analyze(self, data: bytes, params: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
        return await self._call(_analyze, data, params)

    async def _call(self, fn: Any, *args: Any) -> Any:
        pool = self._pool
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)
        except BrokenProcessPool:
            if pool is self._pool:
                log.error("a face engine process died; starting a fresh one")
                pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
            raise EngineCrashed("the face engine crashed on this input") from None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
