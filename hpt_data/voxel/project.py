"""Projections of a labelled voxel grid along z to a parsing map and a depth map (what the
paper's Ours-V does with a predicted volume); previews look along any axis with the same
:func:`hpt_data.render.volume_views.first_hit`."""

from __future__ import annotations

import numpy as np

from hpt_data.render.volume_views import first_hit


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
