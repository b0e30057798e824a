"""Frames <-> messages, with no networking.

A message without payload is one JSON text frame. A message with a binary payload
(image bytes, JPEG frames) is one binary frame::

    4-byte big-endian header length | JSON header | raw payload

so images never pay base64's third, and one frame is one message.
"""

from __future__ import annotations

import json
import struct
from typing import NamedTuple

from pydantic import ValidationError

from .errors import MessageTooLarge, ProtocolError
from .messages import MAX_MESSAGE_BYTES, MESSAGE_ADAPTER, Message

_HEADER_LEN = struct.Struct(">I")


class Frame(NamedTuple):
    message: Message
    payload: bytes | None = None


def encode(message: Message, payload: bytes | None = None, *, limit: int = MAX_MESSAGE_BYTES) -> str | bytes:
    """Encode one message (and its payload) into one WebSocket frame's data."""
    header = message.model_dump_json(exclude_none=True)
    if payload is None:
        data: str | bytes = header
        size = len(header.encode())
    else:
        raw = header.encode()
        data = _HEADER_LEN.pack(len(raw)) + raw + payload
        size = len(data)
    if size > limit:
        raise MessageTooLarge(size, limit)
    return data


def decode(data: str | bytes, *, limit: int = MAX_MESSAGE_BYTES) -> Frame:
    """Decode one frame's data; raise :class:`ProtocolError` saying what is wrong."""
    size = len(data) if isinstance(data, bytes) else len(data.encode())
    if size > limit:
        raise MessageTooLarge(size, limit)
    payload: bytes | None = None
    if isinstance(data, bytes):
        if len(data) < _HEADER_LEN.size:
            raise ProtocolError("binary frame shorter than its header length", "malformed")
        (header_len,) = _HEADER_LEN.unpack_from(data)
        end = _HEADER_LEN.size + header_len
        if end > len(data):
            raise ProtocolError("binary frame header length runs past the frame", "malformed")
        header: str | bytes = data[_HEADER_LEN.size : end]
        payload = data[end:]
    else:
        header = data
    try:
        obj = json.loads(header)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"malformed JSON: {exc}", "malformed") from None
    if not isinstance(obj, dict) or "type" not in obj:
        raise ProtocolError("a message must be a JSON object with a 'type'", "malformed")
    try:
        message = MESSAGE_ADAPTER.validate_python(obj)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "union_tag_invalid":
            raise ProtocolError(f"unknown message type {obj['type']!r}", "unknown_type") from None
        where = ".".join(str(p) for p in first["loc"])
        raise ProtocolError(
            f"invalid {obj['type']!r} message: {where}: {first['msg']}", "invalid_message"
        ) from None
    return Frame(message, payload)
