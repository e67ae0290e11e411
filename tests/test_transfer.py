"""Pose transfer of one image: perception of a photo, target maps of the source's shape in
the target pose (§III-B), the model run end to end on CPU (tiny config, random weights),
the saved intermediates, Ours-V, the ``hpt transfer`` command and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from pipelines_for_tests import hand_made_source, synthetic_frame, tiny_generators
from typer.testing import CliRunner

from hpt_data.body.named_poses import named_pose
from hpt_data.render.maps import render_target_maps
from pipelines.cli import app
from pipelines.pairs import body_model, make_item, source_fields, target_fields
from pipelines.perceive import PerceptionError, perceive
from pipelines.targets import TargetError, load_video_poses, named_target, parse_frame_spec
from pipelines.transfer import save_transfer, transfer_poses

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py

runner = CliRunner()
ARM_LABELS = (3, 4)
LEG_LABELS = (5, 6)


@pytest.fixture(scope="module")
def source():
    return hand_made_source()


# --------------------------------------------------------------------------- target maps


def test_the_same_pose_renders_the_same_parsing(source) -> None:
    body = body_model("")
    src, src_maps = source_fields(source, body)
    tgt, _ = target_fields(source, body, source.body_pose, source.global_orient, "same pose")
    np.testing.assert_array_equal(tgt["parsing"], src_maps.fields["parsing"])
    np.testing.assert_array_equal(tgt["part_boxes"], src["part_boxes"])


def test_target_parsing_follows_the_target_pose_where_it_differs(source) -> None:
    body = body_model("")
    _, src_maps = source_fields(source, body)
    tgt, _ = target_fields(
        source, body, named_pose("crossed_arms"), source.global_orient, "crossed arms"
    )
    before, after = src_maps.fields["parsing"], tgt["parsing"]
    changed = before != after
    assert changed.mean() > 0.005  # the arms moved
    # what changed is arm (or what the arms uncovered / now cover): arm in one of the maps
    arm = np.isin(before, ARM_LABELS) | np.isin(after, ARM_LABELS)
    assert (changed & ~arm).sum() < 0.02 * changed.sum()
    # the legs, away from the arms, did not move
    legs = np.isin(before, LEG_LABELS) & ~arm
    assert (before[legs] == after[legs]).mean() > 0.99
    # the target's joints are the crossed-arms pose's: wrists near the body's midline
    j = tgt["joints2d"]
    centre = 0.5 * (j[1, 0] + j[2, 0])  # between the hips
    assert abs(j[20, 0] - centre) < abs(source.joints2d[20, 0] - centre) - 50


def test_target_maps_take_the_source_shape_not_the_target_s(source) -> None:
    body = body_model("")
    pose = named_pose("crossed_legs")
    tgt, _ = target_fields(source, body, pose, source.global_orient, "x")
    heavy = np.zeros(10, np.float32)
    heavy[0] = 3.0
    own = render_target_maps(body, source.betas, source.global_orient, pose, source.camera)
    other = render_target_maps(body, heavy, source.global_orient, pose, source.camera)
    np.testing.assert_array_equal(tgt["parsing"], own.parsing)
    assert (tgt["parsing"] != other.parsing).mean() > 0.005
    np.testing.assert_array_equal(tgt["betas"], source.betas)
    np.testing.assert_array_equal(tgt["camera"], source.camera)


def test_target_maps_take_the_source_s_camera_distance(source) -> None:
    """§III-B: the source's camera, the perspective of its fit included."""
    from dataclasses import replace

    body = body_model("")
    near = replace(source, camera_distance=3.0)
    pose = named_pose("crossed_arms")
    tgt, _ = target_fields(near, body, pose, near.global_orient, "x")
    own = render_target_maps(body, near.betas, near.global_orient, pose, near.camera, distance=3.0)
    weak = render_target_maps(body, near.betas, near.global_orient, pose, near.camera)
    np.testing.assert_array_equal(tgt["parsing"], own.parsing)
    np.testing.assert_array_equal(tgt["joints2d"], own.joints2d.astype(np.float32))
    assert np.abs(tgt["joints2d"] - weak.joints2d).max() > 1.0
    _, src_maps = source_fields(near, body)
    assert (src_maps.maps.parsing != source_fields(source, body)[1].maps.parsing).any()


def test_the_item_has_the_pair_dataset_format(source) -> None:
    from hpt_model.data.pairs import SOURCE_FIELDS, TARGET_FIELDS

    body = body_model("")
    src, _ = source_fields(source, body)
    tgt, _ = target_fields(source, body, source.body_pose, source.global_orient, "x")
    item = make_item(src, tgt)
    for name in SOURCE_FIELDS:
        assert f"source_{name}" in item, name
    for name in TARGET_FIELDS:
        assert f"target_{name}" in item, name
    assert (
        item["source_image"].shape == (3, 1024, 1024)
        and item["source_image"].dtype.is_signed is False
    )
    assert item["target_parsing_512"].shape == (512, 512)
    assert item["target_depth"].shape == (1, 1024, 1024)
    assert item["target_layer_mask_face"].shape == (1, 128, 128)


# --------------------------------------------------------------------------- targets


def test_video_targets_come_from_fit_smpl(tmp_path: Path) -> None:
    video = tmp_path / "work" / "ds" / "videos" / "v1"
    (video / "fit-smpl").mkdir(parents=True)
    poses = np.stack([named_pose("arms_down"), named_pose("crossed_arms")]).astype(np.float32)
    np.savez(
        video / "fit-smpl" / "fits.npz",
        frame_ids=np.array(["000000", "000003", "000006"]),
        ok=np.array([True, True, False]),
        flag=np.array(["", "", "mask IoU 0.40 < 0.6"]),
        betas=np.full(10, 2.0, np.float32),
        global_orient=np.tile([3.1, 0.0, 0.2], (3, 1)).astype(np.float32),
        body_pose=np.concatenate([poses, poses[:1]]),
        camera=np.tile([1.0, 0.0, 0.0], (3, 1)).astype(np.float32),
    )
    (video / "fit-smpl" / "_stage.json").write_text("{}")
    (video / "remove-bg").mkdir()
    index = {"frames": [{"index": i, "time_ms": 100.0 * i} for i in (0, 3, 6)]}
    (video / "remove-bg" / "frames.json").write_text(json.dumps(index))
    folder, frame = parse_frame_spec(f"{video}:3")
    one = load_video_poses(folder, frame)
    np.testing.assert_allclose(one.body_pose[0], poses[1])
    assert one.orient == "absolute" and one.labels == ["v1:000003"]
    every = load_video_poses(video)
    assert len(every) == 2  # the frame whose fit failed is left out
    np.testing.assert_allclose(every.times_s, [0.0, 0.3])
    with pytest.raises(TargetError, match="000006 has no usable fit"):
        load_video_poses(video, "000006")
    with pytest.raises(TargetError, match="no frame '9'"):
        load_video_poses(video, "9")
    with pytest.raises(TargetError, match="no complete fit-smpl output"):
        load_video_poses(tmp_path)
    with pytest.raises(TargetError, match="VIDEO_WORKDIR:FRAME"):
        parse_frame_spec("no-colon")


def test_named_targets() -> None:
    pose = named_target("crossed_arms")
    assert len(pose) == 1 and pose.orient == "source"
    np.testing.assert_allclose(pose.body_pose[0], named_pose("crossed_arms"))
    turned = named_target("turn")  # a motion's last pose, turned relative to its start
    assert turned.orient == "relative"
    assert np.linalg.norm(turned.global_orient[0]) > 1.0
    with pytest.raises(TargetError, match="unknown named pose 'moonwalk'"):
        named_target("moonwalk")


# --------------------------------------------------------------------------- the model


def test_transfer_end_to_end_with_every_intermediate(source, tmp_path: Path) -> None:
    gens = tiny_generators(volume=True)
    fine = gens.config.inputs.fine_size
    result = next(transfer_poses(source, named_target("crossed_arms"), gens, progress=False))
    assert result.image.shape == (fine, fine, 3) and result.image.dtype == np.uint8
    written = {p.name for p in save_transfer(result, source, tmp_path, intermediates=True)}
    want = {"result.png", "source.png", "source_parsing.png", "target_parsing.png"}
    want |= {"target_depth.png", "target_heatmaps.png", "coarse.png", "fused.png"}
    want |= {"refinement.png", "maps.npz", "sheet.png"}
    want |= {f"{kind}_{p}.png" for kind in ("layer", "offset") for p in result.output.layers}
    assert want <= written, want - written
    assert cv2.imread(str(tmp_path / "result.png")).shape == (fine, fine, 3)
    coarse = gens.config.inputs.coarse_size
    assert cv2.imread(str(tmp_path / "coarse.png")).shape == (coarse, coarse, 3)
    with np.load(tmp_path / "maps.npz") as maps:
        np.testing.assert_array_equal(maps["parsing"], result.target_maps.fields["parsing"])
    # the saved target parsing is the model's input: it shows the crossed arms, not the source
    assert not np.array_equal(
        cv2.imread(str(tmp_path / "target_parsing.png")),
        cv2.resize(
            cv2.imread(str(tmp_path / "source_parsing.png")), (fine, fine), cv2.INTER_NEAREST
        ),
    )

    # Ours-V: the volume's S and D are saved and were fed to the model instead of SMPL's
    target = named_target("crossed_arms")
    vol = next(transfer_poses(source, target, gens, volume=True, progress=False))
    names = {p.name for p in save_transfer(vol, source, tmp_path / "v", intermediates=True)}
    assert {"volume_parsing.png", "volume_depth.png"} <= names
    assert vol.output.volume is not None
    assert not np.array_equal(
        vol.output.fine_maps.parsing.numpy(), result.output.fine_maps.parsing.numpy()
    )


# --------------------------------------------------------------------------- a real photo


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory):
    return synthetic_frame(tmp_path_factory.mktemp("photo"))


@pytest.mark.slow
def test_perceive_finds_crops_and_fits_the_person(photo) -> None:
    path, truth = photo
    person = perceive(path)
    assert person.image.shape == (1024, 1024, 3) and person.source_size == (480, 640)
    # the mask agrees with the renderer's ground truth, cropped the same way
    truth_mask = person.window.cut(truth["mask"][0].astype(np.uint8), 0, cv2.INTER_NEAREST)
    inter = np.logical_and(truth_mask > 0, person.mask > 0).sum()
    union = np.logical_or(truth_mask > 0, person.mask > 0).sum()
    assert inter / union > 0.85
    assert person.reproj_px < 15 and person.mask_iou > 0.6
    assert person.betas.shape == (10,) and person.body_pose.shape == (69,)


@pytest.mark.slow
def test_perceive_picks_one_of_two_people(photo) -> None:
    """A photo of two people side by side: the main one with a note naming --person, or
    the one asked for (counted from the left); a number beyond them is one line."""
    path, _ = photo
    one = cv2.imread(str(path))
    canvas = np.concatenate([one, one], axis=1)  # the same person twice, 480 px apart
    main = perceive(canvas)
    assert any("2 people found" in f and "--person N" in f for f in main.flags), main.flags
    right = perceive(canvas, person=2)
    assert right.window.x0 + right.window.side / 2 > 480
    assert not any("people found" in f for f in right.flags)
    left = perceive(canvas, person=1)
    assert left.window.x0 + left.window.side / 2 < 480
    with pytest.raises(PerceptionError, match=r"<array>: person 3 asked for, 2 found"):
        perceive(canvas, person=3)


@pytest.mark.slow
def test_hpt_transfer_command_end_to_end(photo, tmp_path: Path) -> None:
    path, _ = photo
    pose_file = tmp_path / "pose.npz"
    np.savez(pose_file, body_pose=named_pose("crossed_arms").reshape(23, 3))
    out = tmp_path / "out"
    args = ["transfer", "--source", str(path), "--target-pose", str(pose_file), "-m", "tiny"]
    args += ["--allow-random-model", "--intermediates", "--out", str(out), "-q"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert cv2.imread(str(out / "result.png")).shape == (128, 128, 3)
    assert (out / "sheet.png").is_file() and (out / "layer_face.png").is_file()


def test_hpt_transfer_errors_are_one_line(tmp_path: Path) -> None:
    text = tmp_path / "photo.png"
    text.write_text("not an image")
    pose_file = tmp_path / "pose.npz"
    np.savez(pose_file, body_pose=np.zeros(5))
    base = ["-m", "tiny", "--allow-random-model", "--out", str(tmp_path / "o"), "-q"]
    cases = [
        (["--source", str(text), "--target-named", "crossed_arms"], "photo.png: cannot read"),
        (["--source", str(tmp_path / "none.png"), "--target-named", "x"], "unknown named pose"),
        (["--source", str(text), "--target-pose", str(pose_file)], "pose.npz: body_pose has"),
        (["--source", str(text)], "give exactly one target"),
    ]
    for extra, message in cases:
        result = runner.invoke(app, ["transfer", *extra, *base])
        assert result.exit_code == 2, (extra, result.output)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert message in lines[0], lines[0]
    no_weights = ["transfer", "--source", str(text), "--target-named", "crossed_arms"]
    result = runner.invoke(app, no_weights)
    assert result.exit_code == 2 and "--allow-random-model" in result.stderr


@pytest.mark.slow
def test_no_person_is_a_clear_error(tmp_path: Path) -> None:
    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((480, 360, 3), 180, np.uint8))
    with pytest.raises(PerceptionError, match=r"wall.png: no person found"):
        perceive(blank)
