"""Where the dlib model files are, and which exact files they are.

The weights come from the ``face_recognition_models`` package (PyPI), which ships them as
package data. Its own ``*_location()`` helpers import ``pkg_resources``: half a second
at start-up, and gone from setuptools 81 on. So the files are found through the import
system's package location instead, without running the package's ``__init__``.

Versions name the file and the start of its SHA-256: embeddings from two different
models are not comparable, so whoever stores an embedding should store this with it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
from pathlib import Path

from .errors import ModelUnavailable

PACKAGE = "face_recognition_models"
LANDMARKS_5 = "shape_predictor_5_face_landmarks.dat"
"""dlib's 5-point landmark model (9 MB): eye corners and nose base, all the aligner needs."""
RESNET_EMBEDDING = "dlib_face_recognition_resnet_model_v1.dat"
"""dlib's ResNet giving 128-d descriptors; same person is usually < 0.6 apart (Euclidean)."""
MMOD_DETECTOR = "mmod_human_face_detector.dat"
"""dlib's CNN face detector, used only by the ``cnn`` detector."""


@functools.cache
def model_path(filename: str) -> Path:
    """The installed path of one model file, or :class:`ModelUnavailable` saying what to install."""
    spec = importlib.util.find_spec(PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / "models" / filename
        if path.is_file():
            return path
    raise ModelUnavailable(filename, f"not found; is the {PACKAGE!r} package installed?")


@functools.cache
def model_version(filename: str) -> str:
    """``"<file name> sha256:<first 12 hex digits>"`` for one model file (hashed once, ~0.1 s)."""
    digest = hashlib.sha256()
    with open(model_path(filename), "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return f"{filename} sha256:{digest.hexdigest()[:12]}"


def package_version() -> str:
    """The installed ``face_recognition_models`` distribution's version (its module says 0.1.0)."""
    try:
        return importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
