"""Simple per-joint rotation limits for SMPL's 24 joints, and random poses within them.

Angle convention
----------------
Each joint's rotation is given, relative to its parent, in SMPL's frame at the zero pose
(the T-pose): metres, ``+y`` up, the person faces ``+z``, ``+x`` is the person's left. A
limit is a range in radians for each of three angles ``(a, b, c)`` about the parent-aligned
axes x, y, z, composed as *extrinsic* x-then-y-then-z, i.e. ``R = Rz(c) @ Ry(b) @ Rx(a)``
(scipy's ``Rotation.from_euler("xyz", [a, b, c])``). The pose vector stores the axis-angle
vector of ``R``, as SMPL does.

What the signs mean at the zero pose (left side; the right side is the mirror image, with
the y and z ranges negated):

- hip: ``x < 0`` flexes the thigh forward, ``z > 0`` abducts (the leg moves to ``+x``);
- knee: ``x > 0`` flexes (the shank swings backwards); it never bends the other way;
- spine, neck, head: ``x > 0`` bends forward, ``y`` twists, ``z`` bends sideways;
- shoulder: ``z < 0`` lowers the arm, ``y < 0`` swings it forward, ``x`` twists it;
- elbow: ``y < 0`` flexes (the forearm swings forward); it never bends the other way;
- wrist: ``z < 0`` flexes the palm-down hand downwards, ``y`` deviates it sideways.

The ranges are deliberately moderate (inside what most people reach), so that random poses
look plausible and stay free of gross self-intersection; they are no anatomical reference.
"""

from __future__ import annotations

import numpy as np

from hpt_data.body.joints import NUM_JOINTS, SMPL_JOINT_NAMES

Range = tuple[float, float]
Limit = tuple[Range, Range, Range]

_ZERO: Range = (0.0, 0.0)

#: Limits of the left side and the midline, in radians, as ``((x_lo, x_hi), (y..), (z..))``.
_LEFT_AND_MID: dict[str, Limit] = {
    "pelvis": (_ZERO, _ZERO, _ZERO),  # the global orientation is not part of body_pose
    "left_hip": ((-1.6, 0.4), (-0.5, 0.5), (-0.3, 0.7)),
    "spine1": ((-0.2, 0.4), (-0.3, 0.3), (-0.25, 0.25)),
    "left_knee": ((0.0, 2.2), (-0.1, 0.1), _ZERO),
    "spine2": ((-0.2, 0.4), (-0.3, 0.3), (-0.25, 0.25)),
    "left_ankle": ((-0.5, 0.6), (-0.3, 0.3), (-0.3, 0.3)),
    "spine3": ((-0.2, 0.3), (-0.3, 0.3), (-0.2, 0.2)),
    "left_foot": ((-0.3, 0.5), _ZERO, _ZERO),
    "neck": ((-0.4, 0.6), (-0.6, 0.6), (-0.4, 0.4)),
    "left_collar": ((-0.2, 0.2), (-0.3, 0.3), (-0.2, 0.4)),
    "head": ((-0.4, 0.5), (-0.7, 0.7), (-0.4, 0.4)),
    "left_shoulder": ((-0.8, 0.8), (-1.4, 0.6), (-1.4, 0.8)),
    "left_elbow": ((-0.5, 0.5), (-2.3, 0.0), _ZERO),
    "left_wrist": ((-0.5, 0.5), (-0.3, 0.4), (-0.9, 0.8)),
    "left_hand": ((-0.2, 0.2), (-0.2, 0.2), (-0.4, 0.1)),
}


def _mirror(limit: Limit) -> Limit:
    """Limits of the right-side joint from the left one: y and z ranges negated."""
    (xl, xh), (yl, yh), (zl, zh) = limit
    return ((xl, xh), (-yh, -yl), (-zh, -zl))


def _build_table() -> dict[str, Limit]:
    table: dict[str, Limit] = {}
    for name in SMPL_JOINT_NAMES:
        if name.startswith("right_"):
            table[name] = _mirror(_LEFT_AND_MID["left_" + name[len("right_") :]])
        else:
            table[name] = _LEFT_AND_MID[name]
    return table


#: Per-joint Euler ranges (radians; see the module docstring), for all 24 joints by name.
JOINT_LIMITS: dict[str, Limit] = _build_table()


def limits_array() -> np.ndarray:
    """The limits as an array.

    Returns
    -------
    (24, 3, 2) float64
        ``[joint, axis, (lo, hi)]`` in radians, joints in SMPL's order.
    """
    return np.array([JOINT_LIMITS[name] for name in SMPL_JOINT_NAMES], dtype=np.float64)


def euler_to_axis_angle(euler: np.ndarray) -> np.ndarray:
    """Convert ``(..., 3)`` extrinsic x-y-z Euler angles to ``(..., 3)`` axis-angle vectors."""
    from scipy.spatial.transform import Rotation

    euler = np.asarray(euler, dtype=np.float64)
    flat = euler.reshape(-1, 3)
    return Rotation.from_euler("xyz", flat).as_rotvec().reshape(euler.shape)


def sample_random_euler(n: int, seed: int = 0) -> np.ndarray:
    """Random joint angles, each uniform within its range.

    Returns
    -------
    (n, 23, 3) float64
        Extrinsic x-y-z Euler angles of joints 1..23 (radians).
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = np.random.default_rng(seed)
    lim = limits_array()[1:]  # (23, 3, 2): joint 0 is the global orientation
    u = rng.random((n, NUM_JOINTS - 1, 3))
    return lim[None, :, :, 0] + u * (lim[None, :, :, 1] - lim[None, :, :, 0])


def sample_random_poses(n: int, seed: int = 0) -> np.ndarray:
    """Random body poses, each angle uniform within its joint's range.

    The axis-angle form of :func:`sample_random_euler` with the same ``n`` and ``seed``.

    Parameters
    ----------
    n : int
        Number of poses (``n >= 0``).
    seed : int
        Seed of the generator: the same seed gives the same poses.

    Returns
    -------
    (n, 69) float64
        SMPL ``body_pose`` axis-angle vectors of joints 1..23 (no global orientation).
    """
    euler = sample_random_euler(n, seed)
    return euler_to_axis_angle(euler).reshape(n, (NUM_JOINTS - 1) * 3)
