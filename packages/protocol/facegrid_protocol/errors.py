"""The protocol's exceptions: one root, each carrying what went wrong."""

from __future__ import annotations

from typing import Literal

Violation = Literal[
    "malformed", "unknown_type", "invalid_message", "unexpected_message", "too_large", "timeout"
]
"""The sort of a protocol error, in a few fixed words (fit for a metrics label):
not a well-formed frame; a type nobody defines; a field that is wrong; a valid message
this side may not send, or not now; a frame over the size limit; a message that is due
(`register`) did not come in time."""


class ProtocolError(Exception):
    """A frame that breaks the protocol; the connection should close."""

    def __init__(self, reason: str, kind: Violation = "unexpected_message") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind: Violation = kind


class MessageTooLarge(ProtocolError):
    """A frame over the agreed maximum size."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"message of {size} bytes exceeds the {limit}-byte limit", "too_large")
        self.size = size
        self.limit = limit
