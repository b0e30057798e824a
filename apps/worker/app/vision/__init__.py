"""The worker's computer vision: bytes in, faces (boxes, landmarks, quality, embeddings) out.

Plain in-process Python with no networking; the job handlers and the camera processor
call :class:`app.vision.pipeline.FacePipeline`. One module per capability: ``decode``
(bytes -> pixels), ``detect`` (pixels -> boxes), ``embed`` (box -> landmarks and
128-d descriptor), ``quality``, ``crop``, tied together by ``pipeline``.

Importing this package caps how many pixels OpenCV will decode, as a defence in depth
behind the API's own header check (``apps/api/app/images.py``). OpenCV reads
``OPENCV_IO_MAX_IMAGE_PIXELS`` once, when ``cv2`` is first imported, and then refuses
any image whose header claims more pixels *before* allocating it; so this must run
before anything imports ``cv2``. ``FacePipeline.self_test`` checks the cap is in force.
An operator's own value of the variable is respected.

It also quiets OpenCV's own logging (errors only) and FFmpeg's (nothing), read at the same
moment: both write straight to stderr (``[ WARN:0@0.01] global cap.cpp:212 open ...``,
``[tcp @ 0x...] Connection to tcp://... failed``), past the worker's logging and its redaction,
for every camera source that does not open. The worker says itself what went wrong, in its
log and in the camera's status. An operator's own ``OPENCV_LOG_LEVEL`` or
``OPENCV_FFMPEG_LOGLEVEL`` (an FFmpeg level number, e.g. 32 for info) is respected, to debug.
"""

from __future__ import annotations

import os

from facegrid_common.images import PIXEL_CEILING

PIXEL_CEILING_ENV = "OPENCV_IO_MAX_IMAGE_PIXELS"
"""Set to :data:`~facegrid_common.images.PIXEL_CEILING` (100 MP, 300 MB as BGR): the cap on
decoded pixels for the whole process, the most ``MAX_IMAGE_PIXELS`` may be in either app,
far below OpenCV's own 2**30."""

os.environ.setdefault(PIXEL_CEILING_ENV, str(PIXEL_CEILING))

QUIET_LOGS = {"OPENCV_LOG_LEVEL": "ERROR", "OPENCV_FFMPEG_LOGLEVEL": "-8"}
"""OpenCV's messages only from errors; FFmpeg's none (-8 is AV_LOG_QUIET). OpenCV's FFmpeg
backend reads ``OPENCV_FFMPEG_LOGLEVEL`` when it loads (checked with opencv-python-headless 5.1:
without it FFmpeg prints its errors)."""

for _name, _value in QUIET_LOGS.items():
    os.environ.setdefault(_name, _value)
