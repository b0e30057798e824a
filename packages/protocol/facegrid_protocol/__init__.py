"""FaceGrid's wire protocol between the API and its workers (Sans-I/O: no networking here)."""

from .close_codes import HEADER_PROTOCOL, HEADER_WORKER_ID, CloseCode, Refusal
from .codec import Frame, decode, encode
from .errors import MessageTooLarge, ProtocolError
from .messages import (
    MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
    WORKER_PATH,
    CancelJob,
    Capabilities,
    Draining,
    Heartbeat,
    Job,
    JobError,
    JobRelease,
    JobResult,
    Message,
    Register,
    Registered,
)

__all__ = [
    "HEADER_PROTOCOL",
    "HEADER_WORKER_ID",
    "MAX_MESSAGE_BYTES",
    "PROTOCOL_VERSION",
    "WORKER_PATH",
    "CancelJob",
    "Capabilities",
    "CloseCode",
    "Draining",
    "Frame",
    "Heartbeat",
    "Job",
    "JobError",
    "JobRelease",
    "JobResult",
    "Message",
    "MessageTooLarge",
    "ProtocolError",
    "Refusal",
    "Register",
    "Registered",
    "decode",
    "encode",
]
