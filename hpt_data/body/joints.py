"""SMPL's 24-joint kinematic tree: names and parents.

The order is SMPL's own (the order of ``kintree_table`` in the official model files), so a
pose vector ``body_pose (B, 69)`` holds joints 1..23 in this order, three axis-angle values
each, and ``global_orient (B, 3)`` is joint 0.
"""

from __future__ import annotations

SMPL_JOINT_NAMES: tuple[str, ...] = (
    "pelvis",
    "left_hip",
    "right_hip",
    "spine1",
    "left_knee",
    "right_knee",
    "spine2",
    "left_ankle",
    "right_ankle",
    "spine3",
    "left_foot",
    "right_foot",
    "neck",
    "left_collar",
    "right_collar",
    "head",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hand",
    "right_hand",
)

#: Parent of each joint (-1 for the root), SMPL's kinematic tree.
SMPL_PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21,
)  # fmt: skip

NUM_JOINTS: int = len(SMPL_JOINT_NAMES)

#: Joint index by name.
JOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}
