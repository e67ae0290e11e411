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
        sx0, sy0 = max(self.x0, 0), max(self.y0, 0)
        sx1, sy1 = min(self.x0 + self.side, w), min(self.y0 + self.side, h)
        if interpolation is None:
            interpolation = cv2.INTER_AREA if self.side > self.size else cv2.INTER_CUBIC
        pad = (sy0 - self.y0, self.y0 + self.side - sy1, sx0 - self.x0, self.x0 + self.side - sx1)
        border = _border_value(image, fill) if sx1 > sx0 and sy1 > sy0 else None
        if border is not None and not any(pad):  # inside the frame: resized in place
            canvas = image[sy0:sy1, sx0:sx1]
        elif border is not None:  # the part in the frame, the rest filled (as below)
            const = cv2.BORDER_CONSTANT | cv2.BORDER_ISOLATED
            canvas = cv2.copyMakeBorder(image[sy0:sy1, sx0:sx1], *pad, const, value=border)
        else:
            canvas = np.empty((self.side, self.side, *image.shape[2:]), dtype=image.dtype)
            canvas[...] = fill
            if sx1 > sx0 and sy1 > sy0:
                canvas[sy0 - self.y0 : sy1 - self.y0, sx0 - self.x0 : sx1 - self.x0] = image[
                    sy0:sy1, sx0:sx1
                ]
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


#: dtypes whose padding OpenCV writes as numpy would (integers exactly, floats as given)
_CV_DTYPES = (np.uint8, np.uint16, np.int16, np.float32, np.float64)


def _border_value(image: np.ndarray, fill: Any) -> tuple[float, ...] | None:
    """``fill`` as the value of :func:`cv2.copyMakeBorder` for ``image``, or None where
    OpenCV would not pad exactly as assigning ``fill`` to a numpy array of its dtype does
    (a channel count or dtype it does not take, a fractional fill of integers)."""
    channels = 1 if image.ndim == 2 else image.shape[2] if image.ndim == 3 else 0
    if image.dtype.type not in _CV_DTYPES or not (image.ndim == 2 or 2 <= channels <= 4):
        return None
    try:
        values = np.broadcast_to(np.asarray(fill), (channels,))
    except ValueError:
        return None
    if values.dtype.kind not in "biuf":
        return None
    as_dtype = values.astype(image.dtype)
    if not np.array_equal(as_dtype, values):  # wrapped, truncated or rounded: numpy's way
        return None
    return tuple(float(v) for v in as_dtype)
