"""Fixtures for the worker's in-process tests: its package on the path, real sample photos, one pipeline.

The API and the worker both name their package ``app``, so these tests run in their own
pytest invocation (``pytest tests/worker``); this file puts ``apps/worker`` first.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from harness import WORKER_DIR

sys.path.insert(0, str(WORKER_DIR))

# Before any test module imports cv2: app.vision sets OpenCV's pixel cap, read at cv2's import.
import app.vision  # noqa: F401
from app.vision.pipeline import FacePipeline


@pytest.fixture(scope="session")
def read_sample(sample_faces: Path) -> Callable[[str], bytes]:
    def read(name: str) -> bytes:
        return (sample_faces / name).read_bytes()

    return read


@pytest.fixture(scope="session")
def pipeline() -> FacePipeline:
    """One pipeline for the session (loading takes ~2 s).

    Upsample 0 keeps each detection ~4x cheaper than the default; every face in the
    sample photos is over 180 px, far above the ~80 px HOG needs without upsampling.
    """
    return FacePipeline(upsample=0)
