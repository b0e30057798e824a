"""Opening a camera source with OpenCV: FFmpeg for streams and files, V4L2 for devices.

Transport: RTSP goes over TCP. OpenCV reads ``OPENCV_FFMPEG_CAPTURE_OPTIONS`` at every
open (measured: changing it between two opens in one process changes the transport),
and this module sets it to ``rtsp_transport;tcp`` unless the operator set it. TCP
survives packet loss without smeared frames and needs no UDP ports on the worker,
which must bind none. Being one process-wide variable, it cannot differ per camera.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import cv2  # after app.vision's pixel cap: the package __init__ imports it first
from facegrid_common.camera_source import CameraSource, SourceKind

CAPTURE_OPTIONS_ENV = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
DEFAULT_CAPTURE_OPTIONS = "rtsp_transport;tcp"

_env_lock = threading.Lock()


def open_capture(source: CameraSource, open_timeout: float, read_timeout: float) -> Any:
    """A ``cv2.VideoCapture`` for ``source`` (check ``isOpened()``); blocks up to ``open_timeout``
    seconds, or longer where FFmpeg cannot be interrupted (DNS)."""
    if source.kind is SourceKind.DEVICE:
        capture = cv2.VideoCapture(source.target, cv2.CAP_V4L2)
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # keep the driver from queueing stale frames
        return capture
    with _env_lock:
        os.environ.setdefault(CAPTURE_OPTIONS_ENV, DEFAULT_CAPTURE_OPTIONS)
    params = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
        int(open_timeout * 1000),
        cv2.CAP_PROP_READ_TIMEOUT_MSEC,
        int(read_timeout * 1000),
    ]
    return cv2.VideoCapture(str(source.target), cv2.CAP_FFMPEG, params)
