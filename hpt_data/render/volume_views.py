"""Orthographic views of a labelled voxel grid: the first labelled voxel along an axis.

Below both users, so neither imports the other: ``hpt_data.voxel.project`` looks along z
for the parsing and depth maps of a volume, and :mod:`hpt_data.render.preview_maps` along
all three axes for the preview sheets.
"""

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
