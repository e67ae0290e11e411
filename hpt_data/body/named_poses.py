"""A few hand-made body poses with self-occlusion, for tests, benchmarks, previews and the
pipelines' named targets.

Angles follow :mod:`hpt_data.body.joint_limits` (extrinsic x-y-z Euler angles per joint in
the T-pose axes; the right side mirrors the left with y and z negated).
"""

from __future__ import annotations

import numpy as np

from hpt_data.body.joint_limits import euler_to_axis_angle
from hpt_data.body.joints import SMPL_JOINT_NAMES

#: name → {joint: (x, y, z) Euler angles in radians}
NAMED_POSES: dict[str, dict[str, tuple[float, float, float]]] = {
    "arms_down": {
        "left_shoulder": (0.0, 0.0, -1.25),
        "right_shoulder": (0.0, 0.0, 1.25),
    },
    # both forearms folded across the chest, the hands crossing at the midline
    "crossed_arms": {
        "left_shoulder": (1.5, -1.0, -1.2),
        "left_elbow": (0.0, -2.0, 0.0),
        "right_shoulder": (1.0, 0.5, 1.2),
        "right_elbow": (0.0, 2.0, 0.0),
    },
    # the left leg crosses over in front of the right one
    "crossed_legs": {
        "left_hip": (-0.3, 0.0, -0.3),
        "right_hip": (0.1, 0.0, 0.3),
        "left_shoulder": (0.0, 0.0, -1.2),
        "right_shoulder": (0.0, 0.0, 1.2),
    },
    # the right forearm lies across the belly, in front of the torso
    "right_arm_in_front": {
        "right_shoulder": (1.0, 0.5, 1.2),
        "right_elbow": (0.0, 2.0, 0.0),
        "left_shoulder": (0.0, 0.0, -1.25),
    },
}


def named_pose(name: str) -> np.ndarray:
    """``body_pose`` (69,) axis-angle of a named pose (unlisted joints at zero)."""
    if name not in NAMED_POSES:
        raise ValueError(f"unknown pose {name!r}; expected one of {sorted(NAMED_POSES)}")
    euler = np.zeros((len(SMPL_JOINT_NAMES), 3))
    for joint, angles in NAMED_POSES[name].items():
        euler[SMPL_JOINT_NAMES.index(joint)] = angles
    return euler_to_axis_angle(euler[1:]).reshape(-1)
