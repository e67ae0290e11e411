"""Closed-form starting points of a fit: heading hypotheses, knee and elbow bends seen in
2D, and a weak-perspective camera from the landmarks.

The fitter (:mod:`hpt_data.fitting.fitter`) starts its optimisation from these guesses;
they are plain functions of the landmarks, kept apart from the optimisation schedule.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from hpt_data.body.joints import JOINT_INDEX
from hpt_data.fitting.landmarks import TARGET_NAMES


def _rot_x(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _rot_y(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


#: Headings (radians about the body's vertical axis) the camera stage tries for every frame.
HEADINGS = (0.0, 0.5 * math.pi, math.pi, 1.5 * math.pi)


def heading_rotations() -> np.ndarray:
    """``(H, 3, 3)``: the body upright in the camera frame (y down: a half turn about x),
    turned to each of :data:`HEADINGS`."""
    flip = _rot_x(math.pi)
    return np.stack([flip @ _rot_y(a) for a in HEADINGS])


#: hinge -> (row in the 23 joint angles, Euler axis, sign of flexion)
HINGE_INIT: dict[str, tuple[int, int, float]] = {
    "left_elbow": (JOINT_INDEX["left_elbow"] - 1, 1, -1.0),
    "right_elbow": (JOINT_INDEX["right_elbow"] - 1, 1, 1.0),
    "left_knee": (JOINT_INDEX["left_knee"] - 1, 0, 1.0),
    "right_knee": (JOINT_INDEX["right_knee"] - 1, 0, 1.0),
}
#: hinge -> the landmarks of the limb it bends (upper end, the hinge, lower end)
HINGE_CHAIN: dict[str, tuple[str, str, str]] = {
    "left_elbow": ("left_shoulder", "left_elbow", "left_wrist"),
    "right_elbow": ("right_shoulder", "right_elbow", "right_wrist"),
    "left_knee": ("left_hip", "left_knee", "left_ankle"),
    "right_knee": ("right_hip", "right_knee", "right_ankle"),
}


def bend_2d(points: np.ndarray, conf: np.ndarray, hinge: str, min_conf: float = 0.3) -> np.ndarray:
    """(T,) how far the limb through ``hinge`` bends in the image (radians; NaN when a
    landmark is unsure). A straight limb projects to a straight line under a weak-perspective
    camera, so a bend seen in 2D means a bent joint: it starts the pose stage there, on the
    right side of the straight-limb saddle where the twist of the limb is undetermined."""
    a, b, c = (TARGET_NAMES.index(n) for n in HINGE_CHAIN[hinge])
    u, v = points[:, a] - points[:, b], points[:, c] - points[:, b]
    cos = (u * v).sum(-1) / np.maximum(
        np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1), 1e-9
    )
    bend = np.pi - np.arccos(np.clip(cos, -1.0, 1.0))
    sure = (conf[:, [a, b, c]] >= min_conf).all(-1)
    return np.where(sure, bend, np.nan)


def init_camera(xy: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Closed-form weighted least squares of ``s * xy + t ≈ target`` per frame.

    xy, target : (B, K, 2); weight : (B, K). Returns (B, 3) (log s, tx, ty).
    """
    w = weight[..., None]
    wsum = weight.sum(-1, keepdim=True).clamp_min(1e-6)[..., None]
    mx = (w * xy).sum(1, keepdim=True) / wsum
    mt = (w * target).sum(1, keepdim=True) / wsum
    dx, dtg = xy - mx, target - mt
    s = (w * dx * dtg).sum((1, 2)) / (w * dx * dx).sum((1, 2)).clamp_min(1e-9)
    s = s.clamp_min(0.05)
    tr = mt[:, 0] - s[:, None] * mx[:, 0]
    return torch.cat([s.log()[:, None], tr], 1)
