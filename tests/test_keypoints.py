"""Keypoint layouts: the MediaPipe -> COCO-17 / BODY_25 tables, and the pose distance."""

from __future__ import annotations

import numpy as np
import pytest

from hpt_data.keypoints import (
    BODY_25,
    COCO_17,
    COCO_18,
    MEDIAPIPE_33,
    MEDIAPIPE_TO_LANDMARK,
    MEDIAPIPE_TO_SMPL_JOINT,
    mediapipe_to_body25,
    mediapipe_to_coco17,
    mediapipe_to_coco18,
    pose_distance,
)


def landmarks(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Distinct positions (landmark i at (10 i, 1000 - 7 i)) and confidences (i / 33)."""
    i = np.arange(33, dtype=np.float64)
    xy = np.stack([10 * i, 1000 - 7 * i], axis=1)
    return xy, i / 33


def by_name(names: tuple[str, ...], out: np.ndarray) -> dict[str, np.ndarray]:
    return dict(zip(names, out, strict=True))


def test_coco17_takes_the_same_named_landmarks() -> None:
    xy, conf = landmarks()
    coco = by_name(COCO_17, mediapipe_to_coco17(xy, conf))
    for name, point in coco.items():
        i = MEDIAPIPE_33.index(name)  # COCO's names are MediaPipe's (left = person's left)
        assert np.allclose(point, [*xy[i], conf[i]]), name


def test_body25_derived_and_missing_points() -> None:
    xy, conf = landmarks()
    b25 = by_name(BODY_25, mediapipe_to_body25(xy, conf))
    assert np.allclose(b25["Neck"], [*(xy[11] + xy[12]) / 2, min(conf[11], conf[12])])
    assert np.allclose(b25["MidHip"], [*(xy[23] + xy[24]) / 2, min(conf[23], conf[24])])
    assert np.allclose(b25["RShoulder"], [*xy[12], conf[12]])  # person's right
    assert np.allclose(b25["LWrist"], [*xy[15], conf[15]])
    assert np.allclose(b25["LBigToe"], [*xy[31], conf[31]])
    assert np.allclose(b25["RHeel"], [*xy[30], conf[30]])
    assert np.allclose(b25["REar"], [*xy[8], conf[8]])
    assert np.all(b25["LSmallToe"] == 0) and np.all(b25["RSmallToe"] == 0)


def test_conversion_keeps_leading_axes_and_checks_shapes() -> None:
    xy, conf = landmarks()
    batch = np.stack([xy, xy + 1])[None]  # (1, 2, 33, 2)
    out = mediapipe_to_body25(batch, np.stack([conf, conf])[None])
    assert out.shape == (1, 2, 25, 3)
    assert np.allclose(out[0, 1, :, :2][[0, 2]], xy[[0, 12]] + 1)
    with pytest.raises(ValueError, match=r"\(\.\.\., 33, 2\)"):
        mediapipe_to_coco17(xy[:17], conf[:17])


def test_ground_truth_correspondences_name_matching_points() -> None:
    assert set(MEDIAPIPE_TO_SMPL_JOINT) == {11, 12, 13, 14, 15, 16, 25, 26, 27, 28}
    assert 23 not in MEDIAPIPE_TO_SMPL_JOINT  # MediaPipe's hips are not SMPL's hip joints
    for mp_index, name in MEDIAPIPE_TO_LANDMARK.items():
        side = name.split("_")[0]
        if side in ("left", "right"):
            assert MEDIAPIPE_33[mp_index].startswith(side)


def test_pose_distance_ignores_position_and_size_but_not_pose() -> None:
    rng = np.random.default_rng(0)
    xy = rng.uniform(100, 400, (33, 2))
    conf = np.ones(33)
    assert pose_distance(xy, 2.5 * xy + (40, -7), conf, conf) < 1e-9
    bent = xy.copy()
    bent[15] += (80, 0)  # the left wrist moves
    assert pose_distance(xy, bent, conf, conf) > 0.02
    assert pose_distance(xy, bent, conf, conf) > pose_distance(xy, xy + 1e-3, conf, conf)
    few = np.zeros(33)
    few[[0, 11, 12]] = 1.0
    assert pose_distance(xy, bent, few, conf) == float("inf")


def test_coco18_is_openpose_order_with_the_neck_between_the_shoulders() -> None:
    xy, conf = landmarks()
    out = by_name(COCO_18, mediapipe_to_coco18(xy, conf))
    # OpenPose's COCO_18 names are BODY_25's; REye/LEye/REar/LEar come last
    assert COCO_18[14:] == ("REye", "LEye", "REar", "LEar")
    assert np.allclose(out["REye"], [*xy[5], conf[5]])  # MediaPipe right_eye
    assert np.allclose(out["LEar"], [*xy[7], conf[7]])  # MediaPipe left_ear
    assert np.allclose(out["RHip"], [*xy[24], conf[24]])
    assert np.allclose(out["Neck"][:2], (xy[11] + xy[12]) / 2)
    assert out["Neck"][2] == pytest.approx(min(conf[11], conf[12]))
