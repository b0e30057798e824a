"""The wire protocol without sockets: frames in, typed messages out, and back."""

from __future__ import annotations

import json
import struct

import pytest
from facegrid_protocol import (
    MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
    CancelJob,
    Capabilities,
    Draining,
    Heartbeat,
    Job,
    JobError,
    JobRelease,
    JobResult,
    LiveFrame,
    MessageTooLarge,
    ProtocolError,
    Refusal,
    Register,
    Registered,
    TrackEnded,
    decode,
    encode,
)

CAPS = Capabilities(job_types=["echo"], models={"dlib": "20.0"}, max_jobs=2, max_cameras=4, cpu_count=2)

EVERY_MESSAGE = [
    Register(
        worker_id="w1",
        hostname="h",
        pid=1,
        version="0.1",
        protocol_version=PROTOCOL_VERSION,
        capabilities=CAPS,
    ),
    Registered(worker_id="w1", heartbeat_interval=5, heartbeat_timeout=15),
    Heartbeat(jobs_in_flight=0),
    Draining(reason="stopping"),
    Job(job_id="j1", kind="echo", params={"data": [1, "x"]}, timeout=3),
    JobResult(job_id="j1", result={"data": 1}),
    JobResult(job_id="j1", error=JobError(code="bad_input", message="no face")),
    JobRelease(job_id="j1", reason="stopping"),
    CancelJob(job_id="j1"),
]


@pytest.mark.parametrize("message", EVERY_MESSAGE, ids=lambda m: m.type)
def test_every_message_round_trips_as_a_text_frame(message):
    data = encode(message)
    assert isinstance(data, str)
    assert json.loads(data)["type"] == message.type
    assert decode(data) == (message, None)


def test_payload_travels_raw_in_one_binary_frame():
    image = bytes(range(256)) * 100
    data = encode(Job(job_id="j", kind="detect", timeout=1), image)
    assert isinstance(data, bytes)
    (header_len,) = struct.unpack(">I", data[:4])
    assert json.loads(data[4 : 4 + header_len])["kind"] == "detect"
    assert data.endswith(image) and len(data) == 4 + header_len + len(image)  # no base64
    frame = decode(data)
    assert frame.message.job_id == "j" and frame.payload == image


def test_empty_payload_is_kept_distinct_from_none():
    frame = decode(encode(JobResult(job_id="j", result={}), b""))
    assert frame.payload == b""


@pytest.mark.parametrize(
    ("data", "reason", "kind"),
    [
        ("{not json", "malformed JSON", "malformed"),
        ("[1, 2]", "JSON object with a 'type'", "malformed"),
        ('{"job_id": "x"}', "JSON object with a 'type'", "malformed"),
        ('{"type": "launch_missiles"}', "unknown message type 'launch_missiles'", "unknown_type"),
        ('{"type": "heartbeat"}', "jobs_in_flight", "invalid_message"),
        ('{"type": "heartbeat", "jobs_in_flight": -1}', "jobs_in_flight", "invalid_message"),
        ('{"type": "heartbeat", "jobs_in_flight": 0, "extra": 1}', "extra", "invalid_message"),
        (b"\x00\x01", "shorter than its header length", "malformed"),
        (b"\x00\x00\x10\x00{}", "runs past the frame", "malformed"),
        (b"\x00\x00\x00\x02\xff\xfe", "malformed JSON", "malformed"),
    ],
)
def test_bad_frames_raise_protocol_errors_that_say_why(data, reason, kind):
    with pytest.raises(ProtocolError) as err:
        decode(data)
    assert reason in err.value.reason
    assert err.value.kind == kind


def test_frames_over_the_limit_are_refused_both_ways():
    payload = b"\0" * 1000
    with pytest.raises(MessageTooLarge) as err:
        encode(Job(job_id="j", kind="echo", timeout=1), payload, limit=500)
    assert err.value.limit == 500 and err.value.size > 1000
    with pytest.raises(MessageTooLarge) as err:
        decode(b"\0" * (MAX_MESSAGE_BYTES + 1))
    assert err.value.kind == "too_large"


def test_registration_carries_no_http_port():
    fields = set(Register.model_fields) | set(Capabilities.model_fields)
    assert not any("port" in name for name in fields)


def test_refusals_split_into_permanent_and_retryable():
    assert Refusal.UNAUTHORIZED.permanent and Refusal.INCOMPATIBLE_PROTOCOL.permanent
    assert not Refusal.DUPLICATE_ID.permanent


def test_obsolete_fields_are_not_sent_and_still_accepted_from_older_workers():
    for message in (TrackEnded(camera_id=1, track_id="7", last_seen=2.0), LiveFrame(camera_id=1)):
        assert set(json.loads(encode(message))) == set(type(message).model_fields) - {"first_seen", "at"}
    older = '{"type": "track_ended", "camera_id": 1, "track_id": "7", "first_seen": 1.0, "last_seen": 2.0}'
    assert decode(older).message == TrackEnded(camera_id=1, track_id="7", first_seen=1.0, last_seen=2.0)
    frame = decode(encode(LiveFrame(camera_id=1, at=3.0), b"jpeg"))  # as an older worker sends it
    assert frame.payload == b"jpeg"
