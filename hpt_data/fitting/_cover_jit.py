"""Compiled (numba) loop of :func:`hpt_data.fitting.metrics.rasterize`: the same covered
pixels, bit for bit.

Why: ``fit-smpl`` rasterises every fitted mesh once for its mask IoU; the numpy version
scans the triangles' boxes in 3x3 blocks of offsets, building arrays per block, which was
~15 % of the stage (``benchmarks/chain.py --profile``). A loop per triangle and pixel does
the same arithmetic with no intermediate arrays.

Exactness: each edge value is ``fl(fl(dx·(y - py)) - fl(dy·(x - px)))``, made by the same
IEEE operations in the same order as the numpy code (numba compiles without fast-math, so
LLVM does not contract them into fused multiply-adds), and compared the same way
(``edge * sign >= 0``); tests compare the two paths pixel for pixel.
"""

from __future__ import annotations

import numpy as np

from hpt_data.render._raster_jit import ENABLED as ENABLED
from hpt_data.render._raster_jit import _jit

#: Beyond this, coordinates take the numpy path (its float-to-int conversions of huge or
#: non-finite values are not replicated).
SAFE = 2.0**52


@_jit
def cover(pts: np.ndarray, faces: np.ndarray, one_side: bool, out: np.ndarray) -> None:
    """Set ``out[y, x]`` for each integer pixel inside a triangle, as the numpy path.

    pts : (V, 2) float64 pixel coordinates, all finite and below :data:`SAFE`; faces :
    (F, 3) int64; one_side : only triangles of positive signed area; out : (size, size)
    bool, written in place.
    """
    size = out.shape[0]
    for i in range(faces.shape[0]):
        ax, ay = pts[faces[i, 0], 0], pts[faces[i, 0], 1]
        bx, by = pts[faces[i, 1], 0], pts[faces[i, 1], 1]
        cx, cy = pts[faces[i, 2], 0], pts[faces[i, 2], 1]
        area = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
        if (one_side and not area > 0) or area == 0:
            continue
        x0, x1 = np.int64(np.ceil(min(ax, bx, cx))), np.int64(np.floor(max(ax, bx, cx)))
        y0, y1 = np.int64(np.ceil(min(ay, by, cy))), np.int64(np.floor(max(ay, by, cy)))
        if x1 < x0 or y1 < y0 or x1 < 0 or y1 < 0 or x0 >= size or y0 >= size:
            continue
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, size - 1), min(y1, size - 1)
        s = 1.0 if area > 0 else -1.0
        for y in range(y0, y1 + 1):
            for x in range(x0, x1 + 1):
                if (
                    ((bx - ax) * (y - ay) - (by - ay) * (x - ax)) * s >= 0
                    and ((cx - bx) * (y - by) - (cy - by) * (x - bx)) * s >= 0
                    and ((ax - cx) * (y - cy) - (ay - cy) * (x - cx)) * s >= 0
                ):
                    out[y, x] = True
