"""A vectorised, exact triangle rasteriser in numpy: which pixel centres each triangle covers.

Shared by :mod:`hpt_data.render.maps` (z-buffered label and depth maps) and
:mod:`hpt_data.voxel.voxelize` (ray crossings of each voxel column). Geometry is already
projected: vertices are given in pixel coordinates of the target grid (pixel centres at
integer coordinates, ``x`` the column, ``y`` the row) plus a depth.

Coverage is decided exactly, with a consistent tie rule, so that a closed mesh covers each
pixel centre an even number of times (once on the way in, once on the way out) even when
the centre falls on a shared edge or vertex:

- each edge function is evaluated with the edge's endpoints in a canonical order (lower
  vertex index first), so the two triangles sharing an edge compute bit-identical values of
  opposite meaning;
- a centre lying exactly on an edge is resolved by nudging it by an infinitesimal step
  along ``+x`` (then ``+y``, for a horizontal edge): it counts for exactly one of the two
  triangles on either side, as GPUs do with their top-left rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Largest number of candidate (triangle, pixel) pairs tested in one batch.
CHUNK = 1 << 21
#: Refuse work beyond this many candidate pairs (a camera far too close: every triangle
#: spans much of the frame); callers turn it into a flag.
MAX_CANDIDATES = 1 << 27


class RasterTooLarge(ValueError):
    """The projected triangles would cover far more pixels than a body in a crop can."""


@dataclass
class Fragments:
    """Pixel centres covered by triangles.

    Attributes
    ----------
    face : (N,) int64
        Index of the covering triangle.
    x, y : (N,) int64
        Pixel column and row (in the grid's own indices, origin at its top-left pixel).
    z : (N,) float64
        Depth of the triangle at the pixel centre (linear interpolation in screen space,
        exact under an orthographic / weak-perspective projection).
    front : (N,) bool
        Whether the triangle faces the viewer (its projected winding is counter-clockwise in
        the x-right, y-down image, i.e. its normal points to ``-z`` for an outward-oriented
        mesh posed in the camera frame).
    """

    face: np.ndarray
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    front: np.ndarray

    def __len__(self) -> int:
        return int(self.face.shape[0])

    def subset(self, keep: np.ndarray) -> Fragments:
        """The fragments where ``keep`` (an (N,) bool mask or index array) holds."""
        return Fragments(
            self.face[keep], self.x[keep], self.y[keep], self.z[keep], self.front[keep]
        )


def rasterize(
    xy: np.ndarray,
    z: np.ndarray,
    faces: np.ndarray,
    width: int,
    height: int,
    origin: tuple[int, int] = (0, 0),
    front_only: bool = False,
) -> Fragments:
    """All (triangle, pixel centre) pairs where a pixel centre lies inside a triangle.

    Parameters
    ----------
    xy : (V, 2) float
        Projected vertices in pixel coordinates (pixel centres at integers).
    z : (V,) float
        Vertex depths.
    faces : (F, 3) int
        Triangles; degenerate ones (zero projected area) cover nothing.
    width, height : int
        Size of the pixel grid.
    origin : (int, int)
        Pixel coordinates ``(x0, y0)`` of the grid's top-left pixel: the grid samples
        ``x0 .. x0 + width - 1`` and ``y0 .. y0 + height - 1`` (to raster a crop).
    front_only : bool
        Skip triangles facing away from the viewer (back-face culling): the nearest
        surface of a closed, outward-oriented mesh always faces the viewer.

    Returns
    -------
    Fragments
        With ``x``/``y`` relative to ``origin``.

    Raises
    ------
    ValueError
        On bad shapes or sizes, or non-finite coordinates.
    RasterTooLarge
        When the triangles' bounding boxes hold more than ``MAX_CANDIDATES`` pixels.
    """
    xy = np.asarray(xy, dtype=np.float64)
    z = np.asarray(z, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    if xy.ndim != 2 or xy.shape[1] != 2 or z.shape != (xy.shape[0],):
        raise ValueError(f"expected xy (V, 2) and z (V,), got {xy.shape} and {z.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"faces must have shape (F, 3), got {faces.shape}")
    if width <= 0 or height <= 0:
        raise ValueError(f"grid size must be positive, got {width}x{height}")
    if faces.size and (faces.min() < 0 or faces.max() >= xy.shape[0]):
        raise ValueError("faces index vertices that do not exist")
    if not (np.isfinite(xy).all() and np.isfinite(z).all()):
        raise ValueError("vertex coordinates must be finite")
    x0, y0 = origin
    gx = xy[:, 0] - x0
    gy = xy[:, 1] - y0
    coef, area = _edge_coefficients(gx, gy, faces)
    # per-triangle bounds from the three corners (elementwise: numpy's reduction over a
    # length-3 axis costs several times more)
    ax, bx, cx = gx[faces[:, 0]], gx[faces[:, 1]], gx[faces[:, 2]]
    ay, by, cy = gy[faces[:, 0]], gy[faces[:, 1]], gy[faces[:, 2]]
    lo_x, hi_x = np.minimum(np.minimum(ax, bx), cx), np.maximum(np.maximum(ax, bx), cx)
    lo_y, hi_y = np.minimum(np.minimum(ay, by), cy), np.maximum(np.maximum(ay, by), cy)
    xmin = np.maximum(np.ceil(lo_x), 0).astype(np.int64)
    xmax = np.minimum(np.floor(hi_x), width - 1).astype(np.int64)
    ymin = np.maximum(np.ceil(lo_y), 0).astype(np.int64)
    ymax = np.minimum(np.floor(hi_y), height - 1).astype(np.int64)
    nx = np.maximum(xmax - xmin + 1, 0)
    ny = np.maximum(ymax - ymin + 1, 0)
    count = np.where((area < 0) if front_only else (area != 0), nx * ny, 0)
    total = int(count.sum())
    if total > MAX_CANDIDATES:
        raise RasterTooLarge(
            f"{total} candidate pixels: the projected mesh is far larger than the frame"
        )
    live = np.flatnonzero(count)
    parts: list[tuple[np.ndarray, ...]] = []
    start = 0
    cum = np.cumsum(count[live])
    while start < live.size:
        base = cum[start - 1] if start else 0
        stop = int(np.searchsorted(cum, base + CHUNK, side="right"))
        stop = max(stop, start + 1)
        parts.append(_cover(live[start:stop], xmin, ymin, nx, ny, coef, z, faces, area))
        start = stop
    if not parts:
        empty_i = np.zeros(0, np.int64)
        return Fragments(empty_i, empty_i, empty_i, np.zeros(0), np.zeros(0, bool))
    cols = [np.concatenate(c) for c in zip(*parts, strict=True)]
    return Fragments(*cols)


def _edge_coefficients(
    gx: np.ndarray, gy: np.ndarray, faces: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per triangle and edge, ``(A, B, C, tie)`` with ``E(p) = A·px + B·py + C`` positive
    inside the triangle whatever its winding, and ``tie`` (1 or 0) whether a pixel centre
    exactly on the edge counts; plus the signed double area of each triangle.

    Returns
    -------
    coef : (4, 3, F) float64
    area : (F,) float64
    """
    a = faces
    b = np.roll(faces, -1, axis=1)
    swap = a > b
    lo = np.where(swap, b, a)
    hi = np.where(swap, a, b)
    sgn = np.where(swap, -1.0, 1.0)  # (F, 3)
    ax, ay, bx, by = gx[lo], gy[lo], gx[hi], gy[hi]
    # canonical edge function E = (bx - ax)(py - ay) - (by - ay)(px - ax), expanded; both
    # triangles of an edge compute the same A, B, C from the same floats
    ca = -(by - ay)
    cb = bx - ax
    cc = -(ca * ax + cb * ay)
    # signed double area: edge 0's function (oriented) at vertex 2
    v2x, v2y = gx[a[:, 2]], gy[a[:, 2]]
    area = sgn[:, 0] * (ca[:, 0] * v2x + cb[:, 0] * v2y + cc[:, 0])
    orient = sgn * np.where(area >= 0, 1.0, -1.0)[:, None]
    # tie: the sign E takes at p + eps*(1, eps): dE/dx, else dE/dy (horizontal edge)
    tie = (orient * np.where(ca != 0, ca, cb)) > 0
    coef = np.stack([ca * orient, cb * orient, cc * orient, tie.astype(np.float64)])
    return coef.transpose(0, 2, 1).copy(), area


def _cover(
    fids: np.ndarray,
    xmin: np.ndarray,
    ymin: np.ndarray,
    nx: np.ndarray,
    ny: np.ndarray,
    coef: np.ndarray,
    z: np.ndarray,
    faces: np.ndarray,
    area: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Test every pixel centre of the bounding boxes of triangles ``fids``.

    Candidates are laid out row by row; per-row quantities are expanded with ``np.repeat``
    (much cheaper than gathers). Every triangle evaluates an edge at a pixel as
    ``A·px + (B·py + C)`` from the same canonical ``A, B, C``: the two triangles of an edge
    get bit-identical values there, which the watertight tie rule relies on.
    """
    w, h = nx[fids], ny[fids]
    n_rows = int(h.sum())
    row_face = np.repeat(np.arange(fids.size), h)  # index into fids, per row
    row_fid = fids[row_face]
    row_y = np.arange(n_rows) - np.repeat(np.cumsum(h) - h, h) + ymin[row_fid]
    row_yf = row_y.astype(np.float64)
    row_w = w[row_face]
    n = int(row_w.sum())
    row_start = np.cumsum(row_w) - row_w
    px = np.arange(n, dtype=np.int64) - np.repeat(row_start - xmin[row_fid], row_w)
    pxf = px.astype(np.float64)
    inside = np.ones(n, bool)
    es = []
    for k in range(3):
        a, b, c, tie = (coef[i, k] for i in range(4))
        e = np.repeat(a[row_fid], row_w) * pxf
        e += np.repeat(b[row_fid] * row_yf + c[row_fid], row_w)
        ok = e > 0
        zero = np.flatnonzero(e == 0)
        if zero.size:  # exactly on the edge: the tie rule
            zero_row = np.searchsorted(row_start, zero, side="right") - 1
            ok[zero] = tie[row_fid[zero_row]] > 0
        inside &= ok
        es.append(e)
    keep = np.flatnonzero(inside)
    keep_row = np.searchsorted(row_start, keep, side="right") - 1
    f = row_fid[keep_row]
    px, py = px[keep], row_y[keep_row]
    fa = np.abs(area[f])
    # e_k is opposite to vertex k+2 (edge k runs from vertex k to vertex k+1)
    e0, e1, e2 = (e[keep] for e in es)
    zz = (e1 * z[faces[f, 0]] + e2 * z[faces[f, 1]] + e0 * z[faces[f, 2]]) / fa
    return f, px, py, zz, area[f] < 0
