"""The method as the paper has it (issue 22, item 0): the volume network reads the target 3D
pose, the part layers' D^n_t is the part's own depth, H holds face keypoints, the perceptual
loss sums VGG layers plainly, and an old checkpoint is refused in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import default_collate
from train_records import PART_LABELS, TinyFeatures, make_train_record, small_config

from hpt_data.shards.schema import CROP, FACE_KEYPOINTS, NUM_JOINTS, NUM_KEYPOINTS
from hpt_model.checkpoints import CheckpointError, check_pose_inputs
from hpt_model.config import PIX2PIXHD_VGG_WEIGHTS, HPTConfig
from hpt_model.data import field_to_tensor
from hpt_model.losses import VGGPerceptualLoss
from hpt_model.method.inputs import MissingKeypointsError, build_stage_inputs
from hpt_model.networks import define_network
from hpt_model.networks.layers import heatmap_flip_permutation


def _item(record: dict, source: dict | None = None) -> dict:
    source = source or record
    item = {f"target_{k}": field_to_tensor(k, v) for k, v in record.items() if k != "voxels"}
    item["target_voxels"] = torch.from_numpy(record["voxels"])
    item.update({f"source_{k}": field_to_tensor(k, source[k]) for k in ("image", "part_boxes")})
    return item


# --------------------------------------------------------------------------- 3D pose


def test_the_volume_network_sees_the_depth_order_the_2d_heatmaps_cannot() -> None:
    """Two poses with the same 2D projection whose wrists swap depth (the left in front of
    the torso, then behind it) give the volume network different inputs, and the network
    different outputs; their 2D heatmaps are identical."""
    config = small_config()
    front = make_train_record(0, 1)
    behind = {**front, "keypoints": front["keypoints"].copy()}
    for j in (20, 21):  # the wrists: in front of the pelvis, then behind it
        behind["keypoints"][j, 2] = 2 * front["keypoints"][0, 2] - front["keypoints"][j, 2]
    assert front["keypoints"][20, 2] != behind["keypoints"][20, 2]
    a = build_stage_inputs(default_collate([_item(front)]), config, "volume").volume_pose
    b = build_stage_inputs(default_collate([_item(behind)]), config, "volume").volume_pose
    j = config.inputs.num_heatmaps
    assert a is not None and b is not None and a.shape[1] == 2 * j
    assert torch.equal(a[:, :j], b[:, :j])  # the 2D heatmaps cannot tell them apart
    assert (a[:, j + 20] - b[:, j + 20]).abs().max() > 0.05  # the depth channels can
    net = define_network("volume", config).eval()
    image = torch.zeros(1, 3, config.volume.xy_size, config.volume.xy_size)
    with torch.no_grad():
        assert not torch.allclose(net(image, a), net(image, b))


def test_shards_without_keypoints_serve_only_a_24_joint_config() -> None:
    """Shards from before schema 4 read keypoints as NaN: the 24-joint heatmaps of earlier
    checkpoints still come from joints2d; the face keypoints or the 3D pose are refused."""
    record = make_train_record(0, 0)
    record["keypoints"] = np.full_like(record["keypoints"], np.nan)
    batch = default_collate([_item(record)])
    with pytest.raises(MissingKeypointsError, match="schema 4"):
        build_stage_inputs(batch, small_config(), "coarse")
    data = small_config().to_dict()
    data["inputs"].update(
        num_heatmaps=24, heatmap_flip_pairs=data["inputs"]["heatmap_flip_pairs"][:9]
    )
    old = HPTConfig.from_dict(data)
    maps = build_stage_inputs(batch, old, "coarse").coarse
    assert maps is not None and maps.heatmaps.shape[1] == 24
    with pytest.raises(MissingKeypointsError, match="pose_depth"):
        build_stage_inputs(batch, old, "volume")


# --------------------------------------------------------------------------- D^n_t


def test_layer_depth_is_the_parts_own_depth_where_it_is_occluded() -> None:
    """An arm passing behind the torso: where the torso hides it, the arm generator's D^n_t
    is the arm's depth (the shard's layer_depth, "regardless of the occlusion"), not the
    torso's in front of it; PL⁻ keeps the visible depth."""

    def hidden_pixels(record: dict) -> int:  # of the left arm, behind the torso
        depth = record["layer_depth_left_arm"].astype(np.float32)
        return int((np.isfinite(depth) & (depth > 3.1)).sum()) - int((record["parsing"] == 3).sum())

    record = max((make_train_record(0, f) for f in range(12)), key=hidden_pixels)
    batch = default_collate([_item(record)])
    config = HPTConfig.tiny()  # the arm crop at 32 px
    arm = build_stage_inputs(batch, config, "arm").parts["left_arm"]
    hidden = (arm.complete > 0.99) & (arm.visible < 0.01)
    assert hidden.sum() > 20  # the record does hide part of the arm
    depth = torch.from_numpy(record["depth"].astype(np.float32))
    mean = depth[torch.isfinite(depth)].mean()
    own = 3.15 - float(mean)  # train_records: an arm behind the torso is at 3.15 m
    torso = 3.0 - float(mean)
    assert abs(own - torso) > 0.1
    assert torch.allclose(arm.depth[hidden], torch.tensor(own), atol=0.01)
    data = config.to_dict()
    data["variant"]["layers"] = "incomplete"
    data["variant"]["fusion"] = False
    visible = build_stage_inputs(batch, HPTConfig.from_dict(data), "arm").parts["left_arm"]
    assert torch.allclose(visible.depth[hidden], torch.tensor(torso), atol=0.01)
    assert PART_LABELS["left_arm"] == 3


# --------------------------------------------------------------------------- face keypoints


def test_face_keypoints_come_from_the_models_head_vertices_and_flip() -> None:
    from hpt_data.body.smpl_layer import _landmarks_for
    from hpt_data.render.maps import face_points

    class Stub:
        landmark_vertex_ids = _landmarks_for({}, "SMPL_NEUTRAL.pkl")  # a user's SMPL file

    vertices = np.arange(6890 * 3, dtype=np.float64).reshape(6890, 3)
    points = face_points(Stub(), vertices)
    # smplx's SMPL-H vertex ids for nose, left eye, right eye, left ear, right ear
    assert points[:, 0].tolist() == [3 * v for v in (332, 2800, 6260, 583, 4071)]
    Stub.landmark_vertex_ids = {"nose": 0}
    with pytest.raises(ValueError, match="left_eye"):
        face_points(Stub(), vertices)
    config = HPTConfig.paper()
    assert config.inputs.num_heatmaps == NUM_KEYPOINTS == NUM_JOINTS + len(FACE_KEYPOINTS)
    perm = heatmap_flip_permutation(config.inputs.num_heatmaps, config.inputs.heatmap_flip_pairs)
    assert perm[24] == 24 and (perm[25], perm[26], perm[27], perm[28]) == (26, 25, 28, 27)


def test_the_builtin_body_renders_its_face_keypoints_in_front_of_the_head() -> None:
    from hpt_data.body import load_body_model
    from hpt_data.body.weak_perspective import UPRIGHT_FACING_CAMERA
    from hpt_data.render.maps import render_target_maps

    body = load_body_model()
    maps = render_target_maps(
        body, None, UPRIGHT_FACING_CAMERA, np.zeros(69), np.array([0.9, 0.0, 0.1]), CROP, False
    )
    kp = maps.keypoints
    assert kp.shape == (NUM_KEYPOINTS, 3) and np.isfinite(kp).all()
    assert np.allclose(kp[:NUM_JOINTS, :2], maps.joints2d)
    nose, l_eye, r_eye, l_ear, r_ear = kp[NUM_JOINTS:]
    head = kp[15]
    assert nose[2] < min(l_ear[2], r_ear[2]) - 0.03  # facing the camera: the nose is nearer
    assert l_eye[0] > nose[0] > r_eye[0] and l_ear[0] > r_ear[0]  # the person's left on the right
    assert abs(nose[1] - head[1]) < 0.1 * CROP


# --------------------------------------------------------------------------- losses, checkpoints


def test_paper_loss_weights_are_the_plain_sum_and_pix2pixhd_is_an_option() -> None:
    assert HPTConfig.paper().loss.vgg_layer_weights == (1.0,) * 5
    data = HPTConfig.paper().to_dict()
    data["loss"]["vgg_layer_weights"] = "pix2pixhd"
    assert HPTConfig.from_dict(data).loss.vgg_layer_weights == PIX2PIXHD_VGG_WEIGHTS
    data["loss"]["vgg_layer_weights"] = "lpips"
    with pytest.raises(ValueError, match="unknown weighting 'lpips'"):
        HPTConfig.from_dict(data)
    features = TinyFeatures()
    gen = torch.Generator().manual_seed(0)
    a, b = torch.rand(2, 1, 3, 32, 32, generator=gen) * 2 - 1
    by_hand = sum((fa - fb).abs().mean() for fa, fb in zip(features(a), features(b), strict=True))
    assert torch.allclose(VGGPerceptualLoss(features)(a, b), by_hand)


def test_a_checkpoint_of_the_24_joint_release_is_refused_in_one_line(tmp_path: Path) -> None:
    old = HPTConfig.paper().to_dict()
    old["inputs"]["num_heatmaps"] = 24
    old["inputs"]["heatmap_flip_pairs"] = old["inputs"]["heatmap_flip_pairs"][:9]
    del old["volume"]["pose_depth"]  # saved before the 3D pose
    state = {"config": old, "models": {"volume": {}}}
    assert HPTConfig.from_dict(old).volume.pose_depth is False  # it loads as it was trained
    with pytest.raises(CheckpointError) as err:
        check_pose_inputs(state, HPTConfig.paper(), "old/final.pt")
    message = str(err.value)
    assert "\n" not in message and "old/final.pt: trained with 24 pose heatmaps" in message
    old["inputs"] = HPTConfig.paper().to_dict()["inputs"]
    with pytest.raises(CheckpointError, match="without joint depths"):
        check_pose_inputs(state, HPTConfig.paper(), "old/final.pt")


# --------------------------------------------------------------------------- e2e


def test_e2e_trains_every_subnetwork_with_its_own_losses(tmp_path: Path) -> None:
    """One e2e step: losses of the final image (Eq. 7), the coarse result (Eq. 3) and each
    layer kind (Eqs. 1, 2); a layer's perceptual loss is the very one of its own stage (Eq. 2
    on the visible part), not a plain one on the crop."""
    from hpt_model.training import StageTrainer, TrainSettings

    def trainer(stage: str) -> StageTrainer:
        settings = TrainSettings(stage=stage, out=tmp_path, tensorboard=False, progress=False)
        made = StageTrainer(settings, small_config(), features=TinyFeatures())
        made.total_steps = 1
        return made

    batch = default_collate([_item(make_train_record(0, 1), make_train_record(0, 0))])
    torch.manual_seed(0)
    e2e, arm = trainer("e2e"), trainer("arm")
    for name in ("coarse", "layers"):
        arm.nets[name].load_state_dict(e2e.nets[name].state_dict())
    losses = e2e.train_step(e2e.inputs(batch))
    for prefix in ("", "coarse_"):
        assert {f"{prefix}{k}" for k in ("g_adv", "g_fm", "g_per", "d_total")} <= set(losses)
    for kind in ("face", "arm", "leg"):
        assert {f"{kind}_{k}" for k in ("g_adv", "g_per", "d_total", "bank_size")} <= set(losses)
    alone = arm.train_step(arm.inputs(batch))
    assert float(losses["arm_g_per"]) == pytest.approx(float(alone["g_per"]), rel=1e-5)


def test_the_small_preset_is_the_paper_at_a_quarter_of_its_sizes() -> None:
    from hpt_model.config import load_config

    small, paper = load_config("small:H+S"), HPTConfig.paper()
    assert small.variant.name == "H+S"
    for name in ("coarse_size", "fine_size", "face_size", "arm_size", "leg_size"):
        assert getattr(small.inputs, name) * 4 == getattr(paper.inputs, name), name
    assert small.inputs.num_heatmaps == paper.inputs.num_heatmaps and small.volume.pose_depth
