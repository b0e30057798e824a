"""Cameras on the worker: read streams, find and follow faces, hand out samples. No networking.

One capability per module, each long-lived loop owned by one object. What a camera URL
means, and the redaction of every message that might show it, is shared with the API:
:mod:`facegrid_common.camera_source`.

* ``reader``: :class:`~app.cameras.reader.FrameReader` keeps the latest frame of one
  source, watches for stalls and reconnects (its own supervisor thread); ``session``
  is one connection attempt on its own thread, the only code that calls OpenCV to read;
  ``capture`` opens a source (RTSP over TCP); ``preflight`` checks that a network camera
  answers before OpenCV is asked to open it, and ``auth`` asks it, when OpenCV could not,
  whether it refused the credentials.
* ``track``: :class:`~app.cameras.track.FaceTracker`, detections -> tracks (pure Python).
* ``processor``: :class:`~app.cameras.processor.CameraProcessor` runs detection, tracking
  and embedding at a fixed rate on the reader's latest frame (its own thread) and hands
  out ``outputs`` (face samples, finished tracks, live images); ``overlay`` renders the
  live view, ``jpeg`` shrinks and encodes frames.
* ``manager``: :class:`~app.cameras.manager.CameraManager` starts, updates and stops
  cameras by id (the protocol's integer ids and :class:`~facegrid_protocol.CameraConfig`)
  and reports their status.

Everything runs in the worker's own process, in threads: frames never cross a process
boundary. As everywhere in the worker, ``app.vision`` must be imported before ``cv2``;
importing this package does it.
"""

from __future__ import annotations

from .. import vision  # noqa: F401  (sets OpenCV's pixel cap before anything imports cv2)
