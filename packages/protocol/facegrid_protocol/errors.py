"""The protocol's exceptions: one root, each carrying what went wrong."""

from __future__ import annotations


class ProtocolError(Exception):
    """A frame that does not decode to a valid message; the connection should close."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MessageTooLarge(ProtocolError):
    """A frame over the agreed maximum size."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"message of {size} bytes exceeds the {limit}-byte limit")
        self.size = size
        self.limit = limit
