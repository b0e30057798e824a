"""What a camera's ``url`` means: an RTSP or MJPEG stream, a video file, or a local device.

:func:`parse_source` turns the string an operator typed into a :class:`CameraSource`
that says how to open it (FFmpeg for streams and files, V4L2 for devices) and how to
name it in logs. Camera URLs routinely carry credentials (``rtsp://admin:pw@cam/...``,
MJPEG endpoints with ``?user=..&pwd=..``) and FFmpeg needs them verbatim, so the raw
URL stays inside :class:`CameraSource` and everything shown to a person goes through
:func:`redact` first: log lines, status reasons, error messages.

:func:`redact` works on any text, not only a bare URL, because error messages embed
URLs, and it also catches them percent-encoded (``rtsp%3A%2F%2Fadmin%3Apw%40cam``, as
when a URL is passed inside another URL's query string).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

MASK = "***"

# fmt: off
SECRET_PARAMS = frozenset({
    "user", "username", "usr", "login", "pass", "password", "passwd", "pwd", "psw",
    "token", "access_token", "auth", "key", "apikey", "api_key", "secret", "sig", "signature",
})
# fmt: on
"""Query parameters whose values are hidden (IP cameras' MJPEG URLs often authenticate this way)."""

_SCHEME_RAW = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_SCHEME_ENCODED = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*%3A%2F%2F", re.IGNORECASE)
_PARAM = re.compile(
    r"(?P<sep>[?&;]|%3F|%26)(?P<key>[A-Za-z_]+)(?P<eq>=|%3D)(?P<value>[^&;#\s'\"]*)", re.IGNORECASE
)
_DEVICE = re.compile(r"/dev/video\d+")


class InvalidSource(ValueError):
    """The camera URL cannot be a source; the message never echoes credentials."""


class SourceKind(str, enum.Enum):
    RTSP = "rtsp"
    HTTP = "http"
    """MJPEG (or any stream FFmpeg reads) over HTTP or HTTPS."""
    FILE = "file"
    DEVICE = "device"


@dataclass(frozen=True)
class CameraSource:
    """A parsed camera source. ``target`` is what OpenCV opens; never log it, log :attr:`display`."""

    kind: SourceKind
    target: str | int = field(repr=False)
    """The URL (credentials included), file path, device path or device index."""
    display: str
    """The source with credentials masked: the only form that may appear in logs and statuses."""
    loop: bool = False
    """Files only: start again at the end instead of ending."""
    secrets: tuple[str, ...] = field(default=(), repr=False)
    """The credential strings in ``target`` (raw and decoded), for :meth:`scrub`."""

    @property
    def is_live(self) -> bool:
        """Streams and devices produce frames in real time; a file is paced by its own fps."""
        return self.kind is not SourceKind.FILE

    def scrub(self, text: str) -> str:
        """``text`` with this source's credentials hidden, in whatever form they appear.

        :func:`redact` alone catches URLs; this also catches a password echoed on its own
        by a library's error message.
        """
        text = redact(text)
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text


def parse_source(url: str | int, *, loop: bool = False) -> CameraSource:
    """Recognise ``rtsp(s)://``, ``http(s)://``, ``file://`` or a file path, ``/dev/videoN``, a device index.

    Raises :class:`InvalidSource` for anything else. Files are not checked for existence
    here: the reader reports a missing file as the camera's error, and retries.
    """
    if isinstance(url, bool):
        raise InvalidSource("a camera source must be a URL, a path or a device index")
    if isinstance(url, int) or (isinstance(url, str) and url.strip().isdigit()):
        index = int(url)
        if not 0 <= index < 64:
            raise InvalidSource(f"device index {index} is out of range (0-63)")
        return CameraSource(SourceKind.DEVICE, index, f"device {index}")
    text = url.strip()
    if not text:
        raise InvalidSource("the camera URL is empty")
    if any(c in text for c in "\r\n\0"):
        raise InvalidSource("the camera URL contains control characters")
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme in ("rtsp", "rtsps"):
        kind = SourceKind.RTSP
    elif scheme in ("http", "https"):
        kind = SourceKind.HTTP
    elif scheme == "file":
        path = unquote(urlsplit(text).path)
        return _file_source(path, loop)
    elif scheme:
        raise InvalidSource(
            f"unsupported camera URL scheme {scheme!r}: use rtsp://, rtsps://, http://, https://, "
            "file://, a file path, /dev/videoN or a device index"
        )
    elif _DEVICE.fullmatch(text):
        return CameraSource(SourceKind.DEVICE, text, text)
    else:
        return _file_source(text, loop)
    if not urlsplit(text).hostname:
        raise InvalidSource(f"the camera URL {redact(text)} has no host")
    return CameraSource(kind, text, redact(text), secrets=_credentials(text))


def _file_source(path: str, loop: bool) -> CameraSource:
    if not path:
        raise InvalidSource("the file path is empty")
    return CameraSource(SourceKind.FILE, str(Path(path).expanduser()), path, loop=loop)


def _credentials(url: str) -> tuple[str, ...]:
    """The user name and password of ``url``, as written and percent-decoded (at least 3 characters)."""
    rest = url.split("://", 1)[1]
    userinfo = _userinfo_end(rest, "@", "/", ":")
    found: set[str] = set()
    if userinfo is not None:
        for part in rest[:userinfo].split(":", 1):
            found |= {part, unquote(part)}
    for match in _PARAM.finditer(url):
        if match["key"].lower() in SECRET_PARAMS:
            found |= {match["value"], unquote(match["value"])}
    return tuple(s for s in found if len(s) >= 3)


def redact(text: str) -> str:
    """Hide the credentials of every URL in ``text`` (plain or percent-encoded) and secret query values.

    ``rtsp://admin:pw@cam:554/s`` -> ``rtsp://***:***@cam:554/s``; ``?user=a&pwd=b`` ->
    ``?user=***&pwd=***``. Text without URLs comes back unchanged.
    """
    text = _redact_userinfo(text, _SCHEME_RAW, at="@", slash="/", colon=":")
    text = _redact_userinfo(text, _SCHEME_ENCODED, at="%40", slash="%2F", colon="%3A")
    return _PARAM.sub(_mask_param, text)


def _mask_param(match: re.Match[str]) -> str:
    if match["key"].lower() not in SECRET_PARAMS or not match["value"]:
        return match.group(0)
    return f"{match['sep']}{match['key']}{match['eq']}{MASK}"


def _redact_userinfo(text: str, scheme: re.Pattern[str], *, at: str, slash: str, colon: str) -> str:
    out: list[str] = []
    pos = 0
    for match in scheme.finditer(text):
        if match.start() < pos:  # inside a URL already handled
            continue
        token_end = _token_end(text, match.end())
        rest = text[match.end() : token_end]
        end = _userinfo_end(rest, at, slash, colon)
        out.append(text[pos : match.end()])
        if end is None:
            out.append(rest)
        else:
            masked = f"{MASK}:{MASK}" if colon.lower() in rest[:end].lower() else MASK
            out.append(masked + at + rest[end + len(at) :])
        pos = token_end
    out.append(text[pos:])
    return "".join(out)


def _token_end(text: str, start: int) -> int:
    """Where the URL starting at ``start`` ends: at whitespace or a closing quote or bracket."""
    match = re.compile(r"[\s'\"<>]").search(text, start)
    return match.start() if match else len(text)


def _userinfo_end(rest: str, at: str, slash: str, colon: str) -> int | None:
    """Index of the ``@`` ending the userinfo in ``rest`` (the URL after ``scheme://``), or ``None``.

    Passwords with an unencoded ``@`` or ``/`` are common in camera URLs, so the *last*
    ``@`` counts, unless what precedes it looks like a host and path (a ``/`` before any
    ``:``), as in ``http://cam/snap@2x.jpg``. When in doubt this masks too much, never too little.
    """
    low, at_l, slash_l, colon_l = rest.lower(), at.lower(), slash.lower(), colon.lower()
    end = low.rfind(at_l)
    if end < 0:
        return None
    before = low[:end]
    first_slash, first_colon = before.find(slash_l), before.find(colon_l)
    if first_slash >= 0 and (first_colon < 0 or first_slash < first_colon):
        # "host/path@..." -- the @ belongs to the path; an @ before the first / may still be userinfo.
        head = low[:first_slash]
        inner = head.rfind(at_l)
        return inner if inner >= 0 else None
    return end
