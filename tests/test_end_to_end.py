"""The whole data chain on a tiny synthetic dataset: build, verify, stats, read back.

One build of the tiny dataset (``conftest.tiny_dataset``: a few frames of two people) serves
every test here; the checks compare what the shards hold with what the stages wrote.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from hpt_data.cli import app
from hpt_data.shards.reading import load_manifest
from hpt_data.stages.outputs import Crops, FrameMaps, FrameVolume
from hpt_model.data import PairDataset, ShardFrames

pytestmark = pytest.mark.slow
runner = CliRunner()


@pytest.fixture(scope="module")
def built(tiny_dataset: Path) -> Path:
    return tiny_dataset


def _work(config: Path) -> Path:
    return config.parent / "work" / "tiny"


def test_verify_accepts_the_build(built: Path) -> None:
    result = runner.invoke(app, ["verify", "-c", str(built), "-d", "tiny"])
    assert result.exit_code == 0, result.output
    assert "is a whole shard set" in result.stdout


def test_shards_hold_what_the_stages_wrote(built: Path) -> None:
    shards = _work(built) / "shards"
    manifest = load_manifest(shards)
    assert sum(manifest["frames"].values()) >= 4
    videos = _work(built) / "videos"
    worst_psnr = np.inf
    for split in manifest["frames"]:
        frames = ShardFrames(shards, split)
        for i in range(len(frames)):
            got = frames.read(i)
            vdir = videos / got["video_id"]
            fid = got["frame_id"]
            # read back through the stage's reader: the files hold the body's window
            maps = FrameMaps.read(vdir / "render-maps" / "maps" / f"{fid}.npz")
            np.testing.assert_array_equal(got["parsing"], maps.parsing[1024])
            np.testing.assert_array_equal(got["parsing_512"], maps.parsing[512])
            np.testing.assert_array_equal(got["joints2d"], maps.joints2d[1024])
            np.testing.assert_array_equal(got["part_boxes"], maps.boxes)
            depth = maps.depth[1024]
            fg = np.isfinite(depth)
            assert fg.any()
            np.testing.assert_array_equal(got["depth"][fg], depth[fg].astype(np.float16))
            assert np.all(np.isposinf(got["depth"][~fg]))
            vox = FrameVolume.read(vdir / "voxelize" / "voxels" / f"{fid}.npz")
            assert vox.labels.shape == (64, 256, 256) and vox.labels.any()
            np.testing.assert_array_equal(got["voxels"], vox.labels)
            with np.load(vdir / "fit-smpl" / "fits.npz") as fits:
                row = list(fits["frame_ids"]).index(fid)
                np.testing.assert_array_equal(got["camera"], fits["camera"][row])
                assert got["camera_distance"] == fits["camera_distance"][row] > 0
            with np.load(vdir / "pose2d" / "pose2d.npz") as pose:
                index = json.loads((vdir / "pose2d" / "frames.json").read_text())["frames"]
                row = next(e["row"] for e in index if f"{e['index']:06d}" == fid)
                want = pose["landmarks_crop"][row][:, [0, 1, 3]] - [0.5, 0.5, 0.0]
                np.testing.assert_array_equal(got["landmarks"], want.astype(np.float32))
            crops = Crops.read(vdir / "remove-bg")  # rebuilt from the frame and the matte
            crop = crops.image(crops.by_index()[int(fid)])[:, :, ::-1]
            mse = np.mean((got["image"].astype(float) - crop.astype(float)) ** 2)
            worst_psnr = min(worst_psnr, 10 * np.log10(255**2 / max(mse, 1e-12)))
    assert worst_psnr >= 38.0, worst_psnr


def test_pairs_and_stats(built: Path) -> None:
    shards = _work(built) / "shards"
    split = next(iter(load_manifest(shards)["frames"]))
    ds = PairDataset(shards, split)
    item = ds[0]
    assert item["target_image"].shape == (3, 1024, 1024)
    assert item["source_person_id"] == ds.frames.person_ids[0]
    result = runner.invoke(app, ["stats", "-c", str(built), "-d", "tiny"])
    assert result.exit_code == 0, result.output
    assert "persons" in result.stdout and "parts visible in" in result.stdout
    png = cv2.imread(str(shards / "stats.png"))
    assert png is not None and png.shape[1] > 800


def test_a_second_build_skips_everything(built: Path) -> None:
    result = runner.invoke(app, ["build", "-c", str(built), "-d", "tiny", "-w", "1", "-q"])
    assert result.exit_code == 0, result.output
    for stage in ("sample-frames", "remove-bg", "pose2d", "fit-smpl", "render-maps", "voxelize"):
        line = next(ln for ln in result.stdout.splitlines() if ln.startswith(stage))
        assert " 0 ok," in line and " 0 failed" in line, line


def test_build_writes_its_step_times(built: Path) -> None:
    """``build.json``: every step's wall time and video counts, frames per split as the
    manifest has them (the demo figures in the README come from this file)."""
    record = json.loads((_work(built) / "build.json").read_text())
    steps = {"source", "sample-frames", "remove-bg", "pose2d", "fit-smpl", "render-maps"}
    assert steps | {"voxelize", "write-shards"} <= set(record["steps_wall_s"])
    assert all(s >= 0 for s in record["steps_wall_s"].values())
    assert record["total_wall_s"] >= sum(record["steps_wall_s"].values()) * 0.99
    assert record["frames"] == load_manifest(_work(built) / "shards")["frames"]
    assert record["videos"]["pose2d"]["failed"] == 0


def test_the_shards_say_how_they_were_made(built: Path) -> None:
    """The manifest's provenance: the source and its options, the split rule, every stage's
    version, fingerprint and resolved settings (as each ``_stage.json`` records them), the
    code; ``hpt-data info`` prints a line per stage and one for the shards."""
    from hpt_data.stages import STAGES
    from hpt_data.yaml_schema import to_plain

    made = load_manifest(_work(built) / "shards")["provenance"]
    assert made["source"]["name"] == "synthetic"
    assert made["source"]["options"]["persons"] == 2
    assert made["source"]["options"]["actions"] == ["walk", "wave"]
    assert made["split"]["by"] == "person" and made["split"]["test_fraction"] == 0.5
    assert made["hpt_version"]
    for cls in STAGES:
        stage = cls()
        want = {
            "version": stage.version,
            "fingerprint": stage.fingerprint(),
            "settings": to_plain(stage.settings),
        }
        assert {k: made["stages"][cls.name].get(k) for k in want} == want, cls.name
        assert "other_fingerprints" not in made["stages"][cls.name]
        for vdir in (_work(built) / "videos").iterdir():
            recorded = json.loads((vdir / cls.name / "_stage.json").read_text())
            assert {k: recorded[k] for k in want} == want
    assert made["stages"]["fit-smpl"]["dependencies"]["builtin_body_model"].startswith("anny-")
    info = runner.invoke(app, ["info", "-c", str(built), "-d", "tiny"])
    assert info.exit_code == 0, info.output
    assert "options: persons=2, clips_per_person=1, seconds=0.8" in info.stdout
    render_maps = made["stages"]["render-maps"]
    assert f"  v{render_maps['version']} {render_maps['fingerprint']}: defaults" in info.stdout
    shards_line = next(ln for ln in info.stdout.splitlines() if ln.startswith("shards: "))
    assert shards_line.endswith("made with the settings above"), shards_line
