"""Real camera-like servers on loopback for tests: MJPEG over HTTP, RTSP, and a black hole.

* :class:`MjpegServer`: a threaded ``http.server`` streaming JPEG frames as
  ``multipart/x-mixed-replace`` at a fixed fps, like an IP camera's MJPEG endpoint. It
  plays "live": every client gets the frame of the moment, not the clip from its start.
  :meth:`MjpegServer.pause` imitates a frozen camera (connections stay open, nothing is
  sent) until :meth:`MjpegServer.resume`. Optional HTTP Basic credentials.
* :class:`RtspServer`: Debian's GStreamer RTSP server (``gst-rtsp-server``) in a child
  process of Debian's own ``/usr/bin/python3``, which has the GObject bindings (a venv
  does not), serving an MP4 at ``rtsp://127.0.0.1:PORT/cam``. :func:`rtsp_unavailable`
  says why it cannot run (missing packages, listed in :data:`RTSP_PACKAGES`), for skips.
* :class:`BlackHole`: a TCP listener that accepts connections and never answers: a
  camera that hangs. (For an unreachable camera use a closed loopback port:
  ``harness.free_port()`` returns one that was just released.)

Everything binds 127.0.0.1 only, on a port the kernel picks.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import cv2
import numpy as np
from video_fixture import SYSTEM_PYTHON

RTSP_PACKAGES = (
    "python3-gi",
    "gir1.2-gst-rtsp-server-1.0",
    "gstreamer1.0-plugins-base",
    "gstreamer1.0-plugins-good",
    "gstreamer1.0-plugins-bad",
    "gstreamer1.0-libav",
    "gstreamer1.0-rtsp",
)
"""Debian packages the RTSP server (and the H.264 transcode of ``video_fixture``) needs."""

BOUNDARY = "facegridframe"


S = TypeVar("S", bound="_Stoppable")


class _Stoppable:
    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self: S) -> S:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


# --- MJPEG over HTTP ------------------------------------------------------------------


class MjpegServer(_Stoppable):
    """Streams ``frames`` (BGR images or JPEG bytes) in a loop at ``fps`` to every client."""

    def __init__(
        self,
        frames: Sequence[np.ndarray | bytes],
        fps: float,
        *,
        credentials: tuple[str, str] | None = None,
        jpeg_quality: int = 85,
    ) -> None:
        if not frames:
            raise ValueError("no frames to serve")
        self.fps = fps
        self.credentials = credentials
        self._jpegs = [f if isinstance(f, bytes) else _jpeg(f, jpeg_quality) for f in frames]
        self._playing = threading.Event()
        self._playing.set()
        self._stopping = threading.Event()
        self._started = time.monotonic()
        self.requests: list[str] = []
        """Request paths received, in order (a test can check the client asked the right thing)."""
        self.authorizations: list[str | None] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="mjpeg-server", daemon=True)
        self._thread.start()

    def url(self, path: str = "/video.mjpg", userinfo: str = "") -> str:
        at = f"{userinfo}@" if userinfo else ""
        return f"http://{at}127.0.0.1:{self.port}{path}"

    def pause(self) -> None:
        """Freeze: keep every connection open but send nothing until :meth:`resume`."""
        self._playing.clear()

    def resume(self) -> None:
        self._playing.set()

    def stop(self) -> None:
        self._stopping.set()
        self._playing.set()  # release paused handlers so they see the stop
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def current_index(self) -> int:
        """The index of the frame being served now (the clip loops)."""
        return int((time.monotonic() - self._started) * self.fps) % len(self._jpegs)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, format: str, *args: object) -> None:  # quiet test output
                pass

            def do_GET(self) -> None:
                server.requests.append(self.path)
                server.authorizations.append(self.headers.get("Authorization"))
                if server.credentials and not self._authorized():
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="camera"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                with contextlib.suppress(OSError):
                    self._stream()

            def _authorized(self) -> bool:
                import base64

                assert server.credentials is not None
                user, password = server.credentials
                expected = base64.b64encode(f"{user}:{password}".encode()).decode()
                return self.headers.get("Authorization") == f"Basic {expected}"

            def _stream(self) -> None:
                period = 1.0 / server.fps
                next_at = time.monotonic()
                while not server._stopping.is_set():
                    if not server._playing.is_set():
                        server._playing.wait()
                        next_at = time.monotonic()
                        continue
                    jpeg = server._jpegs[server.current_index()]
                    self.wfile.write(
                        f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                        f"Content-Length: {len(jpeg)}\r\n\r\n".encode()
                        + jpeg
                        + b"\r\n"
                    )
                    self.wfile.flush()
                    next_at += period
                    time.sleep(max(0.0, next_at - time.monotonic()))

        return Handler


def _jpeg(frame: np.ndarray, quality: int) -> bytes:
    ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return encoded.tobytes()


# --- a camera that hangs ----------------------------------------------------------------


class BlackHole(_Stoppable):
    """Accepts TCP connections on 127.0.0.1 and never reads or writes: a hanging camera."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = int(self._listener.getsockname()[1])
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, name="black-hole", daemon=True)
        self._thread.start()

    @property
    def connections(self) -> int:
        return len(self._held)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:  # closed by stop()
                return
            self._held.append(conn)

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for conn in self._held:
            conn.close()
        self._thread.join(5)


# --- RTSP (Debian's GStreamer) ---------------------------------------------------------

_RTSP_SERVER = r"""
import sys
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer

Gst.init(None)
path, codec, shared, tcp_only = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4] == "1"
user, password, scheme = sys.argv[5:8]
if codec == "h264":
    chain = "qtdemux ! h264parse ! rtph264pay name=pay0 pt=96"
else:
    chain = "qtdemux ! mpeg4videoparse ! rtpmp4vpay name=pay0 pt=96"
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service("0")
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(f'( filesrc location="{path}" ! {chain} )')
factory.set_shared(shared)
if tcp_only:
    factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP)
if user:
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string("media.factory.role", "viewer")
    if scheme == "digest":
        auth.add_digest(user, password, token)
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
    else:
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
    server.set_auth(auth)
    permissions = GstRtspServer.RTSPPermissions()
    role = "viewer, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
    permissions.add_role_from_structure(Gst.Structure.from_string(role)[0])
    factory.set_permissions(permissions)
server.get_mount_points().add_factory("/cam", factory)
server.attach(None)
print(f"PORT {server.get_bound_port()}", flush=True)
GLib.MainLoop().run()
"""

_RTSP_PROBE = """
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtspServer
Gst.init(None)
missing = [e for e in ("qtdemux", "h264parse", "rtph264pay", "filesrc") if not Gst.ElementFactory.find(e)]
print(" ".join(missing))
"""


def rtsp_unavailable() -> str | None:
    """Why :class:`RtspServer` cannot run here, or ``None`` if it can."""
    hint = "install the Debian packages: apt-get install -y " + " ".join(RTSP_PACKAGES)
    if not Path(SYSTEM_PYTHON).exists():
        return f"no {SYSTEM_PYTHON} (the RTSP test server needs Debian's python3-gi); {hint}"
    try:
        probe = subprocess.run([SYSTEM_PYTHON, "-c", _RTSP_PROBE], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run {SYSTEM_PYTHON}: {exc}; {hint}"
    if probe.returncode:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        return f"GStreamer RTSP server bindings missing ({last}); {hint}"
    if probe.stdout.strip():
        return f"GStreamer elements missing: {probe.stdout.strip()}; {hint}"
    return None


class RtspServer(_Stoppable):
    """``rtsp://127.0.0.1:PORT/cam`` serving an MP4 (H.264, or MPEG-4 Part 2 with ``codec="mpeg4"``).

    ``shared``: one pipeline for every client (a camera's behaviour) rather than one each.
    ``tcp_only``: refuse RTP over UDP, so a client that does not ask for TCP cannot play.
    ``credentials``: (user, password) it asks for, with ``auth`` ``"basic"`` or ``"digest"``.
    The clip plays once per media: a client connecting after it ended gets nothing new.
    """

    def __init__(
        self,
        video: Path,
        *,
        codec: str = "h264",
        shared: bool = True,
        tcp_only: bool = False,
        credentials: tuple[str, str] = ("", ""),
        auth: str = "basic",
    ) -> None:
        # GStreamer's warnings go to a file: a pipe nobody reads would fill and freeze the server.
        self._log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115  (closed in stop())
        flags = [codec, "1" if shared else "0", "1" if tcp_only else "0", *credentials, auth]
        self._proc = subprocess.Popen(
            [SYSTEM_PYTHON, "-c", _RTSP_SERVER, str(video), *flags],
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()  # blocks until the server prints its port (or dies)
        if not line.startswith("PORT "):
            log = self.log()
            self.stop()
            raise RuntimeError(f"RTSP server did not start: {line!r} {log}")
        self.port = int(line.split()[1])
        self.url = f"rtsp://127.0.0.1:{self.port}/cam"

    def url_with(self, userinfo: str) -> str:
        return f"rtsp://{userinfo}@127.0.0.1:{self.port}/cam"

    @property
    def pid(self) -> int:
        return self._proc.pid

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._log.close()

    def log(self) -> str:
        """What the server wrote to stderr so far."""
        if self._log.closed:
            return ""
        self._log.seek(0)
        return self._log.read()
