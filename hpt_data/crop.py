"""The square person-centred crop and its transform between source and crop pixels.

Convention (every stage that maps points uses it): continuous pixel coordinates with the
image spanning [0, W] x [0, H], so pixel (row i, column j) covers [j, j+1) x [i, i+1) and
its centre is (j + 0.5, i + 0.5). MediaPipe's normalised landmarks times (W, H) are in
this convention. A crop is an integer window ``[x0, x0 + side) x [y0, y0 + side)`` of the
source (it may reach beyond the frame; the outside is padding), resized to ``size`` pixels:

    crop = scale * (source - (x0, y0)),    scale = size / side

``source_to_crop`` is that map as a 2x3 matrix ``[[s, 0, -s*x0], [0, s, -s*y0]]``. It is
exactly what ``cv2.resize`` does to pixel areas, so a point and the pixel under it stay
together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class CropWindow:
    """A square window of the source frame, resized to ``size`` x ``size`` pixels."""

    x0: int
    y0: int
    side: int
    size: int

    @property
    def scale(self) -> float:
        return self.size / self.side

    @classmethod
    def around(cls, box: tuple[float, float, float, float], margin: float, size: int) -> CropWindow:
        """The square window centred on ``box`` (x0, y0, x1, y1 in source pixels) whose side
        is the box's longer side plus ``margin`` of it on each side; it holds the whole box."""
        x0, y0, x1, y1 = box
        side = max(math.ceil(max(x1 - x0, y1 - y0) * (1 + 2 * margin)), 2)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        wx0 = math.floor(cx - side / 2)
        wy0 = math.floor(cy - side / 2)
        # floor may leave the far edge short by a pixel: grow until the box fits
        side = max(side, math.ceil(x1) - wx0, math.ceil(y1) - wy0)
        return cls(wx0, wy0, side, size)

    def source_to_crop(self) -> np.ndarray:
        """(2, 3) float matrix mapping source points to crop points."""
        s = self.scale
        return np.array([[s, 0.0, -s * self.x0], [0.0, s, -s * self.y0]])

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        """(..., 2) source points -> (..., 2) crop points."""
        return (np.asarray(points, dtype=np.float64) - (self.x0, self.y0)) * self.scale

    def to_source(self, points: np.ndarray) -> np.ndarray:
        """(..., 2) crop points -> (..., 2) source points."""
        return np.asarray(points, dtype=np.float64) / self.scale + (self.x0, self.y0)

    def cut(self, image: np.ndarray, fill: Any = 0, interpolation: int | None = None) -> np.ndarray:
        """The window of ``image`` ((H, W) or (H, W, C)), padded with ``fill`` where it
        leaves the frame, resized to (size, size[, C]). Shrinking averages pixel areas;
        enlarging interpolates (cubic unless ``interpolation`` says otherwise)."""
        import cv2

        h, w = image.shape[:2]
        canvas = np.empty((self.side, self.side, *image.shape[2:]), dtype=image.dtype)
        canvas[...] = fill
        sx0, sy0 = max(self.x0, 0), max(self.y0, 0)
        sx1, sy1 = min(self.x0 + self.side, w), min(self.y0 + self.side, h)
        if sx1 > sx0 and sy1 > sy0:
            canvas[sy0 - self.y0 : sy1 - self.y0, sx0 - self.x0 : sx1 - self.x0] = image[
                sy0:sy1, sx0:sx1
            ]
        if interpolation is None:
            interpolation = cv2.INTER_AREA if self.side > self.size else cv2.INTER_CUBIC
        return cv2.resize(canvas, (self.size, self.size), interpolation=interpolation)

    def to_json(self) -> dict[str, Any]:
        return {
            "x0": self.x0,
            "y0": self.y0,
            "side": self.side,
            "size": self.size,
            "scale": round(self.scale, 9),
            "source_to_crop": np.round(self.source_to_crop(), 9).tolist(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CropWindow:
        return cls(int(data["x0"]), int(data["y0"]), int(data["side"]), int(data["size"]))
