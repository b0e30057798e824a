"""`echo`: the trivial job that proves dispatch end to end."""

from __future__ import annotations

import asyncio

from facegrid_protocol import Job

from . import JobOutput

MAX_DELAY = 30.0


async def run_echo(job: Job, payload: bytes | None) -> JobOutput:
    """Answer with the job's `data` (and payload) after `delay` seconds."""
    delay = min(float(job.params.get("delay", 0) or 0), MAX_DELAY)
    if delay > 0:
        await asyncio.sleep(delay)
    return JobOutput({"data": job.params.get("data")}, payload)
