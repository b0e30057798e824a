"""The vision package's exceptions: one root, each carrying what went wrong.

Callers convert at the edge, by ``code``: the API's own image gate
(``apps/api/app/images.py``) uses the same codes for the same faults, so a client sees
one vocabulary whichever side caught the problem. ``invalid_image``,
``unsupported_type`` and ``too_large`` are the client's fault; ``internal`` is ours.
"""

from __future__ import annotations


class VisionError(Exception):
    """Root of every error this package raises on purpose."""

    code = "internal"


class UnreadableImage(VisionError):
    """The bytes are not an image we can decode: empty, corrupt, truncated or an unsupported type."""

    code = "invalid_image"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnsupportedImageType(UnreadableImage):
    """Not one of the accepted image types (judged by content, never by name)."""

    code = "unsupported_type"


class ImageTooLarge(VisionError):
    """The image has more pixels than allowed (a decompression bomb, or just too big).

    ``width`` and ``height`` are ``None`` when OpenCV refused the header itself, before
    the dimensions reached Python.
    """

    code = "too_large"

    def __init__(self, width: int | None, height: int | None, limit: int) -> None:
        if width is None or height is None:
            message = f"image has more than {limit:,} pixels (refused before decoding)"
        else:
            message = f"image is {width}x{height} = {width * height:,} pixels, over the {limit:,}-pixel limit"
        super().__init__(message)
        self.width = width
        self.height = height
        self.limit = limit


class ModelUnavailable(VisionError):
    """A model file is missing or will not load (an installation problem)."""

    def __init__(self, model: str, reason: str) -> None:
        super().__init__(f"model {model}: {reason}")
        self.model = model
        self.reason = reason


class UnknownDetector(VisionError):
    """A detector name that is not registered (a configuration error)."""

    def __init__(self, name: str, available: list[str]) -> None:
        super().__init__(f"unknown face detector {name!r}; available: {', '.join(available)}")
        self.name = name
        self.available = available


class SelfTestFailed(VisionError):
    """The start-up check found the models or the decoder unusable; the worker should not serve."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
