"""Compiled (numba) kernels of the rasteriser: the numpy reference's fragments, bit for bit,
and z-buffers filled straight from the covered pixels.

Why: the numpy rasteriser (:mod:`hpt_data.render.raster`) makes every per-row and
per-pixel step a pass over arrays of up to millions of elements (gathers, repeats, the
crossings' corrections), and ``render-maps`` then z-buffers the fragments with
``np.minimum.at``; compiled loops do the same arithmetic with no intermediate arrays, and
the z-buffers need no fragments at all.

Exactness: each float is made by the same IEEE operations, in the same order, as the numpy
code makes it (``e = fl(fl(A·x) + off)``, ``off = fl(fl(B·y) + C)``, the depth's sum
left to right, then the division). Numba compiles without fast-math, so LLVM neither
reassociates nor contracts ``a * b + c`` into a fused multiply-add (tests compare the
fragments bitwise with the numpy path's on body frames). The run of a row each edge
admits is the first integer where a monotone predicate turns (see ``_crossings`` there):
however it is searched, the answer is the same.

Compiled once per machine: ``cache=True`` keeps the machine code beside this file
(``__pycache__``), or, where that is not writable, in numba's user-wide cache; where
neither is, the kernels compile in each process. Without numba (or with
``HPT_NUMBA=0``), :data:`ENABLED` is False and callers take the numpy path.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

try:
    import numba
except ImportError:  # pragma: no cover - a declared dependency; the numpy path remains
    numba = None

#: Whether the compiled path is used (numba importable and not switched off).
ENABLED = numba is not None and os.environ.get("HPT_NUMBA", "1") != "0"


def _jit(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``numba.njit`` with an on-disk cache where one can be kept, else without."""
    if numba is None:  # pragma: no cover
        return fn
    try:
        return numba.njit(cache=True, nogil=True)(fn)
    except RuntimeError:  # no writable cache location: compile in each process
        return numba.njit(nogil=True)(fn)


#: Beyond this, coordinates take the numpy path (its float-to-int conversions and int64
#: sums are not replicated for values near 2**63).
SAFE = 2.0**52


@_jit
def _to_int(v: float) -> int:
    """``np.int64(v)`` of an integral float below :data:`SAFE` in magnitude."""
    return np.int64(v)


@_jit
def setup(
    gx: np.ndarray,
    gy: np.ndarray,
    faces: np.ndarray,
    width: int,
    height: int,
    front_only: bool,
) -> tuple[np.ndarray, ...]:
    """``raster._setup`` past the grid shift (``gx``, ``gy`` (V,)): per live triangle its
    box ``(xmin, ymin, nx, ny)`` (L,), ``coef`` (4, 3, L), ``faces`` (L, 3), ``area`` (L,),
    ``live`` (L,), and the candidate count of all boxes (0-d array), from the same floats
    (canonical edge order, ``-(by - ay)``, ``bx - ax``, ``-(A·ax + B·ay)``, the area
    from edge 0 at vertex 2, the orientation's ±1 products)."""
    nf = faces.shape[0]
    # pass 1: areas, boxes, candidate counts (numpy's elementwise operations, in order)
    area = np.empty(nf, np.float64)
    box = np.empty((nf, 4), np.int64)
    keep = np.zeros(nf, np.bool_)
    total = 0
    n_live = 0
    for f in range(nf):
        a, b, c = faces[f, 0], faces[f, 1], faces[f, 2]
        lo, hi, sgn = (b, a, -1.0) if a > b else (a, b, 1.0)
        ca = -(gy[hi] - gy[lo])
        cb = gx[hi] - gx[lo]
        cc = -(ca * gx[lo] + cb * gy[lo])
        ar = sgn * (ca * gx[c] + cb * gy[c] + cc)
        area[f] = ar
        lo_x = min(min(gx[a], gx[b]), gx[c])
        hi_x = max(max(gx[a], gx[b]), gx[c])
        lo_y = min(min(gy[a], gy[b]), gy[c])
        hi_y = max(max(gy[a], gy[b]), gy[c])
        xmin = _to_int(max(np.ceil(lo_x), 0.0))
        xmax = _to_int(min(np.floor(hi_x), np.float64(width - 1)))
        ymin = _to_int(max(np.ceil(lo_y), 0.0))
        ymax = _to_int(min(np.floor(hi_y), np.float64(height - 1)))
        nx = max(xmax - xmin + 1, 0)
        ny = max(ymax - ymin + 1, 0)
        box[f, 0], box[f, 1], box[f, 2], box[f, 3] = xmin, ymin, nx, ny
        if (ar < 0.0) if front_only else (ar != 0.0):
            total += nx * ny
            if nx * ny > 0:
                keep[f] = True
                n_live += 1
    # pass 2: the live triangles' edge coefficients (raster._edge_coefficients)
    live = np.empty(n_live, np.int64)
    coef = np.empty((4, 3, n_live), np.float64)
    lfaces = np.empty((n_live, 3), np.int64)
    larea = np.empty(n_live, np.float64)
    xmins = np.empty(n_live, np.int64)
    ymins = np.empty(n_live, np.int64)
    nxs = np.empty(n_live, np.int64)
    nys = np.empty(n_live, np.int64)
    i = 0
    for f in range(nf):
        if not keep[f]:
            continue
        live[i] = f
        larea[i] = area[f]
        xmins[i], ymins[i], nxs[i], nys[i] = box[f, 0], box[f, 1], box[f, 2], box[f, 3]
        sense = 1.0 if area[f] >= 0.0 else -1.0
        for k in range(3):
            lfaces[i, k] = faces[f, k]
            a, b = faces[f, k], faces[f, (k + 1) % 3]
            lo, hi, sgn = (b, a, -1.0) if a > b else (a, b, 1.0)
            ca = -(gy[hi] - gy[lo])
            cb = gx[hi] - gx[lo]
            cc = -(ca * gx[lo] + cb * gy[lo])
            orient = sgn * sense
            coef[0, k, i] = ca * orient
            coef[1, k, i] = cb * orient
            coef[2, k, i] = cc * orient
            coef[3, k, i] = 1.0 if orient * (ca if ca != 0.0 else cb) > 0.0 else 0.0
        i += 1
    return xmins, ymins, nxs, nys, coef, lfaces, larea, live, np.array(total)


@_jit
def _in(a: float, off: float, tie: bool, xf: float) -> bool:
    """Whether pixel centre ``xf`` is inside one edge: ``fl(fl(a·x) + off) > 0``, or
    ``== 0`` and the tie rule (the numpy reference's test, on the same floats)."""
    e = a * xf
    e = e + off
    return (e > 0.0) | ((e == 0.0) & tie)


@_jit
def _crossing(a: float, off: float, tie: bool, lo: int, hi: int) -> int:
    """The first integer ``x`` in ``[lo, hi + 1]`` past the edge (``a != 0``: inside it for
    a rising edge, outside for a falling one; monotone in ``x``): a guess from
    ``ceil(-off / a)``, a few steps, then bisection (nearly horizontal edges)."""
    rising = a > 0.0
    g = np.ceil(-off / a)
    if g < lo:
        t = lo
    elif g > hi + 1:
        t = hi + 1
    else:
        t = np.int64(g)
    for _ in range(4):
        if t > lo and _in(a, off, tie, np.float64(t - 1)) == rising:
            t -= 1
        elif t <= hi and _in(a, off, tie, np.float64(t)) != rising:
            t += 1
        else:
            return t
    left, right = lo, hi + 1
    while left < right:
        mid = (left + right) // 2
        if _in(a, off, tie, np.float64(mid)) == rising:
            right = mid
        else:
            left = mid + 1
    return left


@_jit
def _clip(a: float, off: float, tie: bool, lo: int, hi: int) -> tuple[int, int]:
    """The run ``[lo, hi]`` of a row cut to one edge's half-line (``hi < lo``: empty)."""
    if a == 0.0:
        return (lo, hi) if (off > 0.0 or (off == 0.0 and tie)) else (lo, lo - 1)
    t = _crossing(a, off, tie, lo, hi)
    return (t, hi) if a > 0.0 else (lo, t - 1)


#: Rows of boxes up to this wide are scanned pixel by pixel (cheaper than three crossings'
#: divisions and corrections for the body's few-pixel triangles); wider ones are not.
SCAN = 24

Tri = tuple[float, float, float]


@_jit
def _row_run(a: Tri, off: Tri, tie: tuple[bool, bool, bool], lo: int, hi: int) -> tuple[int, int]:
    """``(start, end)`` of the pixel centres inside the triangle on a row of its box
    ``[lo, hi]`` (``end < start`` when none), ``a`` the edges' ``A``, ``off`` their
    ``fl(fl(B·y) + C)`` on the row, ``tie`` their tie rule. The inside pixels are one run
    (the edges' half-lines meet in an interval): on narrow rows, its first pixel and its
    length from testing every pixel without branches (a third of the time of stopping
    at the ends: no mispredicted exits); on wide ones, each edge's crossing."""
    if hi - lo < SCAN:
        first = hi + 1
        n = 0
        for x in range(lo, hi + 1):
            xf = np.float64(x)
            inside = (
                _in(a[0], off[0], tie[0], xf)
                & _in(a[1], off[1], tie[1], xf)
                & _in(a[2], off[2], tie[2], xf)
            )
            n += inside
            first = min(first, x if inside else hi + 1)
        return (first, first + n - 1) if n else (lo, lo - 1)
    lo, hi = _clip(a[0], off[0], tie[0], lo, hi)
    if hi >= lo:
        lo, hi = _clip(a[1], off[1], tie[1], lo, hi)
    if hi >= lo:
        lo, hi = _clip(a[2], off[2], tie[2], lo, hi)
    return (lo, hi) if hi >= lo else (lo, lo - 1)


@_jit
def _edges(coef: np.ndarray, i: int) -> tuple[Tri, Tri, Tri, tuple[bool, bool, bool]]:
    """Triangle ``i``'s edge coefficients from ``coef`` (4, 3, L): ``A``, ``B``, ``C``
    and the tie rule, per edge."""
    return (
        (coef[0, 0, i], coef[0, 1, i], coef[0, 2, i]),
        (coef[1, 0, i], coef[1, 1, i], coef[1, 2, i]),
        (coef[2, 0, i], coef[2, 1, i], coef[2, 2, i]),
        (coef[3, 0, i] > 0.0, coef[3, 1, i] > 0.0, coef[3, 2, i] > 0.0),
    )


@_jit
def _offsets(b: Tri, c: Tri, y: int) -> Tri:
    """The edges' ``fl(fl(B·y) + C)`` on row ``y``."""
    yf = np.float64(y)
    o0 = b[0] * yf
    o1 = b[1] * yf
    o2 = b[2] * yf
    return (o0 + c[0], o1 + c[1], o2 + c[2])


@_jit
def _depth(a: Tri, off: Tri, x: int, z0: float, z1: float, z2: float, fa: float) -> float:
    """Depth at pixel centre ``x`` of a row: the edge values weigh the opposite vertices'
    depths (edge k is opposite vertex k + 2), summed left to right, over twice the area."""
    xf = np.float64(x)
    e0 = a[0] * xf
    e0 = e0 + off[0]
    e1 = a[1] * xf
    e1 = e1 + off[1]
    e2 = a[2] * xf
    e2 = e2 + off[2]
    s = e1 * z0
    s = s + e2 * z1
    s = s + e0 * z2
    return s / fa


@_jit
def fragments(
    xmin: np.ndarray,
    ymin: np.ndarray,
    nx: np.ndarray,
    ny: np.ndarray,
    coef: np.ndarray,
    z: np.ndarray,
    lfaces: np.ndarray,
    larea: np.ndarray,
    live: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The fragments ``(face, x, y, z, front)`` of the live triangles (L,) in (triangle,
    row, column) order: the rows' runs first (to size the arrays), then their pixels."""
    n_live = live.size
    first = np.empty(n_live + 1, np.int64)
    first[0] = 0
    for i in range(n_live):
        first[i + 1] = first[i] + ny[i]
    starts = np.empty(first[n_live], np.int64)
    ends = np.empty(first[n_live], np.int64)
    total = 0
    for i in range(n_live):
        a, b, c, tie = _edges(coef, i)
        lo, hi = xmin[i], xmin[i] + nx[i] - 1
        for r in range(ny[i]):
            s, e = _row_run(a, _offsets(b, c, ymin[i] + r), tie, lo, hi)
            starts[first[i] + r] = s
            ends[first[i] + r] = e
            total += max(e - s + 1, 0)
    face = np.empty(total, np.int64)
    px = np.empty(total, np.int64)
    py = np.empty(total, np.int64)
    pz = np.empty(total, np.float64)
    front = np.empty(total, np.bool_)
    n = 0
    for i in range(n_live):
        a, b, c, tie = _edges(coef, i)
        z0, z1, z2 = z[lfaces[i, 0]], z[lfaces[i, 1]], z[lfaces[i, 2]]
        fa = abs(larea[i])
        facing = larea[i] < 0.0
        for r in range(ny[i]):
            s, e = starts[first[i] + r], ends[first[i] + r]
            y = ymin[i] + r
            off = _offsets(b, c, y)
            for x in range(s, e + 1):
                face[n] = live[i]
                px[n] = x
                py[n] = y
                pz[n] = _depth(a, off, x, z0, z1, z2, fa)
                front[n] = facing
                n += 1
    return face, px, py, pz, front


@_jit
def nearest(
    xmin: np.ndarray,
    ymin: np.ndarray,
    nx: np.ndarray,
    ny: np.ndarray,
    coef: np.ndarray,
    z: np.ndarray,
    lfaces: np.ndarray,
    larea: np.ndarray,
    live: np.ndarray,
    width: int,
    zbuf: np.ndarray,
    vbuf: np.ndarray,
    value: np.ndarray,
    background: int,
    layer: np.ndarray,
    boxes: np.ndarray,
    pbuf: np.ndarray,
    phit: np.ndarray,
) -> None:
    """Z-buffer the live triangles' pixels in fragment order, as ``np.minimum.at`` then
    ``face[pix[win]] = fid[win]`` do: ``zbuf`` (H·W,) float64 takes
    ``minimum(zbuf, z)`` (numpy's: NaN sticks, an equal value replaces), ``vbuf`` (H·W,)
    ``value[f]`` ((F,): the face index, or its label) of the last fragment's triangle
    ``f`` equal to the final minimum (``background`` where it is NaN).

    With ``layer`` (F,) int64 (-1: no layer) and ``boxes`` (n, 4) int64 rows ``(x0, y0,
    side, offset)``, each fragment of a layer's part inside its box does the same on the
    boxes' buffer ``pbuf`` (M,) float64, ``phit`` (M,) bool marking the pixels some
    fragment equal to the minimum reached (``part_zbuffers``' mask).
    """
    for i in range(live.size):
        f = live[i]
        a, b, c, tie = _edges(coef, i)
        z0, z1, z2 = z[lfaces[i, 0]], z[lfaces[i, 1]], z[lfaces[i, 2]]
        fa = abs(larea[i])
        li = layer[f]
        if li >= 0:
            bx0, by0, side, boff = boxes[li, 0], boxes[li, 1], boxes[li, 2], boxes[li, 3]
        else:
            bx0, by0, side, boff = 0, 0, 0, 0
        lo, hi = xmin[i], xmin[i] + nx[i] - 1
        for r in range(ny[i]):
            y = ymin[i] + r
            off = _offsets(b, c, y)
            s, e = _row_run(a, off, tie, lo, hi)
            by = y - by0
            in_box_row = li >= 0 and 0 <= by < side
            for x in range(s, e + 1):
                d = _depth(a, off, x, z0, z1, z2, fa)
                p = y * width + x
                q = zbuf[p]
                if q == q:  # NaN sticks: no fragment equals it
                    if d != d:
                        zbuf[p] = d
                        vbuf[p] = background
                    elif d <= q:
                        zbuf[p] = d
                        vbuf[p] = value[f]
                if in_box_row:
                    bx = x - bx0
                    if 0 <= bx < side:
                        k = boff + by * side + bx
                        q = pbuf[k]
                        if q == q:
                            if d != d:
                                pbuf[k] = d
                                phit[k] = False
                            elif d <= q:
                                pbuf[k] = d
                                phit[k] = True
