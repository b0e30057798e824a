"""What runs inside one face-engine child process: the pipeline, loaded once, serving calls one at a time.

The parent (``engine.EngineProcess``) sends ``(call name, args)`` over a pipe and reads
back ``(True, value)`` or ``(False, error)``. Only :class:`JobInputError` and
``RuntimeError`` travel back as errors: the vision errors take several constructor
arguments and would not unpickle in the parent.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from .jobs import JobInputError


@dataclass(frozen=True)
class EngineConfig:
    detector: str
    upsample: int
    detection_max_side: int
    max_pixels: int


_pipeline: Any = None


def serve(conn: Connection, config: EngineConfig) -> None:
    """The child's main: load the models, then answer calls until the parent closes the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the worker decides when to stop, not Ctrl-C
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    with contextlib.suppress(Exception):  # a load error is raised again by the first call
        _loaded(config)
    calls: dict[str, Callable[..., Any]] = {"self_test": _self_test, "analyze": _analyze}
    while True:
        try:
            name, args = conn.recv()
        except (EOFError, OSError):
            return
        try:
            reply: tuple[bool, Any] = (True, calls[name](config, *args))
        except JobInputError as exc:
            reply = (False, exc)
        except Exception as exc:
            reply = (False, RuntimeError(f"{type(exc).__name__}: {exc}"))
        try:
            conn.send(reply)
        except OSError:  # the parent went away mid-call
            return


def _exit_with_parent(parent: int) -> None:
    """A killed worker (SIGKILL) cannot stop its children: they notice and leave by themselves."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _loaded(config: EngineConfig) -> Any:
    """The pipeline, built on first use, so a load error reaches the first caller as an error."""
    global _pipeline
    if _pipeline is None:
        from .vision.pipeline import FacePipeline

        _pipeline = FacePipeline(
            config.detector,
            upsample=config.upsample,
            detection_max_side=config.detection_max_side,
            max_pixels=config.max_pixels,
        )
    return _pipeline


def _self_test(config: EngineConfig) -> dict[str, Any]:
    pipeline = _loaded(config)
    return {"timings": pipeline.self_test(), "models": pipeline.models()}


def _analyze(
    config: EngineConfig, data: bytes, options: dict[str, Any]
) -> tuple[dict[str, Any], bytes]:
    """The `analyze` job's result; face crops are concatenated into one payload, addressed by offset."""
    from .vision.errors import VisionError

    try:
        analysis = _loaded(config).analyze(data, **options)
    except VisionError as exc:  # its code (invalid_image, unsupported_type, too_large) goes to the API
        raise JobInputError(exc.code, str(exc)) from None
    payload = bytearray()
    faces = []
    for face in analysis.faces:
        item = face.to_dict()
        if face.crop_jpeg is not None:
            item["crop"] = [len(payload), len(face.crop_jpeg)]
            payload += face.crop_jpeg
        faces.append(item)
    size = {"width": analysis.width, "height": analysis.height}
    return {**size, "faces": faces, "total_faces": analysis.found}, bytes(payload)
