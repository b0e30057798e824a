"""A short synthetic camera video built from the real sample photos, with its ground truth.

Camera tests need footage where people come and go at known times, and the sample
photos are the only faces we have. :func:`build_face_video` slides a head-and-shoulders
"card" cut from each photo across a plain background: Obama enters from the left,
stays, leaves; Biden enters from the right, stays, leaves; the clip ends on empty
frames. :attr:`FaceVideo.appearances` says when each face is fully in frame.

Every frame also carries its index as a 10-bit barcode (white/black blocks along the
top-left edge, big enough to survive JPEG and H.264), so a test can tell *which* frame
a reader handed it: :func:`frame_index` reads it back.

OpenCV's pip wheels cannot write H.264 (no encoder but the unusable ``h264_v4l2m2m``),
so the MP4 is MPEG-4 Part 2 (``mp4v``); :func:`transcode_h264` re-encodes it with
Debian's GStreamer (``openh264enc`` from gstreamer1.0-plugins-bad, or ``x264enc`` if
present) for the RTSP server, which, like real cameras, sends H.264.

Used by the worker's camera tests and reusable by API end-to-end tests: it only needs
numpy and OpenCV (callers in the worker's tests must import ``app.vision`` first).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

SYSTEM_PYTHON = "/usr/bin/python3"
"""Debian's interpreter, which sees the GStreamer GObject bindings (a venv does not)."""

FACE_BOXES = {"obama.jpg": (361, 134, 256, 256), "biden.jpg": (408, 218, 344, 344)}
"""Where dlib's HOG finds the face in each photo (x, y, width, height): the card is cut around it."""

CARD_SIDE = 240
"""Side of the square card pasted per person; the face box spans ``CARD_SIDE / CARD_ZOOM`` ~110 px,
above the ~80 px that HOG finds without upsampling."""
CARD_ZOOM = 2.2
"""The card shows this many face-widths: hair, shoulders and some background."""

BARCODE_BITS = 10
BARCODE_BLOCK = 12


@dataclass(frozen=True)
class Appearance:
    """One person crossing the frame; times in seconds from the start of the clip."""

    name: str
    """The photo's name without extension (``obama``, ``biden``)."""
    enter: float
    """Starts sliding in (first partly visible)."""
    settled: float
    """Fully in frame from here..."""
    leaving: float
    """...until here, then slides out."""
    gone: float
    """Completely out of frame."""


@dataclass(frozen=True)
class FaceVideo:
    path: Path
    fps: float
    frame_count: int
    width: int
    height: int
    fourcc: str
    appearances: tuple[Appearance, ...]

    @property
    def duration(self) -> float:
        return self.frame_count / self.fps


DEFAULT_APPEARANCES = (
    Appearance("obama", enter=0.5, settled=1.25, leaving=3.0, gone=3.75),
    Appearance("biden", enter=4.25, settled=5.0, leaving=6.25, gone=6.75),
)


def face_card(photo: Path) -> np.ndarray:
    """A ``CARD_SIDE`` square BGR crop centred on the face of one of the sample photos."""
    image = cv2.imread(str(photo))
    if image is None:
        raise FileNotFoundError(photo)
    x, y, w, h = FACE_BOXES[photo.name]
    side = round(max(w, h) * CARD_ZOOM)
    cx, cy = x + w / 2, y + h / 2
    left, top = round(cx - side / 2), round(cy - side / 2 + h * 0.15)  # a little more chin than hair
    padded = cv2.copyMakeBorder(image, side, side, side, side, cv2.BORDER_REPLICATE)
    crop = padded[top + side : top + 2 * side, left + side : left + 2 * side]
    return cv2.resize(crop, (CARD_SIDE, CARD_SIDE), interpolation=cv2.INTER_AREA)


def _background(width: int, height: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    ys, xs = np.mgrid[0:height, 0:width]
    base = np.stack([90 + xs * 0.08, 110 + ys * 0.1, 100 + (xs + ys) * 0.03], axis=-1)
    return np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)


def _card_x(a: Appearance, t: float, width: int, from_left: bool) -> int | None:
    """The card's left edge at time ``t``, or ``None`` when the person is not in frame."""
    if not a.enter <= t < a.gone:
        return None
    rest = 60 if from_left else width - CARD_SIDE - 60
    outside = -CARD_SIDE if from_left else width
    if t < a.settled:
        f = (t - a.enter) / (a.settled - a.enter)
        return round(outside + (rest - outside) * f)
    if t < a.leaving:
        drift = 8 * (t - a.settled)  # a slow drift, so tracking follows a moving box
        return round(rest + (drift if from_left else -drift))
    f = (t - a.leaving) / (a.gone - a.leaving)
    start = rest + 8 * (a.leaving - a.settled) * (1 if from_left else -1)
    return round(start + (outside - start) * f)


def draw_barcode(frame: np.ndarray, index: int) -> None:
    """Write ``index`` (mod 2**BARCODE_BITS) as white/black blocks along the top-left edge."""
    for bit in range(BARCODE_BITS):
        on = (index >> bit) & 1
        x = bit * BARCODE_BLOCK
        frame[0:BARCODE_BLOCK, x : x + BARCODE_BLOCK] = 255 if on else 0


def frame_index(frame: np.ndarray) -> int:
    """Read back the barcode of :func:`draw_barcode` from a (possibly compressed, resized) frame."""
    width = frame.shape[1]
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    scale = width / 640  # the barcode is drawn at 640 px width; follow any resize
    block = BARCODE_BLOCK * scale
    value = 0
    for bit in range(BARCODE_BITS):
        cx, cy = round((bit + 0.5) * block), round(block / 2)
        r = max(1, round(block / 4))
        if gray[max(0, cy - r) : cy + r, max(0, cx - r) : cx + r].mean() > 127:
            value |= 1 << bit
    return value


def build_face_video(
    path: Path,
    faces_dir: Path,
    *,
    fps: float = 12.0,
    duration: float = 8.0,
    size: tuple[int, int] = (640, 360),
    appearances: tuple[Appearance, ...] = DEFAULT_APPEARANCES,
) -> FaceVideo:
    """Write the clip to ``path`` (MP4) and describe it; the first appearance enters from the left,
    the next from the right, alternating."""
    width, height = size
    cards = {a.name: face_card(faces_dir / f"{a.name}.jpg") for a in appearances}
    background = _background(width, height)
    fourcc = "mp4v"
    writer = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, cv2.VideoWriter.fourcc(*fourcc), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {fourcc} MP4 to {path}")
    count = round(duration * fps)
    top = (height - CARD_SIDE) // 2 + 20
    try:
        for index in range(count):
            t = index / fps
            frame = background.copy()
            for i, appearance in enumerate(appearances):
                x = _card_x(appearance, t, width, from_left=i % 2 == 0)
                if x is None:
                    continue
                card = cards[appearance.name]
                left, right = max(x, 0), min(x + CARD_SIDE, width)
                if right > left:
                    frame[top : top + CARD_SIDE, left:right] = card[:, left - x : right - x]
            draw_barcode(frame, index)
            writer.write(frame)
    finally:
        writer.release()
    return FaceVideo(path, fps, count, width, height, fourcc, appearances)


_TRANSCODE = """
import sys
import gi
gi.require_version("Gst", "1.0")
from gi.repository import Gst
Gst.init(None)
src, dst, encoder = sys.argv[1:4]
pipeline = Gst.parse_launch(
    f'filesrc location="{src}" ! qtdemux ! decodebin ! videoconvert ! video/x-raw,format=I420 '
    f'! {encoder} ! h264parse ! mp4mux ! filesink location="{dst}"'
)
pipeline.set_state(Gst.State.PLAYING)
msg = pipeline.get_bus().timed_pop_filtered(120 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
pipeline.set_state(Gst.State.NULL)
if msg is None or msg.type == Gst.MessageType.ERROR:
    sys.exit("transcode failed: " + (str(msg.parse_error()) if msg else "timeout"))
"""

_FIND_ENCODER = """
import gi
gi.require_version("Gst", "1.0")
from gi.repository import Gst
Gst.init(None)
for name, settings in (("x264enc", "x264enc tune=zerolatency key-int-max=12"),
                       ("openh264enc", "openh264enc gop-size=12 bitrate=1500000")):
    if Gst.ElementFactory.find(name):
        print(settings)
        break
"""


def h264_encoder() -> str | None:
    """The GStreamer H.264 encoder element (with settings) available to Debian's python, if any."""
    if not Path(SYSTEM_PYTHON).exists():
        return None
    found = subprocess.run([SYSTEM_PYTHON, "-c", _FIND_ENCODER], capture_output=True, text=True, timeout=60)
    return found.stdout.strip() or None


def transcode_h264(video: FaceVideo, dst: Path) -> FaceVideo:
    """The same clip re-encoded as H.264 MP4 (a keyframe every second) with GStreamer.

    Raises :class:`RuntimeError` when no H.264 encoder is installed (see the module docstring).
    """
    encoder = h264_encoder()
    if encoder is None:
        raise RuntimeError(
            "no GStreamer H.264 encoder: install python3-gi and gstreamer1.0-plugins-bad (openh264enc)"
        )
    done = subprocess.run(
        [SYSTEM_PYTHON, "-c", _TRANSCODE, str(video.path), str(dst), encoder],
        capture_output=True,
        text=True,
        timeout=180,
    )
    if done.returncode or not dst.exists():
        raise RuntimeError(f"H.264 transcode failed: {done.stderr.strip() or done.stdout.strip()}")
    return FaceVideo(dst, video.fps, video.frame_count, video.width, video.height, "avc1", video.appearances)


def read_frames(path: Path) -> list[np.ndarray]:
    """Every frame of a video file, decoded with OpenCV (for servers that replay a clip)."""
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    frames = []
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(frame)
    finally:
        capture.release()
    return frames
