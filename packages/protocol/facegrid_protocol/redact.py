"""Credentials in camera URLs: both sides show them only redacted (logs, status, responses)."""

from __future__ import annotations

import re
from urllib.parse import unquote

# scheme://user:pass@host -> the userinfo part, also when its characters are %-encoded.
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/?#\s]*)@")
_SECRET_PARAMS = re.compile(r"(?i)([?&](?:password|passwd|pwd|pass|token|key|secret|auth)=)[^&#\s]*")


def redact_url(url: str) -> str:
    """``rtsp://admin:hunter2@cam/stream`` -> ``rtsp://***@cam/stream``; also hides password-like
    query parameters. Applied to the %-decoded text too, so ``user%3Apass%40host`` leaks nothing."""
    text = _USERINFO.sub(r"\g<scheme>***@", url)
    text = _SECRET_PARAMS.sub(r"\1***", text)
    if "%" in text:
        decoded = unquote(text)
        if decoded != text and redact_url(decoded) != decoded:
            return redact_url(decoded)
    return text
