"""Compiled (numba) winding-number fill of ``voxelize``: the numpy reference's labels
(``hpt_data.voxel.voxelize._fill``), byte for byte, one column at a time.

Why: the reference sorts every crossing on one float key, bins and sums the windings of
all columns at once and looks each inside voxel up by ``searchsorted``: several passes
over arrays of (columns × bins). Per column, the crossings are a handful: a counting sort
by column, an insertion sort by the same key, and one merge along the column do it.

Same values: the key ``rank·8 + clip((z - z0) / span, -1, 2)`` (``rank`` the column's
index among the covered ones) and the voxel's ``rank·8 + (k + 0.5) / z_bins`` are the
reference's floats; a stable sort by key within a column is the reference's stable
argsort (keys of different columns never meet); the nearest crossing is picked by the
same comparisons, and the labels are written in the reference's order where two writes
meet. Depths that are not finite take the numpy path (the reference sorts NaN last).
"""

from __future__ import annotations

import numpy as np

from hpt_data.render._raster_jit import _jit

_I64_MIN = np.iinfo(np.int64).min


@_jit
def _floor_int(v: float) -> int:
    """``np.floor(v).astype(np.int64)`` as numpy does it on x86 (out of range: int64's
    minimum)."""
    f = np.floor(v)
    if -9.223372036854775808e18 <= f < 9.223372036854775808e18:
        return np.int64(f)
    return _I64_MIN


@_jit
def fill(
    x: np.ndarray,
    y: np.ndarray,
    zc: np.ndarray,
    front: np.ndarray,
    lab: np.ndarray,
    xy_size: int,
    z_bins: int,
    z0: float,
    dz: float,
    surface: bool,
    labels: np.ndarray,
) -> bool:
    """Fill ``labels`` (z_bins, xy_size, xy_size) uint8 from the crossings (N,) ``x``,
    ``y``, depth ``zc``, ``front`` and part label ``lab``; whether a column's windings
    do not sum to zero (an open mesh)."""
    n = zc.size
    ncol_all = xy_size * xy_size
    # counting sort by column, stable: the crossings of each column in fragment order
    count = np.zeros(ncol_all + 1, np.int64)
    for i in range(n):
        count[y[i] * xy_size + x[i] + 1] += 1
    rank = np.zeros(ncol_all, np.int64)
    r = 0
    for c in range(ncol_all):
        rank[c] = r
        if count[c + 1]:
            r += 1
        count[c + 1] += count[c]
    order = np.empty(n, np.int64)
    fill_at = count[:-1].copy()
    for i in range(n):
        c = y[i] * xy_size + x[i]
        order[fill_at[c]] = i
        fill_at[c] += 1
    span = np.float64(z_bins) * dz
    key = np.empty(n, np.float64)
    wind = np.zeros(z_bins + 1, np.int64)
    unbalanced = False
    for c in range(ncol_all):
        a, b = count[c], count[c + 1]
        if a == b:
            continue
        cy, cx = c // xy_size, c % xy_size
        base = np.float64(rank[c]) * 8.0
        # sort the column's crossings by key, stably (insertion: a handful)
        for j in range(a, b):
            zn = min(max((zc[order[j]] - z0) / span, -1.0), 2.0)
            key[j] = base + zn
            m, o = j, order[j]
            kv = key[j]
            while m > a and key[m - 1] > kv:
                key[m] = key[m - 1]
                order[m] = order[m - 1]
                m -= 1
            key[m] = kv
            order[m] = o
        # winding numbers: +1 / -1 at the first voxel centre behind each crossing
        wind[:] = 0
        for j in range(a, b):
            i = order[j]
            k = min(max(_floor_int((zc[i] - z0) / dz - 0.5) + 1, 0), z_bins)
            wind[k] += 1 if front[i] else -1
        for k in range(1, z_bins + 1):
            wind[k] += wind[k - 1]
        if wind[z_bins] != 0:
            unbalanced = True
        # inside voxels: the nearest crossing along the column, by key
        nxt = a
        lo_lim = base - 4.0
        for k in range(z_bins):
            if wind[k] == 0:
                continue
            vkey = base + (k + 0.5) / z_bins
            while nxt < b and key[nxt] < vkey:
                nxt += 1
            d_prev = vkey - key[nxt - 1] if nxt > a and key[nxt - 1] > lo_lim else np.inf
            d_next = key[nxt] - vkey if nxt < b else np.inf
            labels[k, cy, cx] = lab[order[nxt]] if d_next < d_prev else lab[order[nxt - 1]]
        if surface:
            # the voxel holding each crossing, labelled by its front-most crossing
            last = -1
            for j in range(a, b):
                i = order[j]
                kc = _floor_int((zc[i] - z0) / dz)
                if 0 <= kc < z_bins:
                    if kc != last:
                        labels[kc, cy, cx] = lab[i]
                    last = kc
    return unbalanced
