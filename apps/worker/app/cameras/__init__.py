"""Cameras on the worker: read streams, find and follow faces, hand out samples. No networking.

One capability per module, each long-lived loop owned by one object. What a camera URL
means, and the redaction of every message that might show it, is shared with the API:
:mod:`facegrid_common.camera_source`.

* ``reader``: :class:`~app.cameras.reader.FrameReader` keeps the latest frame of one
  source, watches for stalls and reconnects (its own threads).
* ``track``: :class:`~app.cameras.track.FaceTracker`, detections -> tracks (pure Python).
* ``processor``: :class:`~app.cameras.processor.CameraProcessor` runs detection, tracking
  and embedding at a fixed rate on the reader's latest frame and emits samples (its own
  thread); it also renders the live-view overlay.
* ``manager``: :class:`~app.cameras.manager.CameraManager` starts, updates and stops
  cameras by id and reports their status.

Everything runs in the worker's own process, in threads: frames never cross a process
boundary. As everywhere in the worker, ``app.vision`` must be imported before ``cv2``;
importing this package does it.
"""

from __future__ import annotations

from .. import vision  # noqa: F401  (sets OpenCV's pixel cap before anything imports cv2)
