"""API unit tests import the API's package, ``app``, from ``apps/api``.

The worker's package has the same name, which is why ``tests/worker`` runs in its own
pytest invocation.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest
from harness import API_DIR

if str(API_DIR) not in sys.path:
    sys.path.insert(0, str(API_DIR))


@pytest.fixture
def worker_session() -> Callable[..., Any]:
    """Makes a WorkerSession as the socket handler would, without a socket: a send to it fails
    (and the dispatcher would expire it)."""
    from app.workers.session import WorkerSession
    from facegrid_protocol import PROTOCOL_VERSION, Capabilities, Register

    def make(worker_id: str, metrics: Any, job_types: tuple[str, ...] = ("analyze",)) -> WorkerSession:
        info = Register(
            worker_id=worker_id,
            hostname="test",
            pid=1,
            version="0",
            protocol_version=PROTOCOL_VERSION,
            capabilities=Capabilities(job_types=list(job_types), max_jobs=1, max_cameras=0, cpu_count=1),
        )
        return WorkerSession(info=info, websocket=None, metrics=metrics)  # type: ignore[arg-type]

    return make
