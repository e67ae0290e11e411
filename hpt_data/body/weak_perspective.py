"""The camera shared by ``fit-smpl``, ``render-maps``, ``voxelize`` and the pipelines: weak
perspective ``(s, tx, ty)``, with an optional perspective about the pelvis (below).

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

**Perspective about the pelvis** (optional, ``distance > 0``): footage is filmed in
perspective, and 2-3 m away a nearer limb projects visibly larger. With the camera
``distance`` metres from the pelvis (the root joint, at depth ``ref_z`` in the body's
frame), a point maps to ::

    (u, v) = (s · (X_x, X_y) + (tx, ty)) / (1 + (X_z - ref_z) / distance)

a pinhole camera of focal length ``f = s · distance`` (normalised crop units) looking at
the body moved to ``(tx/s, ty/s, distance - ref_z)``: the pelvis's depth plane maps
exactly as the weak-perspective ``(s, tx, ty)``, nearer points larger, farther smaller.
``distance = 0`` is the weak perspective above, bit for bit. ``fit-smpl`` fits with it
(``camera_distance`` in ``fits.npz``, 3 m by default) and ``render-maps``, ``voxelize``
and the pipelines draw with it, so maps, volumes and the fit agree on the image. The
divisor is clipped at ``MIN_DIVISOR`` (a point nearer the camera than a fifth of the
pelvis's distance: never on a body a few metres away), so the fitter's gradients stay
finite.
"""

from __future__ import annotations

from typing import Any

import numpy as np

UPRIGHT_FACING_CAMERA = np.array([np.pi, 0.0, 0.0])  # global_orient of a frontal person


#: Smallest perspective divisor ``1 + (z - ref_z) / distance`` (see the module docstring).
MIN_DIVISOR = 0.2


def perspective_divide(uv: Any, z: Any, ref_z: Any, inv_distance: Any) -> Any:
    """``uv / max(1 + (z - ref_z) · inv_distance, MIN_DIVISOR)``: the one implementation
    of the perspective about the pelvis, for numpy arrays and torch tensors alike (the
    fitter's ``_project`` calls it on tensors, :func:`project` on arrays).

    uv : (..., N, 2) weak-perspective coordinates ``s·xy + t``; z : (..., N) depths;
    ref_z, inv_distance : broadcastable to z (``1 / distance``; 0 leaves ``uv`` unchanged).
    """
    denom = 1.0 + (z - ref_z) * inv_distance
    return uv / denom.clip(min=MIN_DIVISOR)[..., None]


def project(
    points: np.ndarray,
    camera: np.ndarray,
    distance: np.ndarray | float = 0.0,
    ref_z: np.ndarray | float | None = None,
) -> np.ndarray:
    """Normalised crop coordinates of ``points``.

    Parameters
    ----------
    points : (..., N, 3) float
        Points in the camera frame (metres).
    camera : (..., 3) float
        ``(s, tx, ty)`` per batch element.
    distance : float or (...,) float
        Camera-to-pelvis distance (metres) per batch element; 0 = weak perspective.
    ref_z : float or (...,) float, optional
        The pelvis's (root joint's) depth per batch element; needed where ``distance > 0``.

    Returns
    -------
    (..., N, 2) float

    Raises
    ------
    ValueError
        On bad shapes, a negative or non-finite distance, or ``distance > 0`` without
        ``ref_z``.
    """
    points = np.asarray(points, dtype=np.float64)
    camera = np.asarray(camera, dtype=np.float64)
    if points.shape[-1] != 3:
        raise ValueError(f"points must end in 3 coordinates, got shape {points.shape}")
    if camera.shape[-1] != 3:
        raise ValueError(f"camera must be (s, tx, ty), got shape {camera.shape}")
    s = camera[..., None, 0:1]
    t = camera[..., None, 1:3]
    uv = s * points[..., :2] + t
    dist = np.asarray(distance, dtype=np.float64)
    if not (np.isfinite(dist).all() and (dist >= 0).all()):
        raise ValueError(f"distance must be finite and >= 0 (0 = weak perspective), got {dist}")
    if not (dist > 0).any():
        return uv  # weak perspective, exactly as before the distance existed
    if ref_z is None:
        raise ValueError("a distance > 0 needs ref_z, the pelvis's depth")
    inv = np.where(dist > 0, 1.0 / np.where(dist > 0, dist, 1.0), 0.0)
    ref = np.asarray(ref_z, dtype=np.float64)
    return perspective_divide(uv, points[..., 2], ref[..., None], inv[..., None])


def unproject(
    uv: np.ndarray,
    z: np.ndarray,
    camera: np.ndarray,
    distance: float = 0.0,
    ref_z: float | None = None,
) -> np.ndarray:
    """Camera-frame points (N, 3) at depths ``z`` (N,) that :func:`project` maps to ``uv``
    (N, 2), for one ``camera`` (3,): the inverse at a known depth (voxel centres, pixels
    of a depth map)."""
    uv = np.asarray(uv, dtype=np.float64)
    z = np.asarray(z, dtype=np.float64)
    s, tx, ty = (float(c) for c in np.asarray(camera, dtype=np.float64))
    if distance > 0:
        if ref_z is None:
            raise ValueError("a distance > 0 needs ref_z, the pelvis's depth")
        denom = np.maximum(1.0 + (z - ref_z) / distance, MIN_DIVISOR)
        uv = uv * denom[:, None]
    return np.column_stack([(uv[:, 0] - tx) / s, (uv[:, 1] - ty) / s, z])


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
