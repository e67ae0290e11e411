"""2D pose heatmaps H, made on the fly from joint positions (pure numpy).

H is never stored densely (24 maps of 1024² floats per frame): a frame stores its projected
joints, and writers and readers call :func:`render_heatmaps`. This module imports numpy only,
so that it can move into the shard schema package that ``hpt_model`` imports.

Each map is an unnormalised Gaussian with peak 1 at the joint::

    H_j(x, y) = exp(-((x - x_j)² + (y - y_j)²) / (2 σ²))

with pixel centres at integer coordinates, and exactly 0 beyond 4σ from the joint along x or
y (where it is below 3.4e-4). σ scales with the resolution: 6 px at 256, as in the pose
transfer work the paper builds on (Siarohin et al.'s deformable GANs, [9]); 12 px at 512 and
24 px at 1024 (:func:`heatmap_sigma`). A joint that is not finite gives an all-zero map.
"""

from __future__ import annotations

import numpy as np

from hpt_data.shards.schema import HEATMAP_SIGMA_1024

#: σ in pixels per pixel of image size: 6 px at 256.
SIGMA_PER_PIXEL = HEATMAP_SIGMA_1024 / 1024.0  # the shards' σ, 6 px at 256
#: Maps are exactly zero beyond this many σ from the joint (along x or y).
TRUNCATE = 4.0


def heatmap_sigma(size: int) -> float:
    """The heatmap σ in pixels for a ``size``-pixel square crop (24 at 1024, 12 at 512)."""
    if size <= 0:
        raise ValueError(f"size must be positive, got {size}")
    return SIGMA_PER_PIXEL * size


def render_heatmaps(joints2d: np.ndarray, size: int, sigma: float | None = None) -> np.ndarray:
    """One Gaussian map per joint.

    Parameters
    ----------
    joints2d : (J, 2) float
        Joint positions ``(x, y)`` in pixels of the ``size`` crop (pixel centres at
        integers); non-finite rows give zero maps.
    size : int
        Side of the square maps.
    sigma : float, optional
        Standard deviation in pixels; default :func:`heatmap_sigma` of ``size``.

    Returns
    -------
    (J, size, size) float32
        Values in [0, 1].
    """
    pts = np.asarray(joints2d, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"joints2d must have shape (J, 2), got {pts.shape}")
    if size <= 0:
        raise ValueError(f"size must be positive, got {size}")
    sigma = heatmap_sigma(size) if sigma is None else float(sigma)
    if not np.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    out = np.zeros((pts.shape[0], size, size), np.float32)
    radius = TRUNCATE * sigma
    grid = np.arange(size, dtype=np.float64)
    for j, (x, y) in enumerate(pts):
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        x0, x1 = max(int(np.ceil(x - radius)), 0), min(int(np.floor(x + radius)), size - 1)
        y0, y1 = max(int(np.ceil(y - radius)), 0), min(int(np.floor(y + radius)), size - 1)
        if x0 > x1 or y0 > y1:
            continue
        gx = np.exp(-((grid[x0 : x1 + 1] - x) ** 2) / (2 * sigma**2)).astype(np.float32)
        gy = np.exp(-((grid[y0 : y1 + 1] - y) ** 2) / (2 * sigma**2)).astype(np.float32)
        np.multiply(gy[:, None], gx[None, :], out=out[j, y0 : y1 + 1, x0 : x1 + 1])
    return out
