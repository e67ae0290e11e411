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

from hpt_data.render import _raster_jit

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
    setup = _setup(xy, z, faces, width, height, origin, front_only)
    if setup is None:
        empty_i = np.zeros(0, np.int64)
        return Fragments(empty_i, empty_i, empty_i, np.zeros(0), np.zeros(0, bool))
    if _raster_jit.ENABLED:
        # views with numpy's own dtype instances: a cached kernel returns unpickled ones,
        # which send ufunc.at (z-buffers) down its generic path, 30x slower
        cols = _raster_jit.fragments(*setup)
        return Fragments(*(c.view(c.dtype.type) for c in cols))
    xmin, ymin, nx, ny, coef, z, lfaces, larea, live = setup
    parts: list[tuple[np.ndarray, ...]] = []
    start = 0
    cum = np.cumsum(nx * ny)
    while start < live.size:
        base = cum[start - 1] if start else 0
        stop = int(np.searchsorted(cum, base + CHUNK, side="right"))
        stop = max(stop, start + 1)
        fids = np.arange(start, stop)
        parts.append(_cover(fids, xmin, ymin, nx, ny, coef, z, lfaces, larea))
        start = stop
    cols = [np.concatenate(c) for c in zip(*parts, strict=True)]
    cols[0] = live[cols[0]]
    return Fragments(*cols)


def compiled() -> bool:
    """Whether :func:`rasterize` and :func:`nearest_surfaces` run compiled (numba)."""
    return _raster_jit.ENABLED


def nearest_surfaces(
    xy: np.ndarray,
    z: np.ndarray,
    faces: np.ndarray,
    size: int,
    front_only: bool = False,
    layer: np.ndarray | None = None,
    boxes: np.ndarray | None = None,
    value: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The z-buffers of ``render-maps`` straight from the covered pixels (compiled path
    only: no fragments are made), with :func:`rasterize`'s arguments on a square grid.

    The same values as ``hpt_data.render.maps.zbuffer`` and ``part_zbuffers`` of
    :func:`rasterize`'s fragments: per pixel the minimum depth (numpy's ``minimum``), and
    the last fragment, in (triangle, row, column) order, whose depth equals it.

    Parameters
    ----------
    layer : (F,) int, optional
        Per triangle, its layer's row of ``boxes`` (-1: in no layer).
    boxes : (n, 4) int, optional
        Per layer ``(x0, y0, side, offset)``: its square box in the grid and where the box
        starts in the boxes' buffer (the boxes one after the other, row-major).
    value : (F,) uint8, optional
        What the first output holds per visible triangle (its part label, say) in place
        of the triangle's index; 0 on the background.

    Returns
    -------
    face : (size, size) int64, or uint8 with ``value``
        The visible triangle (``value[triangle]``), -1 (0) on the background.
    depth : (size, size) float64
        Its depth, ``+inf`` on the background.
    part_hit, part_depth : (M,) bool, (M,) float64
        The boxes' buffer (``M = offset + side²`` of the last box; empty without boxes):
        whether a fragment of the layer's part reached the pixel, and the nearest depth.
    """
    if not compiled():
        raise RuntimeError("nearest_surfaces needs numba; use rasterize and zbuffer")
    nf = np.asarray(faces).shape[0] if np.ndim(faces) == 2 else 0
    if layer is None or boxes is None:
        layer, boxes = np.full(nf, -1, np.int64), np.zeros((0, 4), np.int64)
    layer = np.ascontiguousarray(layer, dtype=np.int64)
    boxes = np.ascontiguousarray(boxes, dtype=np.int64).reshape(-1, 4)
    if value is None:
        value, background = np.arange(nf, dtype=np.int64), -1
    else:
        value, background = np.ascontiguousarray(value, dtype=np.uint8), 0
    if layer.shape != (nf,) or value.shape != (nf,):
        raise ValueError(f"layer and value must have shape ({nf},)")
    m = int(boxes[-1, 3] + boxes[-1, 2] ** 2) if len(boxes) else 0
    zbuf = np.full(size * size, np.inf)
    vbuf = np.full(size * size, background, value.dtype)
    pbuf = np.full(m, np.inf)
    phit = np.zeros(m, bool)
    setup = _setup(xy, z, faces, size, size, (0, 0), front_only)
    if setup is not None:
        args = (size, zbuf, vbuf, value, background, layer, boxes, pbuf, phit)
        _raster_jit.nearest(*setup, *args)
    return vbuf.reshape(size, size), zbuf.reshape(size, size), phit, pbuf


def _checked(
    xy: np.ndarray, z: np.ndarray, faces: np.ndarray, width: int, height: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``xy`` (V, 2), ``z`` (V,) float64 and ``faces`` (F, 3) int64, or ValueError."""
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
    return xy, z, faces


def _setup(
    xy: np.ndarray,
    z: np.ndarray,
    faces: np.ndarray,
    width: int,
    height: int,
    origin: tuple[int, int],
    front_only: bool,
) -> tuple[np.ndarray, ...] | None:
    """Per live triangle (one covering a pixel centre of its box may exist): ``(xmin,
    ymin, nx, ny)`` (L,) int64 its box in the grid, ``coef`` (4, 3, L) from
    :func:`_edge_coefficients`, then ``z`` (V,), ``faces`` (L, 3), ``area`` (L,) and
    ``live`` (L,) its index in ``faces``: what both rasterisers take. None: no live one.
    """
    xy, z, faces = _checked(xy, z, faces, width, height)
    x0, y0 = origin
    gx = xy[:, 0] - x0
    gy = xy[:, 1] - y0
    if _raster_jit.ENABLED and np.abs(xy).max(initial=0.0) + abs(x0) + abs(y0) < _raster_jit.SAFE:
        *out, total = _raster_jit.setup(gx, gy, faces, width, height, front_only)
        _check_total(int(total))
        return (*out[:5], z, *out[5:]) if out[-1].size else None
    lo, hi, sgn = _topology(faces)
    area = _signed_area(gx, gy, faces, lo, hi, sgn)
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
    _check_total(int(count.sum()))
    live = np.flatnonzero(count)
    if not live.size:
        return None
    # from here on, the live triangles only (elementwise per triangle: the same values)
    coef = _edge_coefficients(gx, gy, lo[live], hi[live], sgn[live], area[live])
    return xmin[live], ymin[live], nx[live], ny[live], coef, z, faces[live], area[live], live


def _check_total(total: int) -> None:
    """RasterTooLarge beyond ``MAX_CANDIDATES`` candidate pixels."""
    if total > MAX_CANDIDATES:
        raise RasterTooLarge(
            f"{total} candidate pixels: the projected mesh is far larger than the frame"
        )


#: The last mesh's edge topology: meshes are drawn frame after frame with the same faces.
_TOPOLOGY: list[tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]] = []


def _topology(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per triangle and edge (edge k from vertex k to k+1), its endpoints in canonical
    order (lower index first) and ``-1.0`` where that reverses the edge: (F, 3) each.
    Kept for the last ``faces`` seen (compared by value: a few tens of µs)."""
    if _TOPOLOGY and np.array_equal(_TOPOLOGY[0][0], faces):
        return _TOPOLOGY[0][1]
    a = faces
    b = np.roll(faces, -1, axis=1)
    swap = a > b
    topo = (np.where(swap, b, a), np.where(swap, a, b), np.where(swap, -1.0, 1.0))
    _TOPOLOGY[:] = [(faces.copy(), topo)]
    return topo


def _signed_area(
    gx: np.ndarray,
    gy: np.ndarray,
    faces: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    sgn: np.ndarray,
) -> np.ndarray:
    """(F,) signed double area of each triangle: edge 0's canonical function (oriented)
    at vertex 2, from the same floats as :func:`_edge_coefficients`."""
    ax, ay, bx, by = gx[lo[:, 0]], gy[lo[:, 0]], gx[hi[:, 0]], gy[hi[:, 0]]
    ca = -(by - ay)
    cb = bx - ax
    cc = -(ca * ax + cb * ay)
    v2x, v2y = gx[faces[:, 2]], gy[faces[:, 2]]
    return sgn[:, 0] * (ca * v2x + cb * v2y + cc)


def _edge_coefficients(
    gx: np.ndarray,
    gy: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    sgn: np.ndarray,
    area: np.ndarray,
) -> np.ndarray:
    """Per triangle and edge, ``(A, B, C, tie)`` with ``E(p) = A·px + B·py + C`` positive
    inside the triangle whatever its winding, and ``tie`` (1 or 0) whether a pixel centre
    exactly on the edge counts (``lo``, ``hi``, ``sgn`` from :func:`_topology`, ``area``
    from :func:`_signed_area`, for the same triangles).

    Returns
    -------
    coef : (4, 3, F) float64
    """
    ax, ay, bx, by = gx[lo], gy[lo], gx[hi], gy[hi]
    # canonical edge function E = (bx - ax)(py - ay) - (by - ay)(px - ax), expanded; both
    # triangles of an edge compute the same A, B, C from the same floats
    ca = -(by - ay)
    cb = bx - ax
    cc = -(ca * ax + cb * ay)
    orient = sgn * np.where(area >= 0, 1.0, -1.0)[:, None]
    # tie: the sign E takes at p + eps*(1, eps): dE/dx, else dE/dy (horizontal edge)
    tie = (orient * np.where(ca != 0, ca, cb)) > 0
    coef = np.stack([ca * orient, cb * orient, cc * orient, tie.astype(np.float64)])
    return coef.transpose(0, 2, 1).copy()


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
    """The pixel centres covered by triangles ``fids``, row by row of their bounding boxes.

    Along a row an edge's value ``A·px + (B·py + C)`` is monotone in ``px`` (so is its
    floating-point value: each rounding is), so each edge admits a half-line of the row
    and the triangle covers one run of it. The runs' ends are found per row
    (:func:`_crossings`) and only covered pixels are made, instead of testing every pixel
    of the box (2.5x as many on the body at 1024). Covered pixels evaluate their edges as
    ``A·px + (B·py + C)`` from the same canonical ``A, B, C``, as the box test did: the
    two triangles of an edge get bit-identical values there, which the watertight tie
    rule relies on, and fragments come in the same order (triangle, row, column).
    Per-row and per-pixel values are gathered through one expanded index (a gather by a
    sorted index costs a fifth of ``np.repeat`` here).
    """
    h = ny[fids]
    row = np.repeat(np.arange(fids.size), h)  # per row: its triangle's index in fids
    row_fid = fids[row]
    row_y = np.arange(row.size) - (np.cumsum(h) - h)[row] + ymin[row_fid]
    row_yf = row_y.astype(np.float64)
    start = xmin[row_fid]
    end = start + nx[row_fid] - 1
    edges = []
    for k in range(3):
        a = coef[0, k, row_fid]
        off = coef[1, k, row_fid] * row_yf
        off += coef[2, k, row_fid]
        edges.append((a, off))
        t, flat_out = _crossings(a, off, coef[3, k, row_fid] > 0, start, end)
        start = np.where(a > 0, np.maximum(start, t), start)
        end = np.where(a < 0, np.minimum(end, t - 1), end)
        end = np.where(flat_out, start - 1, end)
    count = np.maximum(end - start + 1, 0)
    run = np.repeat(np.arange(count.size), count)  # per covered pixel: its row
    px = np.arange(run.size) - (np.cumsum(count) - count - start)[run]
    pxf = px.astype(np.float64)
    es = []
    for a, off in edges:
        e = a[run] * pxf
        e += off[run]
        es.append(e)
    f = row_fid[run]
    fa = np.abs(area[f])
    # e_k is opposite to vertex k+2 (edge k runs from vertex k to vertex k+1)
    e0, e1, e2 = es
    zz = (e1 * z[faces[f, 0]] + e2 * z[faces[f, 1]] + e0 * z[faces[f, 2]]) / fa
    return f, px, row_y[run], zz, area[f] < 0


def _crossings(
    a: np.ndarray, off: np.ndarray, tie: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Where one edge crosses each row of ``[lo, hi]``: the first integer ``x`` in
    ``[lo, hi + 1]`` inside the edge (``a > 0``) or outside it (``a < 0``); and, for rows
    the edge runs along (``a == 0``), whether the whole row is outside.

    "Inside" is the box test's own, on its floats: ``e = fl(fl(a·x) + off) > 0``, or
    ``e == 0`` and the tie rule; monotone in ``x``. ``ceil(-off / a)`` is right or one
    off; rows whose neighbour says otherwise step, and those still moving after a few
    steps (a nearly horizontal edge, where ``-off / a`` loses its digits) are bisected.
    """
    rising = a > 0
    flat = a == 0
    flat_in = flat & ((off > 0) | ((off == 0) & tie))

    def past(rows: np.ndarray | slice, x: np.ndarray) -> np.ndarray:
        e = a[rows] * x.astype(np.float64)
        e += off[rows]
        inside = (e > 0) | ((e == 0) & tie[rows])
        return inside == rising[rows]

    with np.errstate(divide="ignore", invalid="ignore"):
        guess = np.ceil(-off / a)
    guess = np.fmin(np.fmax(guess, lo - 1), hi + 1).astype(np.int64)  # NaN (flat): lo - 1
    t = np.maximum(guess, lo)
    t = np.where(flat, np.where(flat_in, hi + 1, lo), t)  # flat rows: nothing to find
    # one full check, then only the rows that moved
    down = (t > lo) & past(slice(None), t - 1)
    up = ~down & (t <= hi) & ~past(slice(None), t)
    rows = np.flatnonzero(down | up)
    t[rows] += np.where(down[rows], -1, 1)
    for _ in range(3):
        if not rows.size:
            return t, flat & ~flat_in
        tr, lr = t[rows], lo[rows]
        down = tr > lr
        down[down] = past(rows[down], tr[down] - 1)
        up = ~down & (tr <= hi[rows])
        up[up] = ~past(rows[up], tr[up])
        t[rows] += np.where(down, -1, np.where(up, 1, 0))
        rows = rows[down | up]
    left, right = lo[rows].copy(), hi[rows] + 1  # bisect: the answer is in [left, right]
    while (open_ := np.flatnonzero(left < right)).size:
        mid = (left[open_] + right[open_]) // 2
        yes = past(rows[open_], mid)
        right[open_[yes]] = mid[yes]
        left[open_[~yes]] = mid[~yes] + 1
    t[rows] = left
    return t, flat & ~flat_in
