"""What a camera's ``url`` means, and how to show it without its credentials.

The API validates camera URLs with :func:`parse_source` when they are saved, and the
worker parses them again to open them: one definition, so the API never accepts what
the worker will refuse. :class:`CameraSource` says how to open a source (FFmpeg for
streams and files, V4L2 for devices) and how to name it.

Camera URLs routinely carry credentials (``rtsp://admin:pw@cam/...``, MJPEG endpoints
with ``?user=..&pwd=..``) and FFmpeg needs them verbatim, so the raw URL stays inside
:class:`CameraSource` and everything shown to a person goes through :func:`redact`
first: responses, log lines, status reasons, error messages. :func:`redact` works on
any text, because error messages embed URLs, and errs on the side of masking: a
malformed URL (``rtsp:/user:pw@cam``), a password with an unencoded ``@ / ? #`` or a
space, userinfo without a scheme (``user:pw@host``) and URLs percent-encoded inside
other URLs are all masked, at the price of sometimes hiding more than a secret.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

MASK = "***"

SECRET_PARAM_PARTS = (
    "user", "usr", "login", "pass", "pwd", "psw", "token", "key", "secret", "auth", "sig", "cred", "session",
)  # fmt: skip
"""A query parameter whose name contains one of these has its value hidden (``api_key``, ``passwd``...)."""

NETWORK_SCHEMES = {"rtsp": "rtsp", "rtsps": "rtsp", "http": "http", "https": "http"}
MAX_DEVICE_INDEX = 63

# A scheme and its slashes. Known camera schemes count with any number of slashes, so a
# mistyped "rtsp:/user:pw@cam" is masked too; other schemes need "://".
_SCHEME_RAW = re.compile(r"(?i)\b(?:rtsps?|https?|file):/*|\b[A-Za-z][A-Za-z0-9+.-]*://")
_SCHEME_ENCODED = re.compile(r"(?i)\b[A-Za-z][A-Za-z0-9+.-]*%3A(?:%2F)+")
_TOKEN_END = re.compile(r"[\s'\"<>]")
_PARAM = re.compile(
    r"(?P<sep>[?&;]|%3F|%26)(?P<key>[A-Za-z0-9_.-]+)(?P<eq>=|%3D)(?P<value>[^&;#\s'\"<>]*)", re.IGNORECASE
)
# userinfo without a scheme: "user:pw@host" standing on its own in a text.
_BARE_USERINFO = re.compile(r"(?<![^\s'\"(<\[=,])(?P<info>[^\s'\"<>/@:]+:(?!/)[^\s'\"<>]*)@(?=[^\s'\"<>@])")
_DEVICE = re.compile(r"/dev/video\d+")
_PORT = re.compile(r"\d{1,5}")

ENCODE_HINT = (
    "if the user name or password contains @ / ? # : or a space, write them as %40 %2F %3F %23 %3A %20"
)


class InvalidSource(ValueError):
    """The camera URL cannot be a source. The message is a sentence for people and never echoes
    credentials."""


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
    """Recognise ``rtsp(s)://``, ``http(s)://``, ``file://`` or an absolute file path, ``/dev/videoN``,
    a device index.

    Raises :class:`InvalidSource` for anything else, saying what to write instead. Files
    are not checked for existence (they live on the worker, which reports a missing file
    as the camera's error, and retries).
    """
    if isinstance(url, bool):
        raise InvalidSource("A camera address must be a URL, a file path or a device number.")
    if isinstance(url, int) or url.strip().isdigit():
        index = int(url)
        if not 0 <= index <= MAX_DEVICE_INDEX:
            raise InvalidSource(f"Device number {index} is out of range: use 0 to {MAX_DEVICE_INDEX}.")
        return CameraSource(SourceKind.DEVICE, index, f"device {index}")
    text = url.strip()
    if not text:
        raise InvalidSource("The camera address is empty.")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise InvalidSource("The camera address contains control characters (a line break or a tab).")
    scheme = _scheme(text)
    if scheme is None:
        if _DEVICE.fullmatch(text):
            return CameraSource(SourceKind.DEVICE, text, text)
        if not text.startswith(("/", "~")):
            raise InvalidSource(
                "This is not a camera address. Use rtsp:// or rtsps:// (an IP camera), http:// or https:// "
                "(an MJPEG stream), an absolute path of a video file on the worker (/...), /dev/videoN "
                "or a device number."
            )
        return _file_source(text, loop)
    if scheme == "file":
        return _file_source(unquote(urlsplit(text).path), loop)
    kind = NETWORK_SCHEMES.get(scheme)
    if kind is None:
        raise InvalidSource(
            f"Cameras with {scheme}:// addresses are not supported: use rtsp://, rtsps://, http:// or "
            "https://, an absolute path of a video file on the worker, /dev/videoN or a device number."
        )
    _check_network_url(text)
    return CameraSource(SourceKind(kind), text, redact(text), secrets=_credentials(text))


def _scheme(text: str) -> str | None:
    """The scheme of ``text`` in lower case, or ``None`` for something without one (a path, garbage)."""
    match = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):(/*)", text)
    if match is None or len(match[1]) < 2:  # a path, or "C:..."
        return None
    scheme, slashes = match[1].lower(), match[2]
    if slashes == "//" or (scheme == "file" and slashes.startswith("/")):
        return scheme
    if scheme in NETWORK_SCHEMES or scheme == "file":  # "rtsp:/cam", "http:cam"
        raise InvalidSource(f"The address is not a valid URL: write {scheme}:// and then the camera's host.")
    return None  # "user:pw@host" has no scheme; never echo what precedes the colon


def _check_network_url(text: str) -> None:
    if any(c.isspace() for c in text):
        raise InvalidSource(f"The camera URL contains a space; {ENCODE_HINT}.")
    parts = urlsplit(text)
    after_host = text.split("://", 1)[1][len(parts.netloc) :]
    if ("@" in parts.netloc and "@" in after_host) or (
        after_host[:1] in ("?", "#") and "@" in after_host.split("/", 1)[0]
    ):
        # "user:p@ss/w@rd@cam" has host "ss"; "user:1234?x@host" host "user", port 1234:
        # a password that needs encoding, whose pieces would show as a host.
        raise InvalidSource(f"The camera URL is ambiguous; {ENCODE_HINT}.")
    try:
        parts.port  # noqa: B018  (raises for a port that is not a number from 0 to 65535)
        host = parts.hostname
    except ValueError:
        raise InvalidSource(
            f"The camera URL's port is not a number from 0 to 65535; {ENCODE_HINT}."
        ) from None
    if not host:
        raise InvalidSource("The camera URL has no host (write it as scheme://host/path).")


def _file_source(path: str, loop: bool) -> CameraSource:
    if not path:
        raise InvalidSource("The file path is empty.")
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
        if _secret_key(match["key"]):
            found |= {match["value"], unquote(match["value"])}
    return tuple(s for s in found if len(s) >= 3)


def redact(text: str) -> str:
    """Hide the credentials of every URL in ``text`` (plain or percent-encoded) and secret query values.

    ``rtsp://admin:pw@cam:554/s`` -> ``rtsp://***:***@cam:554/s``; ``?user=a&pwd=b`` ->
    ``?user=***&pwd=***``; ``user:pw@host`` -> ``***:***@host``. Text without URLs comes
    back unchanged.
    """
    text = _redact_userinfo(text, _SCHEME_RAW, at="@", slash="/", colon=":")
    text = _redact_userinfo(text, _SCHEME_ENCODED, at="%40", slash="%2F", colon="%3A")
    text = _BARE_USERINFO.sub(_mask_bare, text)
    return _PARAM.sub(_mask_param, text)


def _secret_key(key: str) -> bool:
    low = key.lower()
    return any(part in low for part in SECRET_PARAM_PARTS)


def _mask_param(match: re.Match[str]) -> str:
    if not _secret_key(match["key"]) or not match["value"] or match["value"] == MASK:
        return match.group(0)
    return f"{match['sep']}{match['key']}{match['eq']}{MASK}"


def _mask_bare(match: re.Match[str]) -> str:
    if match["info"].endswith(MASK):  # already masked, as part of a URL
        return match.group(0)
    return f"{MASK}:{MASK}@"


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
        if end is not None:
            userinfo = rest[:end]
            masked = f"{MASK}:{MASK}" if colon.lower() in userinfo.lower() or ":" in userinfo else MASK
            out.append(masked + at + rest[end + len(at) :])
            pos = token_end
            continue
        cut = _cut_password_end(text, rest, token_end, at, slash, colon)
        if cut is None:
            out.append(rest)
            pos = token_end
        else:  # "user:pw zz@host": a space cut the password; hide up to its "@" (or the whole host)
            out.append(f"{MASK}:{MASK}")
            pos = cut
    out.append(text[pos:])
    return "".join(out)


def _cut_password_end(text: str, rest: str, token_end: int, at: str, slash: str, colon: str) -> int | None:
    """Where to resume after a URL whose authority looks like ``user:password`` cut short by a space.

    ``None`` when the authority is a plain ``host[:port]``.
    """
    authority = re.split(re.escape(slash) + "|[?#]", rest, maxsplit=1, flags=re.IGNORECASE)[0]
    low = authority.lower()
    if colon.lower() not in low or low.startswith("["):
        return None
    port = authority[low.rfind(colon.lower()) + len(colon) :]
    if _PORT.fullmatch(port):
        return None
    line_end = text.find("\n", token_end)
    line_end = len(text) if line_end < 0 else line_end
    next_at = text.lower().find(at.lower(), token_end, line_end)
    if next_at >= 0:
        return next_at  # resume at the "@": the host after it stays visible
    return token_end - len(rest) + len(authority)


def _token_end(text: str, start: int) -> int:
    """Where the URL starting at ``start`` ends: at whitespace or a closing quote or bracket."""
    match = _TOKEN_END.search(text, start)
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
