"""WebSocket close codes and handshake refusals both ends interpret the same way."""

from __future__ import annotations

from enum import IntEnum


class CloseCode(IntEnum):
    NORMAL = 1000
    PROTOCOL_ERROR = 1002
    TOO_BIG = 1009
    HEARTBEAT_TIMEOUT = 4000
    """The API heard nothing from the worker within its heartbeat timeout."""


class Refusal(IntEnum):
    """HTTP statuses the API answers a worker's handshake with, instead of accepting it.

    A worker gives up on the permanent ones (bad token, protocol mismatch) and
    retries the others with backoff.
    """

    BAD_REQUEST = 400
    UNAUTHORIZED = 401
    DUPLICATE_ID = 409
    INCOMPATIBLE_PROTOCOL = 426

    @property
    def permanent(self) -> bool:
        return self in (Refusal.UNAUTHORIZED, Refusal.INCOMPATIBLE_PROTOCOL, Refusal.BAD_REQUEST)


HEADER_WORKER_ID = "X-FaceGrid-Worker-Id"
HEADER_PROTOCOL = "X-FaceGrid-Protocol"
