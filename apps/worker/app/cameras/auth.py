"""Did the camera refuse its credentials? Asked after OpenCV could not open a network camera.

OpenCV says only that opening failed, which reads the same for a wrong password, a wrong
path and a server that is not a camera. So when an RTSP or HTTP camera does not open,
:func:`access_refused` asks the server itself, as FFmpeg would: an RTSP ``DESCRIBE`` or
an HTTP ``GET`` with the URL's user name and password (Basic, or Digest when the server
asks for it, RFC 2617). A ``401`` to that means the credentials were refused, or, with
none in the URL, that the camera wants some. Anything else, including what this cannot
judge (TLS, a Digest algorithm other than MD5), is "cannot tell" and the usual reason stands.
Run only on failure, so a working camera never pays for it.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import re
import secrets
import socket
from urllib.parse import unquote, urlsplit

from .preflight import DEFAULT_PORTS

MAX_REPLY = 16 * 1024
_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^\s,]*))')


class Access(str, enum.Enum):
    REFUSED = "refused"
    """The server answered 401 to the URL's credentials."""
    MISSING = "missing"
    """The server answered 401 and the URL has no credentials."""


REASONS = {
    Access.REFUSED: "the camera refused the user name or password in the address ({protocol} 401)",
    Access.MISSING: "the camera asks for a user name and password: put them in the address, "
    "as in rtsp://user:password@host/path ({protocol} 401)",
}


def access_refused(url: str, timeout: float) -> Access | None:
    """Whether the RTSP or HTTP server of ``url`` refuses access; ``None``: it does not, or cannot tell."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("rtsp", "http"):
        return None  # rtsps and https: the reply is behind TLS
    host = parts.hostname or ""
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError:
        return None
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    where = parts.netloc.rpartition("@")[2]
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    method, uri = ("DESCRIBE", f"rtsp://{where}{path}") if scheme == "rtsp" else ("GET", path)
    basic = _basic(user, password) if user else None
    try:
        status, challenges = _ask(host, port, timeout, _request(scheme, method, uri, where, basic))
        if status != 401:
            return None
        if not user:
            return Access.MISSING
        digest = next((c for c in challenges if c.lower().startswith("digest")), None)
        if digest is None:
            return Access.REFUSED  # Basic credentials, refused
        answer = digest_authorization(digest, method, uri, user, password)
        if answer is None:
            return None
        status, _ = _ask(host, port, timeout, _request(scheme, method, uri, where, answer))
    except OSError:  # it stopped answering meanwhile: the usual reason stands
        return None
    return Access.REFUSED if status == 401 else None


def _request(scheme: str, method: str, uri: str, host: str, authorization: str | None) -> bytes:
    lines = [f"{method} {uri} {'RTSP/1.0' if scheme == 'rtsp' else 'HTTP/1.0'}"]
    lines.append("CSeq: 1" if scheme == "rtsp" else f"Host: {host}")
    if scheme == "rtsp":
        lines.append("Accept: application/sdp")
    if authorization:
        lines.append(f"Authorization: {authorization}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "replace")


def _ask(host: str, port: int, timeout: float, request: bytes) -> tuple[int, list[str]]:
    """Send one request on a new connection; the reply's status and its ``WWW-Authenticate`` values."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(request)
        reply = b""
        while b"\r\n\r\n" not in reply and len(reply) < MAX_REPLY:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    head = reply.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    status = head[0].split()
    code = int(status[1]) if len(status) > 1 and status[1].isdigit() else 0
    challenges = [
        line.split(":", 1)[1].strip() for line in head[1:] if line.lower().startswith("www-authenticate:")
    ]
    return code, challenges


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def digest_authorization(
    challenge: str, method: str, uri: str, user: str, password: str, cnonce: str = ""
) -> str | None:
    """The ``Authorization`` value answering a Digest ``challenge`` (MD5, qop ``auth`` or none);
    ``None`` for what it cannot answer."""
    params = {m[1].lower(): m[2] if m[2] is not None else m[3] for m in _PARAM.finditer(challenge)}
    if params.get("algorithm", "MD5").upper() != "MD5" or "nonce" not in params:
        return None
    realm, nonce = params.get("realm", ""), params["nonce"]
    ha1 = _md5(f"{user}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    fields = {"username": user, "realm": realm, "nonce": nonce, "uri": uri}
    if "auth" in [q.strip() for q in params.get("qop", "").split(",")]:
        cnonce = cnonce or secrets.token_hex(8)
        fields.update(qop="auth", nc="00000001", cnonce=cnonce)
        fields["response"] = _md5(f"{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}")
    elif "qop" in params:
        return None  # auth-int only
    else:
        fields["response"] = _md5(f"{ha1}:{nonce}:{ha2}")
    if "opaque" in params:
        fields["opaque"] = params["opaque"]
    unquoted = {"qop", "nc"}
    return "Digest " + ", ".join(f"{k}={v}" if k in unquoted else f'{k}="{v}"' for k, v in fields.items())


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()
