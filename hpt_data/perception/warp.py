"""Part of an OpenCV affine warp, bit for bit.

``cv2.warpAffine`` computes each output pixel's source point in fixed point from the output
grid's origin, so a warp of a smaller output window (its origin moved into the map's
translation) lands 1/32 of a pixel off in places, and a steep mask edge then changes by up
to 1/32 (``INTER_BITS``): enough to move a thresholded box by a pixel. :func:`warp_part`
gives the values the whole warp would give on a part of its output, at the cost of that
part only: the same fixed-point source points (OpenCV's ``WarpAffineInvoker``, bilinear
case), handed to ``cv2.remap``, which is what ``warpAffine`` itself calls with them.
``tests/test_perception_speed.py`` checks it against ``cv2.warpAffine`` on random maps, so
an OpenCV that computes them otherwise fails there, not in the outputs.
"""

from __future__ import annotations

import numpy as np

#: OpenCV's fixed point of the warp: source points in 1/1024 pixel (``AB_BITS``), the
#: bilinear weights' table in 1/32 (``INTER_BITS``)
_AB_BITS, _INTER_BITS = 10, 5
_TAB = 1 << _INTER_BITS


def inverse_map(fwd: np.ndarray) -> np.ndarray:
    """(6,) output -> source map of the (2, 3) source -> output ``fwd``, as
    ``cv2.warpAffine`` inverts it without ``WARP_INVERSE_MAP`` (the same float steps)."""
    m = np.asarray(fwd, np.float64).ravel().copy()
    d = m[0] * m[4] - m[1] * m[3]
    d = 1.0 / d if d != 0 else 0.0
    a11, a22 = m[4] * d, m[0] * d
    m[0], m[1], m[3], m[4] = a11, m[1] * -d, m[3] * -d, a22
    b1 = -m[0] * m[2] - m[1] * m[5]
    b2 = -m[3] * m[2] - m[4] * m[5]
    m[2], m[5] = b1, b2
    return m


def warp_part(src: np.ndarray, fwd: np.ndarray, part: tuple[int, int, int, int]) -> np.ndarray:
    """``cv2.warpAffine(src, fwd, size, flags=INTER_LINEAR, borderMode=BORDER_CONSTANT)``
    (border 0) on the output pixels ``part`` = (x0, y0, x1, y1) of it only, (y1 - y0,
    x1 - x0) of ``src``'s dtype: the same values to the bit, whatever the whole output's
    size (it does not enter the computation)."""
    import cv2

    x0, y0, x1, y1 = part
    if x1 <= x0 or y1 <= y0:  # OpenCV refuses empty maps
        return np.zeros((max(y1 - y0, 0), max(x1 - x0, 0)), src.dtype)
    m = inverse_map(fwd)
    scale = 1 << _AB_BITS
    xs = np.arange(x0, x1, dtype=np.float64)
    ys = np.arange(y0, y1, dtype=np.float64)
    # np.rint rounds half to even, as OpenCV's saturate_cast<int>(double)
    adelta = np.rint(m[0] * xs * scale).astype(np.int32)
    bdelta = np.rint(m[3] * xs * scale).astype(np.int32)
    half = scale // _TAB // 2
    row_x = np.rint((m[1] * ys + m[2]) * scale).astype(np.int32) + half
    row_y = np.rint((m[4] * ys + m[5]) * scale).astype(np.int32) + half
    sx = (row_x[:, None] + adelta[None, :]) >> (_AB_BITS - _INTER_BITS)
    sy = (row_y[:, None] + bdelta[None, :]) >> (_AB_BITS - _INTER_BITS)
    points = np.empty((y1 - y0, x1 - x0, 2), np.int16)  # saturated, as OpenCV's
    points[..., 0] = np.clip(sx >> _INTER_BITS, -32768, 32767)
    points[..., 1] = np.clip(sy >> _INTER_BITS, -32768, 32767)
    weights = ((sy & (_TAB - 1)) * _TAB + (sx & (_TAB - 1))).astype(np.uint16)
    return cv2.remap(
        src, points, weights, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
