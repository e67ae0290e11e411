"""Preflight: what a run needs is checked before its first stage, one line per problem."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from stages_for_tests import TINY_DATASET, make_dataset
from test_sources import write_clip
from typer.testing import CliRunner

from hpt_data import preflight as pf
from hpt_data.body.model_files import find_model_file
from hpt_data.cli import app
from hpt_data.config import load_datasets
from hpt_data.errors import HptError
from hpt_data.orchestrator import Dataset
from hpt_data.sources.base import VideoRecord
from hpt_data.stages.sample_frames import SampleFramesSettings

runner = CliRunner()


def _tiny_config(tmp_path: Path, stages: str = "") -> Path:
    config = tmp_path / "datasets.yaml"
    config.write_text(TINY_DATASET + (f"    stages:\n{stages}" if stages else ""))
    return config


def _one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    return lines[0]


def _nothing_written(tmp_path: Path) -> None:
    """No work folder, no rendered clips: the run stopped before the source step."""
    assert not (tmp_path / "work").exists()
    assert not (tmp_path / "clips").exists()


def test_misspelt_body_model_stops_the_build_before_any_stage(tmp_path: Path) -> None:
    missing = tmp_path / "models" / "SMPL_NEUTRL.pkl"
    config = _tiny_config(tmp_path, f"      fit-smpl: {{body_model: {missing}}}\n")
    result = runner.invoke(app, ["build", "-c", str(config), "-d", "tiny", "-w", "1", "-q"])
    line = _one_error_line(result)
    assert line == (
        f"error: stages.fit-smpl.body_model '{missing}': {missing}: body model file not found"
    )
    _nothing_written(tmp_path)


def test_body_model_is_checked_only_for_the_stages_that_load_it(tmp_path: Path) -> None:
    config = _tiny_config(tmp_path, "      fit-smpl: {body_model: /nowhere/smpl}\n")
    datasets = load_datasets(config)
    ds = Dataset.open(datasets.dataset("tiny"), datasets.work_root)
    videos = ds.source.scan().videos
    pf.preflight(ds, ["sample-frames", "remove-bg", "pose2d"], videos)  # no body model needed
    for stage in ("fit-smpl", "render-maps", "voxelize"):
        with pytest.raises(HptError, match="/nowhere/smpl: body model file not found"):
            pf.preflight(ds, [stage], videos)
    _nothing_written(tmp_path)


def test_model_files_follow_the_loaders_rules(tmp_path: Path) -> None:
    folder = tmp_path / "smpl_models"
    (folder / "smpl").mkdir(parents=True)
    (folder / "smpl" / "SMPL_NEUTRAL.npz").write_bytes(b"")
    assert find_model_file(folder) == folder / "smpl" / "SMPL_NEUTRAL.npz"
    with pytest.raises(HptError, match="no SMPL model for gender 'male'"):
        find_model_file(folder, "male")
    text = tmp_path / "SMPL_NEUTRAL.txt"
    text.write_text("x")
    with pytest.raises(HptError, match=r"expected \.pkl or \.npz"):
        find_model_file(text)


def test_work_root_under_a_file_is_refused_in_one_line(tmp_path: Path) -> None:
    config = _tiny_config(tmp_path)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    work = blocker / "work"
    result = runner.invoke(
        app, ["build", "-c", str(config), "-d", "tiny", "--work-root", str(work), "-q"]
    )
    line = _one_error_line(result)
    assert line == f"error: work folder {work / 'tiny'}: {blocker} is a file, not a folder"
    assert not (tmp_path / "clips").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder anyway")
def test_read_only_work_root_is_refused_in_one_line(tmp_path: Path) -> None:
    config = _tiny_config(tmp_path)
    work = tmp_path / "ro"
    work.mkdir(mode=0o500)
    try:
        result = runner.invoke(
            app, ["pose2d", "-c", str(config), "-d", "tiny", "--work-root", str(work)]
        )
        line = _one_error_line(result)
        assert line.startswith(f"error: work folder {work / 'tiny'}: cannot write in {work}")
    finally:
        work.chmod(0o700)


def test_too_little_disk_is_refused_before_any_stage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _tiny_config(tmp_path)
    monkeypatch.setitem(pf.BYTES_PER_FRAME, "voxelize", 10**15)  # 1 PB a frame
    result = runner.invoke(app, ["build", "-c", str(config), "-d", "tiny", "-w", "1", "-q"])
    line = _one_error_line(result)
    assert line.startswith(f"error: free disk at {tmp_path}: ")
    assert "the run needs about 8000000.0 GB (8 frames at the bytes per frame" in line
    _nothing_written(tmp_path)
    # a stage that does not write volumes is not held back by them
    datasets = load_datasets(config)
    ds = Dataset.open(datasets.dataset("tiny"), datasets.work_root)
    pf.preflight(ds, ["sample-frames", "remove-bg"], ds.source.scan().videos)


def test_frames_already_made_need_no_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hpt_data.executors import LocalExecutor
    from hpt_data.orchestrator import build

    ds = make_dataset(tmp_path, 2)
    with LocalExecutor(workers=1) as ex:
        build(ds, ex, progress=False)
    monkeypatch.setitem(pf.BYTES_PER_FRAME, "frames", 10**15)
    videos = ds.source.scan().videos
    for v in videos:  # the toy source gives no frame counts: take one frame a video
        v.meta["frames"] = 1
    pf.preflight(ds, ["frames"], videos)  # every output is up to date
    with pytest.raises(HptError, match="free disk at"):
        pf.preflight(ds, ["frames"], videos, force=True)


@pytest.mark.parametrize(
    ("settings", "kept"),
    [
        (SampleFramesSettings(), 20),  # fps mode: 10 of the video's 25 frames a second
        (SampleFramesSettings(mode="stride", stride=3), 17),
        (SampleFramesSettings(max_frames=12), 12),
        (SampleFramesSettings(fps=100.0), 50),  # never more than the video has
    ],
)
def test_planned_frames_follow_the_sampling_settings(settings, kept: int) -> None:
    assert pf._kept(50, 25.0, settings) == kept


def test_planned_frames_read_the_video_file(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "anna_walk.mp4", frames=8, size=(64, 48))
    video = VideoRecord("anna_walk", "anna", "video_folder", str(clip))
    assert pf._source_facts(video) == (8, 10.0, 64 * 48)


def test_bytes_per_frame_are_the_chain_benchmarks() -> None:
    """The disk estimate follows what benchmarks/chain.py last measured (within 10 %): a
    stage that starts writing more or less shows here until the constants are updated."""
    import json

    chain = json.loads(
        (Path(__file__).parent.parent / "benchmarks" / "results" / "chain.json").read_text()
    )
    stages = chain["stages"]
    for name, value in pf.BYTES_PER_FRAME.items():
        measured = stages[name]["bytes_per_frame"]
        assert abs(value - measured) <= 0.1 * measured, (name, value, measured)
    shards = stages["write-shards"]["bytes_per_frame"]
    assert abs(pf.SHARD_BYTES_PER_FRAME - shards) <= 0.1 * shards
    # the PNG frames' bytes: the run's own PNG comparison (its default kept no frame file)
    frame = chain["frames_from_video"]["png_sample_frames_bytes_per_frame"]
    assert abs(pf.SAMPLE_BYTES_PER_PIXEL * 1024 * 1024 - frame) <= 0.1 * frame


def test_disk_estimate_follows_what_the_settings_write(tmp_path: Path) -> None:
    """Frames decoded from the source (image_format: video, or auto where most frames are
    kept) need no disk for the frames; colour crops (crop_file: image) need their PNG
    beside the matte."""
    png = "      sample-frames: {image_format: png}\n"
    need = {}
    for key, stages, (count, fps) in (
        ("png", png, (10, 5.0)),
        ("video", "      sample-frames: {image_format: video}\n", (10, 5.0)),
        ("default", "", (10, 5.0)),  # auto, 10 fps of a 5 fps clip: every frame kept
        ("sparse", "", (30, 30.0)),  # auto, 10 fps of a 30 fps clip: a third kept
        ("colour", png + "      remove-bg: {crop_file: image}\n", (10, 5.0)),
    ):
        root = tmp_path / key
        root.mkdir()
        datasets = load_datasets(_tiny_config(root, stages))
        ds = Dataset.open(datasets.dataset("tiny"), datasets.work_root)
        videos = ds.source.scan().videos
        for v in videos:  # known sizes, so no clip is rendered: 10 frames kept of 320x240
            v.meta.update(frames=count, fps=fps, width=240, height=320)
        need[key] = pf.disk_needed(ds, ["sample-frames", "remove-bg"], videos)
    frames = need["png"][1]
    assert frames == need["video"][1] == need["sparse"][1] == need["colour"][1] > 0
    frame_bytes = frames * 240 * 320 * pf.SAMPLE_BYTES_PER_PIXEL
    assert need["png"][0] - need["video"][0] == pytest.approx(frame_bytes, abs=frames)
    assert need["default"] == need["video"] and need["sparse"] == need["png"]
    assert need["colour"][0] - need["png"][0] == frames * pf.CROP_IMAGE_BYTES
