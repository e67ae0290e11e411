"""Projections of a labelled voxel grid: along z to a parsing map and a depth map (what the
paper's Ours-V does with a predicted volume), and along any axis for previews."""

from __future__ import annotations

import numpy as np


def first_hit(labels: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Label and index of the first non-zero voxel along ``axis``.

    Parameters
    ----------
    labels : (Z, Y, X) uint8
    axis : int
        0 (z, from the camera), 1 (y, from the top) or 2 (x, from the image's left).

    Returns
    -------
    label : 2-D uint8
        The volume's shape without ``axis``; 0 where the line holds no voxel.
    index : 2-D int64
        Index along ``axis`` of that voxel; -1 where there is none.
    """
    lab = np.asarray(labels)
    if lab.ndim != 3:
        raise ValueError(f"labels must be (Z, Y, X), got shape {lab.shape}")
    if axis not in (0, 1, 2):
        raise ValueError(f"axis must be 0, 1 or 2, got {axis}")
    occ = lab != 0
    idx = np.argmax(occ, axis=axis)
    hit = occ.any(axis=axis)
    first = np.take_along_axis(lab, np.expand_dims(idx, axis), axis=axis).squeeze(axis)
    return np.where(hit, first, 0).astype(np.uint8), np.where(hit, idx, -1).astype(np.int64)


def project_volume(labels: np.ndarray, z0: float, dz: float) -> tuple[np.ndarray, np.ndarray]:
    """Parsing map and depth map seen by the camera: the front-most labelled voxel.

    Parameters
    ----------
    labels : (Z, Y, X) uint8
        ``labels[z, y, x]`` (:class:`hpt_data.voxel.VoxelGrid`).
    z0, dz : float
        The grid's z frame.

    Returns
    -------
    parsing : (Y, X) uint8
        The front-most voxel's label, 0 for background.
    depth : (Y, X) float32
        Depth of that voxel's centre, ``z0 + (k + 0.5)·dz``; ``+inf`` for background, as in
        the rendered D. With the surface voxels of :func:`hpt_data.voxel.voxelize` the front
        surface lies in the front-most voxel: within half a bin of this depth.
    """
    parsing, k = first_hit(labels, 0)
    depth = np.where(k >= 0, z0 + (k + 0.5) * dz, np.inf).astype(np.float32)
    return parsing, depth
