"""The weak-perspective camera shared by ``fit-smpl``, ``render-maps`` and ``voxelize``.

Convention (HMR's, which the paper used through HMR): the body is posed directly in the
camera frame, OpenCV axes — x right, y down, z away from the camera — so an upright
person facing the camera has ``global_orient = (π, 0, 0)`` (SMPL's y-up, facing +z body
turned half a turn about x). A 3D point ``X`` (metres) maps to normalised crop
coordinates ::

    (u, v) = s · (X_x, X_y) + (tx, ty)        u, v ∈ [-1, 1] over the square crop

and to pixels of a ``size``-pixel crop by ``px = (u + 1) / 2 · size - 0.5``: ``u = ±1`` are
the crop's outer edges and pixel centres sit at integer coordinates, OpenCV's convention,
used for every pixel coordinate in this project (``round(px)`` is the pixel index). Depth
is ``X_z`` in metres; a larger value is farther from the camera. ``s`` has units of 1/metre
(about ``2 / 2.2`` for a person filling a crop with margin).
"""

from __future__ import annotations

import numpy as np

UPRIGHT_FACING_CAMERA = np.array([np.pi, 0.0, 0.0])  # global_orient of a frontal person


def project(points: np.ndarray, camera: np.ndarray) -> np.ndarray:
    """Normalised crop coordinates of ``points``.

    Parameters
    ----------
    points : (..., N, 3) float
        Points in the camera frame (metres).
    camera : (..., 3) float
        ``(s, tx, ty)`` per batch element.

    Returns
    -------
    (..., N, 2) float
    """
    points = np.asarray(points, dtype=np.float64)
    camera = np.asarray(camera, dtype=np.float64)
    if points.shape[-1] != 3:
        raise ValueError(f"points must end in 3 coordinates, got shape {points.shape}")
    if camera.shape[-1] != 3:
        raise ValueError(f"camera must be (s, tx, ty), got shape {camera.shape}")
    s = camera[..., None, 0:1]
    t = camera[..., None, 1:3]
    return s * points[..., :2] + t


def to_pixels(uv: np.ndarray, size: int) -> np.ndarray:
    """Normalised coordinates (..., 2) to pixel coordinates of a ``size``-pixel crop."""
    if size <= 0:
        raise ValueError(f"size must be positive, got {size}")
    return (np.asarray(uv, dtype=np.float64) + 1.0) * 0.5 * size - 0.5


def from_pixels(px: np.ndarray, size: int) -> np.ndarray:
    """Pixel coordinates (..., 2) of a ``size``-pixel crop to normalised coordinates."""
    if size <= 0:
        raise ValueError(f"size must be positive, got {size}")
    return (np.asarray(px, dtype=np.float64) + 0.5) / (0.5 * size) - 1.0
