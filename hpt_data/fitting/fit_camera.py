"""The fit's camera model: per frame ``(log s, tx, ty)``, projected with perspective about
the pelvis (the project's convention, :mod:`hpt_data.body.weak_perspective`), and the
focal length of a camera whose field of view is known.

Kept apart from the optimisation (:mod:`hpt_data.fitting.fitter`) so that the camera
convention reads, and is tested, on its own.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from hpt_data.body.weak_perspective import perspective_divide


def project_points(
    pts: torch.Tensor,
    cam: torch.Tensor,
    root_z: torch.Tensor | None = None,
    focal: torch.Tensor | None = None,
    camera_distance: float = 0.0,
) -> torch.Tensor:
    """(T, N, 3) camera-frame points, (T, 3) (log s, tx, ty) -> (T, N, 2).

    Weak perspective ``s·xy + t`` when ``root_z`` is None (or ``camera_distance`` is 0
    and no ``focal``); else perspective about the pelvis at depth ``Z = focal / s`` (or
    ``camera_distance``): ``(s·xy + t) / (1 + (z - root_z) / Z)``, which is
    ``f·(X + T) / (Z + dz)`` with ``s = f / Z`` and ``t = s·T``: the pelvis's depth
    plane projects exactly as the weak-perspective ``(s, t)``, nearer points larger.
    root_z : (T,) the pelvis's z in the body frame; focal : (T,) normalised crop units.
    """
    s = cam[:, None, :1].exp()
    uv = pts[..., :2] * s + cam[:, None, 1:]
    if root_z is None:
        return uv
    if focal is not None:
        inv_depth = s[..., 0] / focal[:, None]  # (T, 1)
    elif camera_distance > 0:
        inv_depth = torch.full_like(s[..., 0], 1.0 / camera_distance)
    else:
        return uv
    return perspective_divide(uv, pts[..., 2], root_z[:, None], inv_depth)


def pelvis_distance(
    cam: torch.Tensor, focal: torch.Tensor | None, camera_distance: float = 0.0
) -> torch.Tensor:
    """(T,) the pelvis's distance from the camera (m); 0 for weak perspective (the
    convention's ``distance``)."""
    if focal is not None:
        return focal / cam[:, 0].exp()
    return torch.full_like(cam[:, 0], max(camera_distance, 0.0))


def focal_from_fov(fov_deg: float, frame_height: float, crop_side: np.ndarray | float) -> Any:
    """Focal length in normalised crop units (``Fitter.fit``'s ``focal``) of a camera with
    vertical field of view ``fov_deg`` over a frame ``frame_height`` pixels high, for square
    crops of ``crop_side`` source pixels: ``2 f / side`` with ``f = (H / 2) / tan(fov / 2)``."""
    if not 0 < fov_deg < 180 or frame_height <= 0:
        raise ValueError(
            f"need 0 < fov_deg < 180 and frame_height > 0, got {fov_deg}, {frame_height}"
        )
    f_px = 0.5 * frame_height / math.tan(math.radians(fov_deg) / 2)
    return 2.0 * f_px / np.asarray(crop_side, np.float64)
