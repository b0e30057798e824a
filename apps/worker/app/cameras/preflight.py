"""Does a network camera's server answer at all? Checked in Python before OpenCV opens it.

Why not leave it to OpenCV: its FFmpeg backend opens captures under one process-wide
mutex (measured: while one ``VideoCapture`` waited 4 s on a server that accepts and
never answers, opening a local file in another thread took 3.7 s). A camera that is
switched off or hung would so hold up every other camera's (re)connection for its whole
open timeout, again at every retry. :func:`preflight` connects and sends an RTSP
``OPTIONS`` (or an HTTP ``GET`` of the path, without credentials) and waits for the
first bytes of any reply, 401 included, outside that mutex. For TLS (``rtsps``,
``https``) only the TCP connection is checked.
"""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}

def preflight(url: str, timeout: float) -> str | None:
    """Check that the server of an RTSP or HTTP ``url`` answers at all; return why not, or ``None``.

    The reasons are sentences for people and name only the host and port.
    """
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), parts.hostname or ""
    try:
        port = parts.port or DEFAULT_PORTS.get(scheme, 80)
    except ValueError:
        return "the URL's port is not a number"
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    started = time.monotonic()
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except TimeoutError:
        return f"opening timed out after {time.monotonic() - started:.1f} s: no connection to {where}"
    except ConnectionRefusedError:
        return f"opening failed: {where} refused the connection"
    except socket.gaierror as exc:
        return f"opening failed: cannot resolve {host}: {exc.strerror}"
    except OSError as exc:
        return f"opening failed: cannot connect to {where}: {exc.strerror or exc}"
    with sock:
        if scheme in ("rtsps", "https"):
            return None
        path = parts.path or "/"
        if scheme == "rtsp":
            request = f"OPTIONS rtsp://{parts.netloc.rpartition('@')[2]}{path} RTSP/1.0\r\nCSeq: 1\r\n\r\n"
        else:
            request = f"GET {path} HTTP/1.0\r\nHost: {parts.netloc.rpartition('@')[2]}\r\n\r\n"
        try:
            sock.settimeout(max(0.1, timeout - (time.monotonic() - started)))
            sock.sendall(request.encode("ascii", "replace"))
            reply = sock.recv(16)
        except TimeoutError:
            elapsed = time.monotonic() - started
            return (
                f"opening timed out after {elapsed:.1f} s: {where} accepted the connection but did not answer"
            )
        except OSError as exc:
            return f"opening failed: {where} dropped the connection: {exc.strerror or exc}"
    if not reply:
        return f"opening failed: {where} closed the connection without answering"
    return None
