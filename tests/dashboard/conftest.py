"""Dashboard tests: a real API (and worker) on loopback, driven by httpx or by Debian's Chromium.

Browser tests use Playwright for Python pointed at /usr/bin/chromium (never a downloaded
browser). Without Chromium or Playwright they are skipped with the reason in capitals, and
the run's summary repeats it, so a missing browser is never mistaken for a pass.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from browsing import CHROMIUM, CHROMIUM_ARGS, SKIP_PREFIX, Browsing, browser_missing
from harness import API_DIR, Api, Worker
from video_fixture import build_face_video

if str(API_DIR) not in sys.path:
    sys.path.insert(0, str(API_DIR))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one test module. Not longer: Playwright's sync API keeps an asyncio loop
    running in this thread while it is open, and later tests call asyncio.run()."""
    missing = browser_missing()
    if missing:
        pytest.skip(f"{SKIP_PREFIX}: {missing}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        except Exception as exc:
            pytest.skip(f"{SKIP_PREFIX}: {CHROMIUM} does not start: {exc}")
        yield chromium
        chromium.close()


FAST_CAMERAS = {"STALL_TIMEOUT": "3", "CAMERA_OPEN_TIMEOUT": "3"}


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """An API and one worker for a test module."""
    tmp = tmp_path_factory.mktemp("dashboard")
    api = Api(tmp, HEARTBEAT_INTERVAL="1", HEARTBEAT_TIMEOUT="4")
    api.data_dir.parent.mkdir(parents=True, exist_ok=True)
    api.start()
    worker = Worker(api, "dash-worker", tmp, **FAST_CAMERAS)
    worker.start()
    api.dashboard_worker = worker  # type: ignore[attr-defined]  # tests may stop it to see the alarm
    try:
        worker.wait_registered(timeout=60)
        yield api
    finally:
        worker.stop()
        api.stop()


@pytest.fixture(scope="module")
def video(sample_faces: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 s at 640x360: Obama slides in and out (0.5-3.75 s), then Biden (4.25-6.75 s)."""
    return build_face_video(tmp_path_factory.mktemp("video") / "faces.mp4", sample_faces).path


@pytest.fixture(scope="module")
def group_photo(sample_faces: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Obama and Biden side by side in one JPEG."""
    height = 600
    scaled = []
    for name in ("obama.jpg", "biden.jpg"):
        photo = cv2.imread(str(sample_faces / name))
        assert photo is not None, name
        scaled.append(cv2.resize(photo, (round(photo.shape[1] * height / photo.shape[0]), height)))
    path = tmp_path_factory.mktemp("photos") / "obama-and-biden.jpg"
    cv2.imwrite(str(path), np.hstack(scaled))
    return path


@pytest.fixture
def browsing(browser: Any, system: Api) -> Iterator[Browsing]:
    """A fresh browser context at 1280 px; the test fails if any page threw an error."""
    session = Browsing(browser, system)
    yield session
    session.close()
    assert not session.errors, session.errors


def pytest_terminal_summary(terminalreporter: Any) -> None:
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if SKIP_PREFIX in str(r.longrepr)]
    if skipped:
        terminalreporter.section("DASHBOARD BROWSER TESTS DID NOT RUN", sep="!", red=True, bold=True)
        terminalreporter.line(f"{len(skipped)} browser test(s) skipped: {skipped[0].longrepr[2]}", red=True)
