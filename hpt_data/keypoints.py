"""Keypoint layouts: MediaPipe Pose's 33 landmarks, COCO's 17, OpenPose's BODY_25 and COCO_18.

Pure numpy. "Left" is the person's left in every layout. The conversion from MediaPipe:

| COCO 17 | name | MediaPipe | BODY_25 | name | MediaPipe |
| --- | --- | --- | --- | --- | --- |
| 0 | nose | 0 | 0 | Nose | 0 |
| 1 | left_eye | 2 | 1 | Neck | mean(11, 12) |
| 2 | right_eye | 5 | 2 | RShoulder | 12 |
| 3 | left_ear | 7 | 3 | RElbow | 14 |
| 4 | right_ear | 8 | 4 | RWrist | 16 |
| 5 | left_shoulder | 11 | 5 | LShoulder | 11 |
| 6 | right_shoulder | 12 | 6 | LElbow | 13 |
| 7 | left_elbow | 13 | 7 | LWrist | 15 |
| 8 | right_elbow | 14 | 8 | MidHip | mean(23, 24) |
| 9 | left_wrist | 15 | 9 | RHip | 24 |
| 10 | right_wrist | 16 | 10 | RKnee | 26 |
| 11 | left_hip | 23 | 11 | RAnkle | 28 |
| 12 | right_hip | 24 | 12 | LHip | 23 |
| 13 | left_knee | 25 | 13 | LKnee | 25 |
| 14 | right_knee | 26 | 14 | LAnkle | 27 |
| 15 | left_ankle | 27 | 15 | REye | 5 |
| 16 | right_ankle | 28 | 16 | LEye | 2 |
| | | | 17 | REar | 8 |
| | | | 18 | LEar | 7 |
| | | | 19 | LBigToe | 31 (left_foot_index) |
| | | | 20 | LSmallToe | none: (0, 0, 0) |
| | | | 21 | LHeel | 29 |
| | | | 22 | RBigToe | 32 (right_foot_index) |
| | | | 23 | RSmallToe | none: (0, 0, 0) |
| | | | 24 | RHeel | 30 |

OpenPose's COCO_18 (the order of the pose-transfer annotation CSVs and ``pose/*.txt``) is
BODY_25's first 8 points, then RHip 9, RKnee 10, RAnkle 11, LHip 12, LKnee 13, LAnkle 14
(BODY_25's indices), then REye, LEye, REar, LEar: MediaPipe 0, mean(11, 12), 12, 14, 16,
11, 13, 15, 24, 26, 28, 23, 25, 27, 5, 2, 8, 7 (``COCO18_FROM_MEDIAPIPE``).

A point made from two landmarks (Neck, MidHip) is their mean with the smaller of the two
confidences. MediaPipe has no small toe: it is written as (0, 0, 0), the way OpenPose
writes a keypoint it did not find. MediaPipe's hips (23/24) sit lower and wider than a
skeleton's hip joints; they match COCO's annotated hips, not SMPL's hip joints.
"""

from __future__ import annotations

import numpy as np

MEDIAPIPE_33: tuple[str, ...] = (
    "nose",
    "left_eye_inner",
    "left_eye",
    "left_eye_outer",
    "right_eye_inner",
    "right_eye",
    "right_eye_outer",
    "left_ear",
    "right_ear",
    "mouth_left",
    "mouth_right",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_pinky",
    "right_pinky",
    "left_index",
    "right_index",
    "left_thumb",
    "right_thumb",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_heel",
    "right_heel",
    "left_foot_index",
    "right_foot_index",
)

COCO_17: tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)

BODY_25: tuple[str, ...] = (
    "Nose",
    "Neck",
    "RShoulder",
    "RElbow",
    "RWrist",
    "LShoulder",
    "LElbow",
    "LWrist",
    "MidHip",
    "RHip",
    "RKnee",
    "RAnkle",
    "LHip",
    "LKnee",
    "LAnkle",
    "REye",
    "LEye",
    "REar",
    "LEar",
    "LBigToe",
    "LSmallToe",
    "LHeel",
    "RBigToe",
    "RSmallToe",
    "RHeel",
)

# OpenPose's COCO-18 order: BODY_25's first 19 points without MidHip (same names, same order).
COCO_18: tuple[str, ...] = tuple(n for n in BODY_25[:19] if n != "MidHip")

# Each target keypoint: the MediaPipe landmarks it is the mean of (empty: not detected).
_MP = {name: i for i, name in enumerate(MEDIAPIPE_33)}
COCO_FROM_MEDIAPIPE: tuple[tuple[int, ...], ...] = tuple((_MP[n],) for n in COCO_17)
BODY25_FROM_MEDIAPIPE: tuple[tuple[int, ...], ...] = (
    (0,),
    (11, 12),
    (12,),
    (14,),
    (16,),
    (11,),
    (13,),
    (15,),
    (23, 24),
    (24,),
    (26,),
    (28,),
    (23,),
    (25,),
    (27,),
    (5,),
    (2,),
    (8,),
    (7,),
    (31,),
    (),
    (29,),
    (32,),
    (),
    (30,),
)

COCO18_FROM_MEDIAPIPE: tuple[tuple[int, ...], ...] = tuple(
    BODY25_FROM_MEDIAPIPE[BODY_25.index(name)] for name in COCO_18
)

#: bones for drawing, as pairs of MediaPipe indices
MEDIAPIPE_BONES: tuple[tuple[int, int], ...] = (
    (11, 12), (11, 23), (12, 24), (23, 24),
    (11, 13), (13, 15), (15, 19), (12, 14), (14, 16), (16, 20),
    (23, 25), (25, 27), (27, 29), (29, 31), (27, 31),
    (24, 26), (26, 28), (28, 30), (30, 32), (28, 32),
    (0, 2), (0, 5), (2, 7), (5, 8), (9, 10),
)  # fmt: skip

#: MediaPipe landmarks that are SMPL joints (MediaPipe index -> SMPL joint index): the
#: limbs' joints. MediaPipe's hips (23, 24) are not SMPL's hip joints and are left out.
MEDIAPIPE_TO_SMPL_JOINT: dict[int, int] = {
    11: 16,  # left shoulder
    12: 17,
    13: 18,  # left elbow
    14: 19,
    15: 20,  # left wrist
    16: 21,
    25: 4,  # left knee
    26: 5,
    27: 7,  # left ankle
    28: 8,
}

#: MediaPipe landmarks that are surface points (vertices) of a body model, by the names
#: the synthetic source's ground truth uses (``landmark_names``)
MEDIAPIPE_TO_LANDMARK: dict[int, str] = {
    0: "nose",
    2: "left_eye",
    5: "right_eye",
    7: "left_ear",
    8: "right_ear",
    29: "left_heel",
    30: "right_heel",
    31: "left_big_toe",
    32: "right_big_toe",
}

#: MediaPipe landmarks compared by ``pose_distance``: the ones COCO's 17 keypoints use
POSE_CORE: tuple[int, ...] = tuple(sources[0] for sources in COCO_FROM_MEDIAPIPE)


def _convert(xy: np.ndarray, conf: np.ndarray, table: tuple[tuple[int, ...], ...]) -> np.ndarray:
    xy = np.asarray(xy, dtype=np.float64)
    conf = np.asarray(conf, dtype=np.float64)
    if xy.shape[-2:] != (33, 2) or conf.shape != xy.shape[:-1]:
        raise ValueError(
            f"expected xy (..., 33, 2) and conf (..., 33), got {xy.shape} and {conf.shape}"
        )
    out = np.zeros((*xy.shape[:-2], len(table), 3))
    for k, sources in enumerate(table):
        if not sources:
            continue
        idx = list(sources)
        out[..., k, :2] = xy[..., idx, :].mean(axis=-2)
        out[..., k, 2] = conf[..., idx].min(axis=-1)
    return out


def mediapipe_to_coco17(xy: np.ndarray, conf: np.ndarray) -> np.ndarray:
    """COCO 17 keypoints from MediaPipe's 33.

    Parameters
    ----------
    xy : (..., 33, 2) float, landmark positions (any pixel frame)
    conf : (..., 33) float, landmark visibilities in [0, 1]

    Returns
    -------
    (..., 17, 3) float: x, y, confidence
    """
    return _convert(xy, conf, COCO_FROM_MEDIAPIPE)


def mediapipe_to_body25(xy: np.ndarray, conf: np.ndarray) -> np.ndarray:
    """OpenPose BODY_25 keypoints from MediaPipe's 33: (..., 25, 3) x, y, confidence; the
    small toes, which MediaPipe lacks, are (0, 0, 0). Shapes as ``mediapipe_to_coco17``."""
    return _convert(xy, conf, BODY25_FROM_MEDIAPIPE)


def mediapipe_to_coco18(xy: np.ndarray, conf: np.ndarray) -> np.ndarray:
    """OpenPose COCO_18 keypoints from MediaPipe's 33: (..., 18, 3) x, y, confidence; the
    Neck is the shoulders' mean with the smaller confidence. Shapes as
    ``mediapipe_to_coco17``."""
    return _convert(xy, conf, COCO18_FROM_MEDIAPIPE)


def pose_distance(
    a: np.ndarray, b: np.ndarray, conf_a: np.ndarray, conf_b: np.ndarray, min_conf: float = 0.5
) -> float:
    """How different two 2D poses are, regardless of where the person stands or how large
    they appear.

    Of the COCO-17 landmarks (``POSE_CORE``), those confident in both poses are kept; each
    pose's kept points are centred on their mean and divided by their RMS distance from it
    (the pose's radius). The result is the mean distance between corresponding points, in
    pose radii: 0 for the same pose moved or scaled; MediaPipe's frame-to-frame noise on
    a still full-body pose is 0.005-0.015; the strides of the synthetic walks reach
    0.07-0.11. Returns ``inf`` when fewer than 4 points are confident in both (the poses
    cannot be compared).

    Parameters
    ----------
    a, b : (33, 2) float, landmark positions in pixels
    conf_a, conf_b : (33,) float, visibilities
    """
    core = np.asarray(POSE_CORE)
    both = (np.asarray(conf_a)[core] >= min_conf) & (np.asarray(conf_b)[core] >= min_conf)
    if both.sum() < 4:
        return float("inf")
    normed = []
    for xy in (np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)):
        pts = xy[core][both]
        pts = pts - pts.mean(axis=0)
        radius = np.sqrt((pts**2).sum(axis=1).mean())
        normed.append(pts / max(radius, 1e-6))
    return float(np.linalg.norm(normed[0] - normed[1], axis=1).mean())
