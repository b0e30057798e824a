"""Fetch the sample face photos that tests and benchmarks run on.

The photos are the test images shipped in the source distribution of
``face_recognition==1.3.0`` on PyPI (Obama, Biden, partial faces, a 32-bit PNG). We
take them with pip, the one registry client every FaceGrid machine has, and never
install the package: it would pull the 12-minute ``dlib`` sdist build.

They land in ``.cache/sample_faces/`` at the repository root (git-ignored). The
directory appears atomically (extracted next to it, then renamed), so its existence
means it is complete, and a lock keeps two concurrent test runs from racing.

Run it as a script (``python scripts/fetch_sample_faces.py``) or call
:func:`sample_faces_dir` from Python; both do nothing if the photos are already there.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = REPO_ROOT / ".cache" / "sample_faces"

REQUIREMENT = "face_recognition==1.3.0"
SDIST_NAME = "face_recognition-1.3.0.tar.gz"
# Pinned so a changed upload (or a mirror serving something else) fails loudly
# instead of silently changing the photos every expectation in the tests rests on.
SDIST_SHA256 = "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec"
MEMBER_DIR = "tests/test_images/"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

EXPECTED_FILES = (
    "32bit.png",
    "biden.jpg",
    "obama.jpg",
    "obama2.jpg",
    "obama3.jpg",
    "obama_partial_face.jpg",
    "obama_partial_face2.jpg",
)
"""Every file the sdist holds under tests/test_images/ (checked: no others)."""


class FetchError(RuntimeError):
    """The photos could not be fetched; the message says why and what to try."""


def sample_faces_dir(*, quiet: bool = False) -> Path:
    """Return the directory of sample photos, fetching them first if needed."""
    if _complete(CACHE_DIR):
        return CACHE_DIR
    CACHE_DIR.parent.mkdir(parents=True, exist_ok=True)
    with open(CACHE_DIR.parent / "sample_faces.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        # Another process may have finished while this one waited for the lock.
        if not _complete(CACHE_DIR):
            _fetch(CACHE_DIR, quiet=quiet)
    return CACHE_DIR


def _complete(directory: Path) -> bool:
    return all((directory / name).is_file() for name in EXPECTED_FILES)


def _fetch(target: Path, *, quiet: bool) -> None:
    with tempfile.TemporaryDirectory(dir=target.parent, prefix="sample_faces.tmp-") as tmp:
        download_dir = Path(tmp) / "download"
        sdist = _download(download_dir, quiet=quiet)
        staging = Path(tmp) / "images"
        names = _extract_images(sdist, staging)
        missing = sorted(set(EXPECTED_FILES) - set(names))
        if missing:
            raise FetchError(f"{SDIST_NAME} lacks expected images: {', '.join(missing)}")
        if target.exists():  # a partial directory left by hand: replace it whole
            shutil.rmtree(target)
        os.replace(staging, target)
    _say(f"extracted {len(names)} images into {target}: {', '.join(sorted(names))}", quiet)


def _download(directory: Path, *, quiet: bool) -> Path:
    _say(f"downloading the {REQUIREMENT} source distribution with pip (not installing it)", quiet)
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
        "--disable-pip-version-check", "--quiet", REQUIREMENT, "-d", str(directory),
    ]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    except subprocess.TimeoutExpired:
        raise FetchError("pip download took more than 10 minutes; is PyPI reachable?") from None
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip()[-2000:]
        raise FetchError(f"pip download of {REQUIREMENT} failed (exit {done.returncode}):\n{detail}")
    sdist = directory / SDIST_NAME
    if not sdist.is_file():
        raise FetchError(f"pip reported success but {sdist.name} is not in {directory}")
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        raise FetchError(f"{SDIST_NAME} has sha256 {digest}, expected {SDIST_SHA256}")
    return sdist


def _extract_images(sdist: Path, staging: Path) -> list[str]:
    """Copy only the test images out of the archive, by base name (no path from the archive)."""
    staging.mkdir(parents=True)
    names: list[str] = []
    with tarfile.open(sdist, "r:gz") as archive:
        for member in archive.getmembers():
            _, sep, name = member.name.partition(MEMBER_DIR)
            if not sep or not member.isfile() or "/" in name or not name.lower().endswith(IMAGE_SUFFIXES):
                continue
            source = archive.extractfile(member)
            if source is None:
                continue
            with source, open(staging / name, "wb") as out:
                shutil.copyfileobj(source, out)
            names.append(name)
    return names


def _say(message: str, quiet: bool) -> None:
    if not quiet:
        print(message, flush=True)


def main() -> int:
    if _complete(CACHE_DIR):
        print(f"sample faces already present in {CACHE_DIR}; nothing to do")
        return 0
    try:
        sample_faces_dir(quiet=False)
    except (FetchError, OSError, tarfile.TarError) as exc:
        print(f"error: could not fetch sample faces: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
