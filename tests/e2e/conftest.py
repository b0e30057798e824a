"""Fixtures of the end-to-end tests that more than one of their modules uses."""

from __future__ import annotations

from pathlib import Path

import pytest
from video_fixture import build_face_video


@pytest.fixture(scope="module")
def video(sample_faces: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 s at 640x360: Obama's face slides in and out (0.5-3.75 s), then Biden's (4.25-6.75 s)."""
    return build_face_video(tmp_path_factory.mktemp("video") / "faces.mp4", sample_faces).path
