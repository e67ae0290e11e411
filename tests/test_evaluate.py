"""``hpt eval`` and pipelines/evaluate.py: the image-level OSA (1.0 on a rendered ground-truth
frame, lower on its mirror image, 0 without a person), the summary by hand, Table IV rows
read from their run folders, and the command end to end on a tiny shard set (the oracle
scores SSIM 1 and LPIPS 0, one row per checkpoint, the refusals)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from train_records import write_train_shards
from typer.testing import CliRunner

from hpt_data.body.named_poses import named_pose
from hpt_data.body.weak_perspective import UPRIGHT_FACING_CAMERA
from hpt_model.checkpoints import (
    CHECKPOINT_VERSION,
    generator_names,
    load_generators,
    save_checkpoint,
)
from hpt_model.config import HPTConfig
from hpt_model.data import PairDataset
from hpt_model.errors import CheckpointError
from hpt_model.networks import define_network
from pipelines.cli import app
from pipelines.evaluate import GRID_HEADER, ORACLE, image_osa, summarize
from pipelines.occlusion.body import BodyParams, pose_body

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py

runner = CliRunner()
CAMERA = np.array([2 / 2.3, 0.0, -0.05])  # the whole body inside the crop
TILE = 192  # EvalSettings' default grid tile


@pytest.fixture(scope="module")
def body():
    from hpt_data.body import load_body_model

    return load_body_model()


# --------------------------------------------------------------------------- a rendered frame


def render_frame(body, params: BodyParams, size: int = 1024) -> np.ndarray:
    """The body posed by ``params``, dressed as the synthetic source dresses people, lit and
    rendered by pyrender over white in the crop frame of ``params.camera``: (size, size, 3)
    uint8 BGR. The weak-perspective camera is made a pinhole 40 m away whose focal length
    gives the same scale (the body's ±0.3 m of depth change its scale by under 1 %)."""
    from hpt_data.render.scene import (
        DirectionalLight,
        build_scene,
        colored_mesh,
        render_rgbd,
        vertex_normals,
    )
    from hpt_data.sources.synthetic.appearance import sample_outfit, stand_off, vertex_colors

    rng = np.random.default_rng(3)
    outfit = sample_outfit(rng, 30.0, 1.0)
    with torch.no_grad():
        rest = body(betas=torch.as_tensor(np.asarray(params.betas, np.float32))[None])
    ids = getattr(body, "landmark_vertex_ids", {})
    colors, region = vertex_colors(
        outfit,
        rest.vertices[0].double().numpy(),
        rest.joints[0, :24].double().numpy(),
        np.asarray(body.skinning_weights),
        {k: int(v) for k, v in ids.items()} if isinstance(ids, dict) else {},
        rng,
    )
    faces = np.asarray(body.faces)
    v = pose_body(body, params)
    v = v + vertex_normals(v, faces) * stand_off(outfit, region)[:, None]
    distance = 40.0
    v[:, 2] += distance
    s, tx, ty = params.camera
    f = s * size / 2 * distance
    K = np.array([[f, 0, (tx + 1) / 2 * size - 0.5], [0, f, (ty + 1) / 2 * size - 0.5], [0, 0, 1]])
    scene = build_scene(
        [colored_mesh(v, faces, colors, roughness=0.8)],
        K,
        np.eye(4),
        [DirectionalLight((0.3, 0.6, 1.0))],
        0.4,
        (1.0, 1.0, 1.0),
    )
    rgb, _ = render_rgbd(scene, size, size)
    return np.ascontiguousarray(rgb[:, :, ::-1])


@pytest.mark.slow
def test_image_osa_of_a_ground_truth_frame_is_one_and_its_mirror_is_lower(body) -> None:
    """``right_arm_in_front``: the right forearm across the belly. Its fit puts the forearm in
    front of the torso, as the truth does (OSA 1); the flipped image shows the *left*
    forearm there, which disagrees on both torso-arm pairs (OSA 0), though it is found and
    fitted just as well. (Crossed arms or legs are not used: which of two crossing limbs is
    on top is not in the landmarks, and the fitter gets it wrong about half the time.)"""
    truth = BodyParams(
        UPRIGHT_FACING_CAMERA.copy(), named_pose("right_arm_in_front"), CAMERA, np.zeros(10)
    )
    frame = render_frame(body, truth)
    same = image_osa(frame, truth, body)
    assert same.detected and same.counted >= 1
    assert same.osa == 1.0
    mirrored = image_osa(np.ascontiguousarray(np.fliplr(frame)), truth, body)
    assert mirrored.detected  # lower because of the occlusion, not a failed detection
    assert mirrored.osa < 1.0
    assert mirrored.counted == 2 and mirrored.agree == 0  # torso-right arm, torso-left arm


def test_image_osa_scores_zero_when_no_person_is_found(body) -> None:
    truth = BodyParams(
        UPRIGHT_FACING_CAMERA.copy(), named_pose("right_arm_in_front"), CAMERA, np.zeros(10)
    )
    wall = np.full((256, 256, 3), 180, np.uint8)
    scored = image_osa(wall, truth, body)
    assert not scored.detected and scored.osa == 0.0
    assert scored.counted == 1 and scored.agree == 0  # the truth's one overlapping pair
    assert "no person found" in scored.note


def test_summary_by_hand() -> None:
    """Image 1 agrees on 2 of 2 pairs, image 2 on 1 of 4, image 3 is undetected (0, with the
    truth's 3 pairs counted), image 4 is detected with nothing to judge (None)."""
    keys = ("ssim", "lpips", "osa", "detected", "osa_agree", "osa_counted")
    images = [
        dict(zip(keys, row, strict=True))
        for row in [
            (0.5, 0.1, 1.0, True, 2, 2),
            (0.7, 0.3, 0.25, True, 1, 4),
            (0.2, 0.5, 0.0, False, 0, 3),
            (0.6, 0.3, None, True, 0, 0),
        ]
    ]
    s = summarize(images, with_osa=True)
    assert s["n_images"] == 4
    assert s["ssim"] == pytest.approx(0.5) and s["lpips"] == pytest.approx(0.3)
    assert s["osa"] == pytest.approx((1.0 + 0.25 + 0.0) / 3)
    assert s["osa_detected"] == pytest.approx((1.0 + 0.25) / 2)
    assert s["osa_pooled"] == pytest.approx(3 / 9)
    assert s["detection_rate"] == pytest.approx(0.75) and s["n_detected"] == 3
    assert s["n_without_overlap"] == 1
    assert "osa" not in summarize(images, with_osa=False)


# --------------------------------------------------------------------------- Table IV rows


def save_stage(folder: Path, variant: str, stage: str, seed: int) -> dict:
    """A ``stage`` checkpoint of the tiny ``variant`` with seeded random weights, at
    ``folder/stage/final.pt`` (docs/training.md's layout); returns its models."""
    config = HPTConfig.tiny(variant)
    torch.manual_seed(seed)
    models = {n: define_network(n, config).state_dict() for n in generator_names(config)}
    state = {
        "version": CHECKPOINT_VERSION,
        "stage": stage,
        "models": models,
        "config": config.to_dict(),
        "settings": {"heatmap_sigma": 16.0},
    }
    save_checkpoint(folder / stage / "final.pt", state)
    return models


def test_a_part_layer_row_is_put_together_from_its_stage_folders(tmp_path: Path) -> None:
    row = tmp_path / "H+S+D+PL"
    stages = ("face", "arm", "leg")
    saved = {stage: save_stage(row, "H+S+D+PL", stage, seed) for seed, stage in enumerate(stages)}
    gens = load_generators(row)
    assert gens.config.variant.name == "H+S+D+PL" and set(gens.nets) == {"coarse", "layers"}
    for stage in ("face", "arm", "leg"):  # each part generator from its own stage's file
        mine = gens.layer(stage).state_dict()
        prefix = f"generators.{stage}."
        for key, value in saved[stage]["layers"].items():
            if key.startswith(prefix):
                torch.testing.assert_close(mine[key[len(prefix) :]], value)
    for key, value in saved["face"]["coarse"].items():
        torch.testing.assert_close(gens.nets["coarse"].state_dict()[key], value)
    arm_key = next(k for k in saved["arm"]["layers"] if k.startswith("generators.arm."))
    # the stages' weights differ, so the checks above can fail
    assert not torch.equal(saved["face"]["layers"][arm_key], saved["arm"]["layers"][arm_key])
    # a coarse-only row from its coarse/ folder; a stage of another variant is refused
    save_stage(tmp_path / "H+S", "H+S", "coarse", 5)
    assert load_generators(tmp_path / "H+S").config.variant.name == "H+S"
    save_stage(row, "H+S+D+PL-", "arm", 6)
    with pytest.raises(CheckpointError, match=r"arm/final.pt: trained as variant H\+S\+D\+PL-"):
        load_generators(row)


# --------------------------------------------------------------------------- the command


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny shard set (2 people × 2 test frames) and two Table IV rows' run folders."""
    root = tmp_path_factory.mktemp("eval")
    write_train_shards(root / "shards", persons=2, frames=0, test_frames=2)
    save_stage(root / "runs" / "H+S", "H+S", "coarse", 1)
    save_stage(root / "runs" / "full", "full", "e2e", 2)
    return root


def table_rows(path: Path) -> list[list[str]]:
    """The body rows of table.md's table, split into cells."""
    lines = [ln for ln in path.read_text().splitlines() if ln.startswith("| ")]
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in lines[2:]]


def test_eval_end_to_end_two_rows_and_the_oracle(runs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["eval", "--data", str(runs / "shards"), "--out", str(out), "--limit", "3"]
    args += ["--checkpoint", str(runs / "runs" / "H+S"), "--checkpoint", str(runs / "runs/full")]
    args += ["--oracle", "--allow-random-lpips", "--no-osa", "-q"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "untrustworthy" in result.stderr

    metrics = json.loads((out / "metrics.json").read_text())
    names = [m["name"] for m in metrics["models"]]
    assert names == ["H+S", "H+S+D+PL+F", ORACLE]
    keys = PairDataset(runs / "shards", "test").frames.frame_keys
    for model in metrics["models"]:
        assert [im["target"] for im in model["images"]] == keys[:3]
        assert model["summary"]["n_images"] == 3 and model["resolution"] == 128
    oracle = metrics["models"][2]
    for im in oracle["images"]:  # the ground truth against itself
        assert im["ssim"] == pytest.approx(1.0, abs=1e-5) and im["lpips"] == pytest.approx(0.0)
    for model in metrics["models"][:2]:  # random generators are far from it
        assert all(im["ssim"] < 0.9 and im["lpips"] > 0.01 for im in model["images"])
    assert metrics["settings"]["lpips_backbone"] == "random"

    rows = table_rows(out / "table.md")
    assert [r[0] for r in rows] == names
    assert rows[2][2] == "1.0000" and rows[2][3] == "0.0000*"  # LPIPS marked untrustworthy
    assert "UNTRUSTWORTHY" in (out / "table.md").read_text()

    grid = cv2.imread(str(out / "grid.png"))[..., ::-1]
    # source, target pose, H+S, full, ground truth (the oracle's column would repeat it)
    assert grid.shape == (GRID_HEADER + 3 * TILE, 5 * TILE, 3)
    item = PairDataset(runs / "shards", "test")[0]
    truth = cv2.resize(item["target_image"].permute(1, 2, 0).numpy(), (TILE, TILE),
                       interpolation=cv2.INTER_AREA)  # fmt: skip
    shown = grid[GRID_HEADER : GRID_HEADER + TILE, 4 * TILE :].astype(int)
    assert np.abs(shown - truth).mean() < 1.0  # the last column is the target frame
    source = grid[GRID_HEADER : GRID_HEADER + TILE, :TILE].astype(int)
    assert np.abs(source - truth).mean() > 5.0  # and the first is not


@pytest.mark.slow
def test_eval_with_osa_counts_undetected_results_as_zero(runs: Path, tmp_path: Path) -> None:
    """Random weights make noise: no person is found in it, so OSA 0 and detection 0 %."""
    out = tmp_path / "out"
    args = ["eval", "--data", str(runs / "shards"), "--out", str(out), "--limit", "2"]
    args += ["--allow-random-model", "--model-config", "tiny:H+S+D", "--oracle"]
    args += ["--allow-random-lpips", "--grid-rows", "1", "-q"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    noise, oracle = metrics["models"]
    assert noise["name"] == "H+S+D (random)" and noise["random_weights"]
    for im in noise["images"]:
        assert im["detected"] is False and im["osa"] == 0.0 and "no person" in im["osa_note"]
    assert noise["summary"]["osa"] == 0.0 and noise["summary"]["detection_rate"] == 0.0
    detected = [im["detected"] for im in oracle["images"]]
    assert oracle["summary"]["detection_rate"] == pytest.approx(np.mean(detected))
    rows = table_rows(out / "table.md")
    assert rows[0][4] == "0.000" and rows[0][5] == "0.0 %"
    grid = cv2.imread(str(out / "grid.png"))
    assert grid.shape == (GRID_HEADER + TILE, 4 * TILE, 3)


def _one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_eval_refusals_are_one_line(runs: Path, tmp_path: Path, monkeypatch) -> None:
    """No LPIPS backbone weights (an empty torch hub and home): refused, naming the files
    looked at; the other refusals name the option to add."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    base = ["eval", "--data", str(runs / "shards"), "--out", str(tmp_path / "o"), "-q"]
    line = _one_error_line(runner.invoke(app, [*base, "--oracle"]))
    assert "LPIPS alex backbone weights not found" in line
    assert str(tmp_path / "torch" / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth") in line
    line = _one_error_line(runner.invoke(app, [*base, "--oracle", "--lpips-net", "vgg"]))
    assert "vgg16-397923af.pth" in line
    missing = tmp_path / "none.pth"
    line = _one_error_line(
        runner.invoke(
            app, [*base, "--oracle", "--lpips-weights", str(missing), "--allow-random-lpips"]
        )
    )
    assert f"{missing}: LPIPS alex backbone file not found" in line
    assert "nothing to evaluate" in _one_error_line(runner.invoke(app, base))
    line = _one_error_line(runner.invoke(app, [*base, "--model-config", "tiny"]))
    assert "--allow-random-model" in line
    line = _one_error_line(
        runner.invoke(
            app, [*base, "--checkpoint", str(tmp_path / "nowhere"), "--allow-random-lpips"]
        )
    )
    assert "nowhere: no such checkpoint" in line
    assert not (tmp_path / "o").exists()
