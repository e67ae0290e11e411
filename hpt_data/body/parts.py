"""The 7 body-part labels and their derivation from 24-joint skinning weights.

Labels (DESIGN.md): ``0 background, 1 head, 2 torso, 3 left arm, 4 right arm, 5 left leg,
6 right leg``; "left" is the person's left. A vertex takes the part of the joint with the
largest skinning weight (a true partition of the mesh), grouped as BodyNet did. The rule
only needs SMPL's 24-joint weights, so it holds for real SMPL files and for the built-in
Anny-derived model alike.
"""

from __future__ import annotations

import numpy as np

from hpt_data.body.joints import NUM_JOINTS

PART_NAMES: tuple[str, ...] = (
    "background",
    "head",
    "torso",
    "left_arm",
    "right_arm",
    "left_leg",
    "right_leg",
)

BACKGROUND, HEAD, TORSO, LEFT_ARM, RIGHT_ARM, LEFT_LEG, RIGHT_LEG = range(7)

#: Part label of each of SMPL's 24 joints.
JOINT_TO_PART: tuple[int, ...] = (
    TORSO,  # 0 pelvis
    LEFT_LEG,  # 1 left_hip
    RIGHT_LEG,  # 2 right_hip
    TORSO,  # 3 spine1
    LEFT_LEG,  # 4 left_knee
    RIGHT_LEG,  # 5 right_knee
    TORSO,  # 6 spine2
    LEFT_LEG,  # 7 left_ankle
    RIGHT_LEG,  # 8 right_ankle
    TORSO,  # 9 spine3
    LEFT_LEG,  # 10 left_foot
    RIGHT_LEG,  # 11 right_foot
    TORSO,  # 12 neck
    TORSO,  # 13 left_collar
    TORSO,  # 14 right_collar
    HEAD,  # 15 head
    LEFT_ARM,  # 16 left_shoulder
    RIGHT_ARM,  # 17 right_shoulder
    LEFT_ARM,  # 18 left_elbow
    RIGHT_ARM,  # 19 right_elbow
    LEFT_ARM,  # 20 left_wrist
    RIGHT_ARM,  # 21 right_wrist
    LEFT_ARM,  # 22 left_hand
    RIGHT_ARM,  # 23 right_hand
)


def part_labels_from_weights(weights: np.ndarray) -> np.ndarray:
    """Per-vertex part label from 24-joint skinning weights.

    Parameters
    ----------
    weights : (V, 24) float
        Linear-blend skinning weights over SMPL's 24 joints.

    Returns
    -------
    (V,) uint8
        Labels 1..6 (never 0: background is not on the body).

    Raises
    ------
    ValueError
        If ``weights`` is not of shape ``(V, 24)``.
    """
    w = np.asanyarray(weights)
    if w.ndim != 2 or w.shape[1] != NUM_JOINTS:
        raise ValueError(f"weights must have shape (V, {NUM_JOINTS}), got {w.shape}")
    table = np.asarray(JOINT_TO_PART, dtype=np.uint8)
    return table[np.argmax(w, axis=1)]
