"""Perspective pinhole camera helpers: intrinsics, world-to-camera transforms, projection.

Plain numpy, OpenCV's convention throughout: the camera looks along its +z axis, x points
right and y down in the image, and pixel ``(u, v)`` has its centre at integer coordinates
(``u`` the column, ``v`` the row). ``to_opengl_pose`` converts to the camera-to-world pose in
OpenGL's convention that pyrender expects.
"""

from __future__ import annotations

import numpy as np

#: OpenCV camera axes (x right, y down, z forward) to OpenGL's (x right, y up, z backward).
_CV_TO_GL = np.diag([1.0, -1.0, -1.0, 1.0])


def intrinsics(
    width: int, height: int, fov_y_deg: float | None = None, focal: float | None = None
) -> np.ndarray:
    """Pinhole intrinsics with square pixels and the principal point at the image centre.

    Parameters
    ----------
    width, height : int
        Image size in pixels.
    fov_y_deg : float, optional
        Vertical field of view in degrees (0 < fov < 180). Give this or ``focal``.
    focal : float, optional
        Focal length in pixels (> 0).

    Returns
    -------
    (3, 3) float64
        ``K`` with ``fx = fy``, ``cx = (width - 1) / 2``, ``cy = (height - 1) / 2``.

    Raises
    ------
    ValueError
        On a non-positive size, both or neither of ``fov_y_deg``/``focal``, or out-of-range values.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    if (fov_y_deg is None) == (focal is None):
        raise ValueError("give exactly one of fov_y_deg and focal")
    if fov_y_deg is not None:
        if not 0.0 < fov_y_deg < 180.0:
            raise ValueError(f"fov_y_deg must lie in (0, 180), got {fov_y_deg}")
        focal = 0.5 * height / np.tan(np.radians(fov_y_deg) / 2.0)
    assert focal is not None
    if focal <= 0:
        raise ValueError(f"focal must be positive, got {focal}")
    return np.array(
        [[focal, 0.0, (width - 1) / 2.0], [0.0, focal, (height - 1) / 2.0], [0.0, 0.0, 1.0]]
    )


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray | None = None) -> np.ndarray:
    """World-to-camera transform of a camera at ``eye`` looking at ``target`` (OpenCV axes).

    Parameters
    ----------
    eye, target : (3,) float
        Camera centre and the point it looks at, world coordinates.
    up : (3,) float, optional
        World direction that appears up in the image; default ``(0, 1, 0)`` (y up).

    Returns
    -------
    (4, 4) float64
        ``T`` with ``x_cam = T @ [x_world, 1]``.

    Raises
    ------
    ValueError
        If the shapes are wrong, ``eye == target``, or ``up`` is parallel to the view axis.
    """
    eye = _vec3(eye, "eye")
    target = _vec3(target, "target")
    up = _vec3(np.array([0.0, 1.0, 0.0]) if up is None else up, "up")
    forward = target - eye
    n = np.linalg.norm(forward)
    if n < 1e-12:
        raise ValueError("eye and target coincide")
    z = forward / n
    x = np.cross(-up, z)  # right-handed x = y * z with image y (down) along -up
    nx = np.linalg.norm(x)
    if nx < 1e-9:
        raise ValueError("up is parallel to the viewing direction")
    x /= nx
    y = np.cross(z, x)
    rot = np.stack([x, y, z])  # rows: camera axes in world coordinates
    out = np.eye(4)
    out[:3, :3] = rot
    out[:3, 3] = -rot @ eye
    return out


def transform_points(points: np.ndarray, world_to_cam: np.ndarray) -> np.ndarray:
    """Apply a rigid (4, 4) transform to points.

    Parameters
    ----------
    points : (..., 3) float
    world_to_cam : (4, 4) float

    Returns
    -------
    (..., 3) float64
    """
    pts = np.asarray(points, dtype=np.float64)
    tr = _mat44(world_to_cam)
    if pts.shape[-1] != 3:
        raise ValueError(f"points must have shape (..., 3), got {pts.shape}")
    return pts @ tr[:3, :3].T + tr[:3, 3]


def project(points: np.ndarray, K: np.ndarray, world_to_cam: np.ndarray) -> np.ndarray:
    """Project world points to pixel coordinates.

    Parameters
    ----------
    points : (..., 3) float
        World coordinates; every point must lie in front of the camera.
    K : (3, 3) float
        Intrinsics.
    world_to_cam : (4, 4) float
        Extrinsics (OpenCV axes).

    Returns
    -------
    (..., 2) float64
        ``(u, v)`` pixel coordinates (column, row).

    Raises
    ------
    ValueError
        On bad shapes or a point at or behind the camera plane.
    """
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3):
        raise ValueError(f"K must have shape (3, 3), got {K.shape}")
    cam = transform_points(points, world_to_cam)
    z = cam[..., 2:3]
    if np.any(z <= 1e-9):
        raise ValueError("a point lies at or behind the camera")
    uvw = cam @ K.T
    return uvw[..., :2] / uvw[..., 2:3]


def to_opengl_pose(world_to_cam: np.ndarray) -> np.ndarray:
    """Camera-to-world pose in OpenGL axes (what ``pyrender`` takes) from OpenCV extrinsics.

    Parameters
    ----------
    world_to_cam : (4, 4) float

    Returns
    -------
    (4, 4) float64
    """
    return np.linalg.inv(_mat44(world_to_cam)) @ _CV_TO_GL


def _vec3(v: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(v, dtype=np.float64)
    if arr.shape != (3,):
        raise ValueError(f"{name} must have shape (3,), got {arr.shape}")
    return arr


def _mat44(m: np.ndarray) -> np.ndarray:
    arr = np.asarray(m, dtype=np.float64)
    if arr.shape != (4, 4):
        raise ValueError(f"transform must have shape (4, 4), got {arr.shape}")
    return arr
