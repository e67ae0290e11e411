"""Pose-corrective blend shapes (SMPL's ``posedirs``) for the built-in body model.

Plain linear blend skinning (LBS) shrinks the body at strong bends: on random poses within
the joint limits the built-in model lost up to 6.8 % of its volume. Dual-quaternion
skinning (DQS) with the same 24-joint weights blends rigid motions instead of matrices and
keeps the volume far better, but smplx poses by LBS only. So the correctives make LBS
reproduce DQS, in SMPL's own form:

1. **Training poses**: :data:`NUM_TRAINING_POSES` random poses within the joint limits
   (``joint_limits.sample_random_poses``, seed :data:`TRAINING_SEED`; not the tests' seed).
2. **Targets**: per pose and vertex, the DQS position ``x``, mapped back into the rest
   frame through the inverse of that vertex's LBS blend ``x = M_v (v + d) + t_v``, so that
   LBS of ``v + d`` lands exactly on the DQS vertex: ``d = M_v^-1 (x - t_v) - v``.
3. **Fit**: ``d ≈ P_v f`` with SMPL's pose features ``f = vec(R_j - I)`` of the 23 non-root
   joints (local rotations, 207 numbers), by ridge least squares. Per vertex only the
   features of the joints that can move it relative to its other joints are used: the
   joints on the tree paths joining its weighted joints (weight above
   :data:`WEIGHT_THRESHOLD`), below their lowest common ancestor; ``d`` does not depend on
   any other joint (both skinnings commute with a common rigid motion). So a corrective
   stays local to its joint, and a vertex moved rigidly by one joint has none.

``posedirs[v, :, 9 (j - 1) + k]`` is the displacement per unit of feature ``k`` of joint
``j``, the layout of SMPL's files; smplx's forward adds ``posedirs @ f`` in the rest pose
before skinning, and the rest pose (``f = 0``) is unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hpt_data.body.joints import NUM_JOINTS, SMPL_PARENTS
from hpt_data.body.kinematics import forward_kinematics, rodrigues

#: Random training poses (within the joint limits) the correctives are fitted on.
NUM_TRAINING_POSES = 500
#: Seed of the training poses (the tests and figures use seed 7).
TRAINING_SEED = 20240
#: Ridge weight, relative to the number of poses (features are of order one).
RIDGE = 1e-3
#: Joints weighted below this do not count as moving a vertex.
WEIGHT_THRESHOLD = 1e-3
#: Poses per batch (bounds memory: about 150 MB at 13k vertices).
CHUNK = 25


def local_rotations(body_pose: np.ndarray) -> np.ndarray:
    """Local rotation matrices ``(B, 24, 3, 3)`` of axis-angle poses ``(B, 69)`` (root = I)."""
    b = body_pose.shape[0]
    rot = np.tile(np.eye(3), (b, NUM_JOINTS, 1, 1))
    rot[:, 1:] = rodrigues(np.asarray(body_pose).reshape(b, NUM_JOINTS - 1, 3))
    return rot


def pose_features(rotations: np.ndarray) -> np.ndarray:
    """SMPL's pose features ``(B, 207)``: ``vec(R_j - I)`` of joints 1..23, row-major."""
    return (rotations[:, 1:] - np.eye(3)).reshape(rotations.shape[0], -1)


def joint_transforms(joints: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    """SMPL's skinning transforms ``(B, 24, 4, 4)`` from rest joints ``(24, 3)`` and
    local rotations ``(B, 24, 3, 3)`` (``kinematics.forward_kinematics`` on SMPL's tree)."""
    heads = np.broadcast_to(joints, (rotations.shape[0], *joints.shape))
    return forward_kinematics(SMPL_PARENTS, heads, rotations)


def linear_blend(weights: np.ndarray, transforms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-vertex LBS blends: ``M (B, V, 3, 3)`` and ``t (B, V, 3)`` with ``x = M v + t``."""
    m = np.einsum("vj,bjik->bvik", weights, transforms[..., :3, :3])
    t = np.einsum("vj,bji->bvi", weights, transforms[..., :3, 3])
    return m, t


def _quat_mul(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Hamilton product of ``(..., 4)`` quaternions stored ``(w, x, y, z)``."""
    pw, pv, qw, qv = p[..., :1], p[..., 1:], q[..., :1], q[..., 1:]
    w = pw * qw - np.sum(pv * qv, axis=-1, keepdims=True)
    return np.concatenate([w, pw * qv + qw * pv + np.cross(pv, qv)], axis=-1)


def _quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """Unit quaternions ``(..., 4)`` ``(w, x, y, z)`` to rotation matrices ``(..., 3, 3)``."""
    w, x, y, z = np.moveaxis(q, -1, 0)
    rows = [
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ]  # fmt: skip
    return np.stack(rows, axis=-1).reshape(*q.shape[:-1], 3, 3)


def dual_quaternion_skinning(
    vertices: np.ndarray, weights: np.ndarray, transforms: np.ndarray
) -> np.ndarray:
    """Dual-quaternion skinning of rest vertices.

    Each joint's rigid transform becomes a unit dual quaternion ``(q, q_e)``,
    ``q_e = t q / 2``; per vertex they are blended with its weights (each one's sign
    flipped onto the hemisphere of the vertex's heaviest joint), normalised by ``|q|`` and
    applied as a rigid motion.

    Parameters
    ----------
    vertices : (V, 3) float, rest positions
    weights : (V, 24) float, skinning weights
    transforms : (B, 24, 4, 4) float, rigid joint transforms

    Returns
    -------
    (B, V, 3) float
    """
    from scipy.spatial.transform import Rotation

    b = transforms.shape[0]
    xyzw = Rotation.from_matrix(transforms[..., :3, :3].reshape(-1, 3, 3)).as_quat()
    q = np.concatenate([xyzw[:, 3:], xyzw[:, :3]], axis=1).reshape(b, NUM_JOINTS, 4)
    t = np.concatenate([np.zeros((b, NUM_JOINTS, 1)), transforms[..., :3, 3]], axis=-1)
    qe = 0.5 * _quat_mul(t, q)
    pivot = np.argmax(weights, axis=1)
    sign = np.where(np.einsum("bji,bki->bjk", q, q) < 0, -1.0, 1.0)  # (B, 24, 24)
    signed = weights[None] * np.swapaxes(sign[:, :, pivot], 1, 2)  # (B, V, 24)
    b0 = np.einsum("bvj,bji->bvi", signed, q)
    be = np.einsum("bvj,bji->bvi", signed, qe)
    norm = np.linalg.norm(b0, axis=-1, keepdims=True)
    c0, ce = b0 / norm, be / norm
    w0, v0, we, ve = c0[..., :1], c0[..., 1:], ce[..., :1], ce[..., 1:]
    shift = 2.0 * (w0 * ve - we * v0 + np.cross(v0, ve))
    return np.einsum("bvik,vk->bvi", _quat_to_matrix(c0), vertices) + shift


def corrective_targets(
    vertices: np.ndarray, weights: np.ndarray, joints: np.ndarray, body_pose: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Rest-frame displacements that make LBS land on DQS, and the poses' features.

    Parameters
    ----------
    vertices : (V, 3), weights : (V, 24), joints : (24, 3) rest joints
    body_pose : (B, 69) axis-angle

    Returns
    -------
    offsets : (B, V, 3) float32, ``d`` with ``LBS(v + d) = DQS(v)``
    features : (B, 207) float64
    """
    rot = local_rotations(body_pose)
    transforms = joint_transforms(joints, rot)
    target = dual_quaternion_skinning(vertices, weights, transforms)
    m, t = linear_blend(weights, transforms)
    rest = np.linalg.solve(m, (target - t)[..., None])[..., 0]
    return (rest - vertices).astype(np.float32), pose_features(rot)


def feature_joints(
    weights: np.ndarray,
    parents: Sequence[int] = SMPL_PARENTS,
    threshold: float = WEIGHT_THRESHOLD,
) -> list[tuple[int, ...]]:
    """Per vertex, the joints whose local rotation changes its corrective.

    Those on the tree paths joining the joints that weigh on it (above ``threshold``),
    excluding their lowest common ancestor; empty for a vertex moved by one joint.

    Parameters
    ----------
    weights : (V, 24) float

    Returns
    -------
    list of V sorted tuples of joint indices (never the root)
    """
    chains = []
    for j in range(len(parents)):
        chain, k = [], j
        while k >= 0:
            chain.append(k)
            k = parents[k]
        chains.append(chain)  # j, its parent, ..., the root
    out = []
    for row in weights:
        used = np.flatnonzero(row > threshold)
        common = set(chains[used[0]]).intersection(*(chains[j] for j in used[1:]))
        ancestor = max(common, key=lambda k: len(chains[k]))
        moving: set[int] = set()
        for j in used:
            moving.update(chains[j][: chains[j].index(ancestor)])
        out.append(tuple(sorted(moving)))
    return out


def fit_posedirs(
    offsets: np.ndarray,
    features: np.ndarray,
    groups: list[tuple[int, ...]],
    ridge: float = RIDGE,
) -> np.ndarray:
    """Ridge least squares of ``offsets ≈ posedirs @ features``, per group of vertices.

    Parameters
    ----------
    offsets : (N, V, 3) float, rest-frame targets
    features : (N, 207) float
    groups : V tuples, the joints whose features each vertex may use (:func:`feature_joints`)
    ridge : weight of the ridge, times ``N``

    Returns
    -------
    (V, 3, 207) float64
        Zero outside each vertex's joints' columns.
    """
    n, v = offsets.shape[:2]
    posedirs = np.zeros((v, 3, features.shape[1]))
    members: dict[tuple[int, ...], list[int]] = {}
    for i, key in enumerate(groups):
        members.setdefault(key, []).append(i)
    for key, ids in members.items():
        if not key:
            continue
        cols = np.concatenate([np.arange(9 * (j - 1), 9 * j) for j in key])
        x = features[:, cols]
        y = offsets[:, ids].reshape(n, -1).astype(np.float64)
        coef = np.linalg.solve(x.T @ x + ridge * n * np.eye(cols.size), x.T @ y)
        posedirs[np.ix_(ids, range(3), cols)] = coef.reshape(cols.size, len(ids), 3).transpose(
            1, 2, 0
        )
    return posedirs


def derive_posedirs(
    vertices: np.ndarray,
    weights: np.ndarray,
    joints: np.ndarray,
    num_poses: int = NUM_TRAINING_POSES,
    seed: int = TRAINING_SEED,
) -> tuple[np.ndarray, dict[str, float]]:
    """Pose correctives that make LBS follow DQS on random poses within the joint limits.

    Parameters
    ----------
    vertices : (V, 3) rest template, weights : (V, 24), joints : (24, 3) rest joints

    Returns
    -------
    posedirs : (V, 3, 207) float64, SMPL's layout
    stats : fit residuals on the training poses (metres): ``rms``, ``max``
    """
    from hpt_data.body.joint_limits import sample_random_poses

    poses = sample_random_poses(num_poses, seed=seed)
    parts = [
        corrective_targets(vertices, weights, joints, poses[s : s + CHUNK])
        for s in range(0, num_poses, CHUNK)
    ]
    offsets = np.concatenate([p[0] for p in parts])
    features = np.concatenate([p[1] for p in parts])
    posedirs = fit_posedirs(offsets, features, feature_joints(weights))
    predicted = features @ posedirs.reshape(-1, features.shape[1]).T  # (N, V * 3)
    residual = offsets.reshape(num_poses, -1) - predicted
    norm = np.linalg.norm(residual.reshape(offsets.shape), axis=-1)
    return posedirs, {"rms": float(np.sqrt(np.mean(norm**2))), "max": float(norm.max())}
