"""Occlusion State Accuracy: hand-checked states on boxes and on the body, 1.0 for the ground
truth against itself, lower for the mirrored body (the metric can fail), the junction rule,
and the set summary."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_voxelize import box_mesh

from hpt_data.body.named_poses import named_pose
from hpt_data.body.parts import HEAD, LEFT_ARM, LEFT_LEG, RIGHT_ARM, RIGHT_LEG, TORSO
from hpt_data.body.weak_perspective import UPRIGHT_FACING_CAMERA
from pipelines.occlusion.accuracy import occlusion_state_accuracy, osa_over_set, summarize_osa
from pipelines.occlusion.body import BodyParams, mirror_smpl, pose_body
from pipelines.occlusion.part_layers import PART_PAIRS, part_layers, seam_vertices
from pipelines.occlusion.states import APART, occlusion_states, occlusion_states_smpl

CAMERA = np.array([2 / 2.3, 0.02, -0.1])  # off-centre: tx must change sign in the mirror
#: Poses with real self-occlusion (named_poses.py).
OCCLUDED = ("crossed_arms", "crossed_legs", "right_arm_in_front")
SWAP = {1: 1, 2: 2, 3: 4, 4: 3, 5: 6, 6: 5}  # part label → its mirror's


def params(name: str) -> BodyParams:
    return BodyParams(UPRIGHT_FACING_CAMERA.copy(), named_pose(name), CAMERA.copy())


@pytest.fixture(scope="module")
def body():
    from hpt_data.body import load_body_model

    return load_body_model()


@pytest.fixture(scope="module")
def truth(body):
    """Ground-truth states of the occluded poses."""
    return {name: occlusion_states_smpl(body, params(name)) for name in OCCLUDED}


# ------------------------------------------------------------------ hand-checked boxes


def two_boxes(arm_lo: tuple, arm_hi: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 'torso' box over x, y in [-0.5, 0.5], z in [1, 2], and an 'arm' box (label 4)."""
    tv, tf = box_mesh((-0.5, -0.5, 1.0), (0.5, 0.5, 2.0))
    av, af = box_mesh(arm_lo, arm_hi)
    v = np.concatenate([tv, av])
    f = np.concatenate([tf, af + len(tv)])
    labels = np.array([TORSO] * len(tv) + [RIGHT_ARM] * len(av))
    return v, f, labels


@pytest.mark.parametrize(
    ("arm_z", "arm_x", "min_overlap", "pixels", "arm_state"),
    [
        ((0.2, 0.4), (0.0, 0.75), 1, 16, 1),  # in front: columns and rows 8..11 overlap
        ((3.0, 4.0), (0.0, 0.75), 1, 16, -1),  # behind the torso
        ((0.2, 0.4), (0.55, 0.9), 1, 0, APART),  # columns 12..14: beside the torso
        ((0.2, 0.4), (0.0, 0.75), 17, 16, APART),  # an overlap below the threshold
    ],
)
def test_states_of_two_boxes_by_hand(arm_z, arm_x, min_overlap, pixels, arm_state) -> None:
    """s = 1, t = 0, 16 pixels: x maps to pixel (x + 1) * 8 - 0.5, so the torso covers pixel
    centres 4..11 and an arm from 0 to 0.75 covers 8..13, in both directions."""
    v, f, labels = two_boxes((arm_x[0], 0.0, arm_z[0]), (arm_x[1], 0.75, arm_z[1]))
    states = occlusion_states(v, f, labels, np.array([1.0, 0, 0]), 16, min_overlap)
    pair = PART_PAIRS.index((TORSO, RIGHT_ARM))
    assert states.overlap[pair] == pixels
    assert states.state(RIGHT_ARM, TORSO) == arm_state
    assert states.state(TORSO, RIGHT_ARM) == -arm_state
    others = np.delete(states.states, pair)
    assert not others.any()
    assert seam_vertices(f, labels) == {}  # separate meshes: no junction to leave out


def test_boxes_in_the_crop_frame_follow_the_camera() -> None:
    """tx moves both boxes right by 4 pixels (0.5 · 16 / 2): the layers shift, states stay."""
    v, f, labels = two_boxes((0.0, 0.0, 0.2), (0.75, 0.75, 0.4))
    still = part_layers(v, f, labels, np.array([1.0, 0, 0]), 16)
    moved = part_layers(v, f, labels, np.array([1.0, 0.5, 0]), 16)
    np.testing.assert_array_equal(moved.masks[:, :, 4:], still.masks[:, :, :-4])
    assert still.masks[TORSO - 1, 4:12, 4:12].all() and still.masks[TORSO - 1].sum() == 64


# ------------------------------------------------------------------ the body


def test_right_arm_in_front_of_the_torso_by_hand(truth) -> None:
    """named_poses: "the right forearm lies across the belly, in front of the torso"; the
    left arm hangs at the side, the legs stand apart."""
    states = truth["right_arm_in_front"]
    assert states.state(RIGHT_ARM, TORSO) == 1
    assert states.state(TORSO, RIGHT_ARM) == -1
    assert "right_arm in front of torso" in " ".join(states.describe())
    pair = PART_PAIRS.index((TORSO, RIGHT_ARM))
    assert states.front_fraction[pair] < 0.05  # the torso is nearer almost nowhere
    for other in (LEFT_ARM, LEFT_LEG, RIGHT_LEG):
        assert states.state(TORSO, other) == APART
    assert states.state(LEFT_LEG, RIGHT_LEG) == APART


def test_crossed_poses_by_hand(truth) -> None:
    assert truth["crossed_legs"].state(LEFT_LEG, RIGHT_LEG) == 1  # the left leg crosses over
    arms = truth["crossed_arms"]
    assert arms.state(LEFT_ARM, TORSO) == 1 and arms.state(RIGHT_ARM, TORSO) == 1
    assert arms.state(LEFT_ARM, RIGHT_ARM) != APART


@pytest.mark.parametrize("name", OCCLUDED)
def test_ground_truth_against_itself_is_one(body, truth, name: str) -> None:
    states = truth[name]
    assert (states.states != APART).sum() >= 1
    assert occlusion_state_accuracy(states, states) == 1.0
    again = occlusion_states_smpl(body, params(name))  # deterministic
    assert occlusion_state_accuracy(again, states) == 1.0


def test_mirror_smpl_is_the_flipped_image(body) -> None:
    """Mirrored parameters render as the ground truth flipped left-right, with the left and
    right parts swapped (the built-in template is left-right symmetric)."""
    gt = params("crossed_arms")
    mirrored = mirror_smpl(gt)
    assert mirrored.camera[1] == -gt.camera[1] and mirrored.camera[0] == gt.camera[0]
    back = mirror_smpl(mirrored)
    np.testing.assert_allclose(back.body_pose, gt.body_pose)
    np.testing.assert_allclose(back.global_orient, gt.global_orient)
    faces, labels = body.faces, body.part_labels
    layers = part_layers(pose_body(body, gt), faces, labels, gt.camera, 128)
    flipped = part_layers(pose_body(body, mirrored), faces, labels, mirrored.camera, 128)
    for part, twin in SWAP.items():
        a = layers.masks[part - 1]
        b = flipped.masks[twin - 1][:, ::-1]
        assert a.sum() > 50
        assert (a != b).sum() <= 0.01 * a.sum(), (part, (a != b).sum(), a.sum())


@pytest.mark.parametrize("name", OCCLUDED)
def test_mirrored_body_scores_lower(body, truth, name: str) -> None:
    mirrored = occlusion_states_smpl(body, mirror_smpl(params(name)))
    assert occlusion_state_accuracy(mirrored, truth[name]) < 1.0


def test_mirror_of_the_arm_across_the_belly_disagrees_on_both_arms(body, truth) -> None:
    """In the flipped image the arm across the belly is the left one: (torso, right arm)
    becomes apart and (torso, left arm) overlaps, so both pairs disagree."""
    mirrored = occlusion_states_smpl(body, mirror_smpl(params("right_arm_in_front")))
    assert mirrored.state(TORSO, RIGHT_ARM) == APART
    assert mirrored.state(LEFT_ARM, TORSO) == 1
    counted = (mirrored.states != APART) | (truth["right_arm_in_front"].states != APART)
    expected = 1 - 2 / counted.sum()  # two pairs wrong, every other counted pair agrees
    assert occlusion_state_accuracy(mirrored, truth["right_arm_in_front"]) == expected


def test_junction_overlap_does_not_count(body) -> None:
    """With the arms down, each arm's root hides some torso behind it at the shoulder; only
    the junction rule keeps that from reading as 'arm in front of torso'."""
    p = BodyParams(UPRIGHT_FACING_CAMERA.copy(), named_pose("arms_down"), CAMERA.copy())
    everything = occlusion_states_smpl(body, p, junction_radius=0.0)
    assert everything.state(LEFT_ARM, TORSO) == 1 and everything.state(RIGHT_ARM, TORSO) == 1
    default = occlusion_states_smpl(body, p)
    assert default.state(LEFT_ARM, TORSO) == APART and default.state(RIGHT_ARM, TORSO) == APART
    assert set(seam_vertices(body.faces, body.part_labels)) == {
        (HEAD, TORSO), (TORSO, LEFT_ARM), (TORSO, RIGHT_ARM), (TORSO, LEFT_LEG),
        (TORSO, RIGHT_LEG),
    }  # fmt: skip


def test_osa_over_a_set_averages_scored_images(body) -> None:
    """Three images: perfect, mirrored (below 1), and one with no overlap in either body
    (arms down against itself: NaN, left out of the mean and counted)."""
    gts = [params("crossed_legs"), params("crossed_legs"), params("arms_down")]
    preds = [gts[0], mirror_smpl(gts[1]), gts[2]]
    per_image, summary = osa_over_set(body, preds, gts, progress=False)
    assert per_image[0] == 1.0 and per_image[1] < 1.0 and math.isnan(per_image[2])
    assert summary.n_images == 3 and summary.n_without_overlap == 1
    assert summary.mean == pytest.approx((1.0 + per_image[1]) / 2)
    assert 0 < summary.pooled < 1
    assert math.isnan(summarize_osa([]).mean)


def test_bad_input_is_refused(body, truth) -> None:
    v, f, labels = two_boxes((0.0, 0.0, 0.2), (0.75, 0.75, 0.4))
    with pytest.raises(ValueError, match="camera"):
        occlusion_states(v, f, labels, np.array([0.0, 0, 0]))
    with pytest.raises(ValueError, match="part_labels"):
        occlusion_states(v, f, labels[:-1], np.array([1.0, 0, 0]))
    coarse = occlusion_states_smpl(body, params("crossed_legs"), size=64)
    with pytest.raises(ValueError, match="different settings"):
        occlusion_state_accuracy(coarse, truth["crossed_legs"])
    with pytest.raises(ValueError, match="predictions"):
        osa_over_set(body, [params("crossed_legs")], [], progress=False)
    with pytest.raises(ValueError, match="body_pose"):
        occlusion_states_smpl(body, BodyParams(np.zeros(3), np.zeros(23), CAMERA))


# ------------------------------------------------------------------ perspective about the pelvis


def test_bodies_are_drawn_with_their_camera_distance(body) -> None:
    """A body fitted with perspective is drawn as it was fitted: its part layers cover what
    render-maps draws with the same distance, and the right arm, reaching 13-21 cm in front
    of the pelvis, is drawn larger than under weak perspective, the torso hardly so."""
    from hpt_data.render.maps import render_maps
    from pipelines.occlusion.body import posed_body

    p = BodyParams(
        UPRIGHT_FACING_CAMERA.copy(), named_pose("right_arm_in_front"), CAMERA.copy(), None, 3.0
    )
    v, j = posed_body(body, p)
    layers = part_layers(v, body.faces, body.part_labels, CAMERA, 256, 3.0, j[0, 2])
    maps = render_maps(v, body.faces, body.part_labels, j, CAMERA, 256, False, 3.0)
    for k, part in enumerate(range(1, 7)):
        assert (layers.masks[k] >= (maps.parsing == part)).all(), part  # S hides, never adds
    np.testing.assert_array_equal(layers.masks.any(0), maps.parsing > 0)
    weak = part_layers(v, body.faces, body.part_labels, CAMERA, 256)
    grow = layers.masks.sum((1, 2)) / weak.masks.sum((1, 2))
    # measured: the right arm 1.056 times the weak area, the torso (at the pelvis) 1.001
    assert grow[RIGHT_ARM - 1] > grow[TORSO - 1] + 0.03, grow
    # the distance travels with the parameters: from a fit and into the mirror
    assert BodyParams.from_fit(p).camera_distance == 3.0
    assert mirror_smpl(p).camera_distance == 3.0
    persp = occlusion_states_smpl(body, p)
    assert occlusion_state_accuracy(persp, persp) == 1.0
    assert persp.state(RIGHT_ARM, TORSO) == 1  # the arm in front, as drawn without it
