"""Face boxes in pixel coordinates of the original image, the one shape every module shares."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned rectangle: ``x``/``y`` is the top-left pixel, ``right``/``bottom`` are exclusive.

    ``x, y, width, height`` (not left/top/right/bottom) is what results carry, because
    it is what the browser draws and crops with. Coordinates may be negative or run
    past the image when a face is cut by the frame; :meth:`clip` makes them fit.
    """

    x: int
    y: int
    width: int
    height: int

    @classmethod
    def from_edges(cls, left: float, top: float, right: float, bottom: float) -> Box:
        """Build from edges (``right``/``bottom`` exclusive), rounding to whole pixels."""
        x, y = round(left), round(top)
        return cls(x, y, max(0, round(right) - x), max(0, round(bottom) - y))

    @property
    def right(self) -> int:
        return self.x + self.width

    @property
    def bottom(self) -> int:
        return self.y + self.height

    @property
    def area(self) -> int:
        return self.width * self.height

    @property
    def min_side(self) -> int:
        return min(self.width, self.height)

    def scaled(self, fx: float, fy: float) -> Box:
        """The same box in an image resized by ``fx`` horizontally and ``fy`` vertically."""
        return Box.from_edges(self.x * fx, self.y * fy, self.right * fx, self.bottom * fy)

    def clip(self, width: int, height: int) -> Box:
        """The part of the box inside a ``width`` x ``height`` image (empty if none)."""
        left, top = min(max(self.x, 0), width), min(max(self.y, 0), height)
        right, bottom = max(min(self.right, width), left), max(min(self.bottom, height), top)
        return Box(left, top, right - left, bottom - top)

    def to_dict(self) -> dict[str, int]:
        return {"x": self.x, "y": self.y, "width": self.width, "height": self.height}
