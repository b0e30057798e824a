"""A misbehaving peer on the socket is closed with a reason; nobody else notices."""

from __future__ import annotations

import asyncio
import os

import pytest
import websockets
from facegrid_protocol import (
    HEADER_PROTOCOL,
    HEADER_WORKER_ID,
    MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
    Capabilities,
    Heartbeat,
    Register,
    decode,
    encode,
)
from harness import wait_until


async def _registered_peer(api, worker_id: str) -> websockets.ClientConnection:
    """A hand-driven worker: registers correctly, then does whatever the test says."""
    ws = await websockets.connect(
        api.ws_url,
        additional_headers={
            "Authorization": f"Bearer {api.worker_token}",
            HEADER_WORKER_ID: worker_id,
            HEADER_PROTOCOL: str(PROTOCOL_VERSION),
        },
        max_size=None,
    )
    caps = Capabilities(job_types=["echo"], max_jobs=1, max_cameras=0, cpu_count=1)
    await ws.send(
        encode(
            Register(
                worker_id=worker_id,
                hostname="test",
                pid=os.getpid(),
                version="t",
                protocol_version=PROTOCOL_VERSION,
                capabilities=caps,
            )
        )
    )
    assert decode(await ws.recv()).message.type == "registered"
    return ws


async def _closed_by_api_after(api, frame: str | bytes) -> websockets.ConnectionClosed:
    ws = await _registered_peer(api, "rogue")
    with pytest.raises(websockets.ConnectionClosed) as err:
        await ws.send(frame)  # a huge frame may be cut off by the API while still being sent
        await asyncio.wait_for(ws.recv(), 10)
    return err.value


@pytest.mark.parametrize(
    ("frame", "code", "reason", "kind", "logged"),
    [
        ("{this is not json", 1002, "malformed JSON", "malformed", "malformed JSON"),
        (
            '{"type": "self_destruct"}',
            1002,
            "unknown message type 'self_destruct'",
            "unknown_type",
            "unknown message type 'self_destruct'",
        ),
        (
            encode(Heartbeat(jobs_in_flight=0)).replace("0", '"many"'),
            1002,
            "jobs_in_flight",
            "invalid_message",
            "invalid 'heartbeat' message: heartbeat.jobs_in_flight",
        ),
        (
            '{"type": "job", "job_id": "x", "kind": "echo", "timeout": 1}',
            1002,
            "may not send 'job'",
            "unexpected_message",
            "a worker may not send 'job'",
        ),
        (b"\x00\x00", 1002, "shorter than its header length", "malformed", "binary frame shorter than"),
        (
            b"\x00" * (MAX_MESSAGE_BYTES + 1),
            1009,
            "",
            "too_large",
            f"a frame over the {MAX_MESSAGE_BYTES}-byte limit",
        ),
    ],
    ids=["malformed-json", "unknown-type", "invalid-field", "wrong-direction", "short-binary", "oversize"],
)
def test_bad_frames_close_only_that_worker(api, make_worker, frame, code, reason, kind, logged):
    bystander = make_worker(api, "bystander")
    closed = asyncio.run(_closed_by_api_after(api, frame))
    if closed.rcvd is not None or code != 1009:
        assert closed.rcvd is not None and closed.rcvd.code == code
        assert reason in closed.rcvd.reason
    # else: the API closed (1009) and reset the socket while 32 MB were still being sent, so the
    # close frame was lost in the reset; the checks below still show only this peer was dropped.
    # A protocol violation, logged as one (naming the limit for an oversize frame) and counted.
    line = f"WARNING app.workers.socket: worker rogue broke the protocol: {logged}"
    wait_until(lambda: line in api.log(), 10, "the violation to be logged")
    assert api.metric(f'facegrid_socket_protocol_errors_total{{reason="{kind}"}}') == 1
    assert api.metric('facegrid_socket_messages_total{direction="out",type="registered"}') == 2
    assert api.http.get("/health").status_code == 200
    assert api.online()["bystander"]["pid"] == bystander.pid
    assert api.http.post("/api/diagnostics/echo", json={"data": 1}).json()["worker_id"] == "bystander"
    assert "rogue" not in api.online()


def test_first_message_must_be_register(api):
    async def scenario() -> websockets.ConnectionClosed:
        ws = await websockets.connect(
            api.ws_url,
            additional_headers={
                "Authorization": f"Bearer {api.worker_token}",
                HEADER_WORKER_ID: "eager",
                HEADER_PROTOCOL: str(PROTOCOL_VERSION),
            },
        )
        await ws.send(encode(Heartbeat(jobs_in_flight=0)))
        with pytest.raises(websockets.ConnectionClosed) as err:
            await ws.recv()
        return err.value

    closed = asyncio.run(scenario())
    assert closed.rcvd is not None and closed.rcvd.code == 1002
    assert "expected 'register' first" in closed.rcvd.reason
    assert api.worker("eager") is None
    assert api.metric('facegrid_socket_protocol_errors_total{reason="unexpected_message"}') == 1
