"""sample-frames: decoding (rotation, variable frame rate, image folders), the sampling
modes, bad input, and reruns that redo only what is missing."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from frames_for_tests import (
    bad_inputs,
    dot_frames,
    frame_stages,
    make_dataset,
    portrait_frames,
    retime_mp4,
    rotate_mp4,
    write_video,
)

from hpt_data.errors import StageError
from hpt_data.executors import LocalExecutor
from hpt_data.orchestrator import build
from hpt_data.sources.base import VideoRecord
from hpt_data.stages.base import StageContext
from hpt_data.stages.sample_frames import SampleFrames, SampleFramesSettings
from hpt_data.video import VideoReader


def sample(tmp: Path, video: Path, **settings) -> dict:
    """Run the stage directly on one file; returns its index."""
    out = tmp / "out"
    out.mkdir(parents=True)
    record = VideoRecord(video.stem, "p0", "test", str(video))
    SampleFrames(SampleFramesSettings(**settings)).run(StageContext(record, {}, out))
    return json.loads((out / "frames.json").read_text())


def test_stride_keeps_every_nth_frame_losslessly(tmp_path: Path) -> None:
    frames = dot_frames(8)
    index = sample(
        tmp_path, write_video(tmp_path / "dot.avi", frames, 10, "FFV1"), mode="stride", stride=3
    )
    assert [f["index"] for f in index["frames"]] == [0, 3, 6]
    assert [f["time_ms"] for f in index["frames"]] == [0.0, 300.0, 600.0]
    assert index["source"]["decoded_frames"] == 8
    for entry in index["frames"]:  # FFV1 is lossless and so is PNG: the pixels survive
        saved = cv2.imread(str(tmp_path / "out" / entry["file"]))
        assert np.array_equal(saved, frames[entry["index"]])


def test_fps_mode_follows_true_time_stamps_of_a_variable_frame_rate_video(tmp_path: Path) -> None:
    clip = write_video(tmp_path / "cfr.mp4", dot_frames(6), fps=10)  # time scale 10240
    vfr = retime_mp4(clip, tmp_path / "vfr.mp4", [1024, 2048, 512, 512, 1024, 1024])
    times = [f.time_ms for f in VideoReader(vfr).frames()]
    assert times == [0.0, 100.0, 300.0, 350.0, 400.0, 500.0]
    index = sample(tmp_path, vfr, mode="fps", fps=10.0)
    # one frame per 100 ms tick: 350 falls between the 300 and 400 ticks and is dropped
    assert [f["time_ms"] for f in index["frames"]] == [0.0, 100.0, 300.0, 400.0, 500.0]


def test_fps_mode_halves_a_constant_rate_clip(tmp_path: Path) -> None:
    index = sample(tmp_path, write_video(tmp_path / "c.mp4", dot_frames(8), fps=10), fps=5.0)
    assert [f["index"] for f in index["frames"]] == [0, 2, 4, 6]


def test_the_decoder_keeps_to_the_process_thread_share(tmp_path: Path) -> None:
    """A pool worker held to one thread (``limit_threads``) decodes on one thread too, not
    on every core against its neighbours; the frames are the same either way."""
    clip = write_video(tmp_path / "c.mp4", dot_frames(8, (96, 64)), fps=10)
    reader = VideoReader(clip)
    free = [f.image for f in reader.frames()]
    old = cv2.getNumThreads()
    try:
        cv2.setNumThreads(1)
        cap = reader._capture()
        threads = cap.get(cv2.CAP_PROP_N_THREADS)
        cap.release()
        held = [f.image for f in VideoReader(clip).frames()]
    finally:
        cv2.setNumThreads(old)
    assert threads == 1
    assert len(held) == len(free) == 8
    assert all(np.array_equal(a, b) for a, b in zip(held, free, strict=True))


def test_rotation_metadata_is_applied(tmp_path: Path) -> None:
    img = np.zeros((48, 64, 3), np.uint8)
    img[:16, :16] = 255  # a white square in the stored frame's top-left corner
    clip = write_video(tmp_path / "flat.mp4", [img] * 3)
    upright = rotate_mp4(clip, tmp_path / "upright.mp4")
    index = sample(tmp_path, upright, mode="stride", image_format="png")
    assert index["source"]["rotation"] == 90
    assert (index["source"]["width"], index["source"]["height"]) == (48, 64)
    frame = cv2.imread(str(tmp_path / "out" / index["frames"][0]["file"]))
    assert frame.shape[:2] == (64, 48)
    ys, xs = np.nonzero(frame[..., 0] > 128)
    # turned 90 degrees clockwise for display: the square is now top-right
    assert ys.mean() < 16 and xs.mean() > 32


def test_image_folder_with_jpeg_output(tmp_path: Path) -> None:
    folder = tmp_path / "seq"
    folder.mkdir()
    for i, f in enumerate(dot_frames(5)):
        cv2.imwrite(str(folder / f"img_{i:03d}.png"), f)
    index = sample(tmp_path, folder, mode="stride", stride=2, sequence_fps=20.0, image_format="jpg")
    assert index["source"]["kind"] == "images"
    assert [(f["index"], f["time_ms"]) for f in index["frames"]] == [
        (0, 0.0),
        (2, 100.0),
        (4, 200.0),
    ]
    assert all(f["file"].endswith(".jpg") for f in index["frames"])


def test_max_frames_spreads_the_kept_frames_evenly(tmp_path: Path) -> None:
    clip = write_video(tmp_path / "long.mp4", dot_frames(30))
    index = sample(tmp_path, clip, mode="stride", max_frames=4)
    assert [f["index"] for f in index["frames"]] == [0, 10, 19, 29]
    assert len(list((tmp_path / "out" / "frames").iterdir())) == 4


@pytest.mark.slow
def test_diverse_mode_drops_repeated_poses(tmp_path: Path) -> None:
    """The same pose moving sideways is one keyframe; a tilted body is a new one."""
    still = portrait_frames(4, size=400, step=8)
    centre = (200.0, 300.0)
    tilt = cv2.getRotationMatrix2D(centre, 35, 1.0)
    tilted = [cv2.warpAffine(f, tilt, (400, 400), borderValue=(128, 128, 128)) for f in still[:3]]
    clip = write_video(tmp_path / "poses.avi", still + tilted, 10, "FFV1")
    index = sample(tmp_path, clip, mode="diverse", min_pose_change=0.2)
    assert [f["index"] for f in index["frames"]] == [0, 4]
    assert index["frames"][1]["pose_change"] >= 0.2


EXPECTED_REASONS = {
    "empty": "empty file (0 bytes)",
    "truncated": "truncated MP4/MOV",
    "text": "not a video file",
    "tiny": "frames are 1x1 pixels, too small",
    "codec": "codec 'zzzz' is not supported",
    "zero": "the video has zero frames",
    "truncated_avi": "truncated or corrupt: decoding stopped after",
}


def test_bad_inputs_each_get_their_reason_and_the_run_goes_on(tmp_path: Path) -> None:
    """Every kind of bad file, plus a clip with no person (which remove-bg refuses), in one
    run of sample-frames and remove-bg: each is recorded with its own one-line reason, and
    the good clip goes through both stages."""
    files = bad_inputs(tmp_path / "in")
    nobody = write_video(tmp_path / "in" / "nobody.mp4", dot_frames(4, (160, 120)))
    good = write_video(tmp_path / "in" / "good.avi", portrait_frames(3), 10, "FFV1")
    classes, settings = frame_stages("sample-frames,remove-bg")
    ds = make_dataset(tmp_path, [*files.values(), nobody, good], classes, settings)
    with LocalExecutor(workers=1) as ex:
        report = build(ds, ex, progress=False)
    assert [s.step for s in report.steps] == ["source", "sample-frames", "remove-bg"]
    sampled = {o.video_id: o.state for o in report.steps[1].outcomes}
    assert sampled["good"] == sampled["nobody"] == "ok"
    assert {o.video_id: o.state for o in report.steps[2].outcomes} == {
        "good": "ok",
        "nobody": "failed",
    }
    reasons = set()
    for kind, path in files.items():
        status = ds.dirs.video(path.stem).status("sample-frames")
        assert status["state"] == "failed", kind
        assert status["error"].startswith(f"{path}: "), status["error"]
        assert EXPECTED_REASONS[kind] in status["error"], status["error"]
        assert "\n" not in status["error"]
        reasons.add(status["error"][len(str(path)) :])
    status = ds.dirs.video("nobody").status("remove-bg")
    assert status["error"] == f"{nobody}: no usable frame; all 4 flagged (no person found: 4)"
    reasons.add(status["error"][len(str(nobody)) :])
    assert len(reasons) == len(files) + 1  # no two share a reason


def test_truncated_video_can_be_kept_when_asked(tmp_path: Path) -> None:
    files = bad_inputs(tmp_path / "in")
    index = sample(tmp_path, files["truncated_avi"], mode="stride", keep_truncated=True)
    assert 0 < len(index["frames"]) < 30
    with pytest.raises(StageError, match="truncated or corrupt"):
        sample(tmp_path / "again", files["truncated_avi"], mode="stride")


def test_rerun_skips_and_a_deleted_frame_is_redone_alone(tmp_path: Path) -> None:
    clips = [write_video(tmp_path / f"c{i}.mp4", dot_frames(8)) for i in range(2)]
    settings = SampleFramesSettings(mode="stride", image_format="png")
    ds = make_dataset(tmp_path, clips, (SampleFrames,), {"sample-frames": settings})
    with LocalExecutor(workers=1) as ex:
        build(ds, ex, progress=False)
        out = ds.dirs.video("c1").output("sample-frames")
        before = {p.name: (p.stat().st_ino, p.read_bytes()) for p in (out / "frames").iterdir()}
        again = build(ds, ex, progress=False)
        assert {o.state for o in again.steps[-1].outcomes} == {"skipped"}
        (out / "frames" / "000005.png").unlink()
        third = build(ds, ex, progress=False)
    states = {o.video_id: o.state for o in third.steps[-1].outcomes}
    assert states == {"c0": "skipped", "c1": "ok"}
    assert ds.dirs.video("c1").status("sample-frames")["metrics"]["reused"] == 7
    after = {p.name: (p.stat().st_ino, p.read_bytes()) for p in (out / "frames").iterdir()}
    assert sorted(after) == sorted(before)
    for name, (inode, data) in after.items():
        assert data == before[name][1]  # byte-identical, so downstream stays up to date
        # the other frames are the same files (linked from the previous output)
        assert (inode == before[name][0]) == (name != "000005.png")


# ------------------------------------------------- the frame stages' settings in datasets.yaml


def test_frame_stage_settings_load_from_datasets_yaml(tmp_path) -> None:
    from hpt_data.config import load_datasets
    from hpt_data.errors import ConfigError

    (tmp_path / "videos").mkdir()
    head = "version: 1\ndatasets:\n  mine:\n    source: video_folder\n    root: videos\n"
    good = tmp_path / "good.yaml"
    good.write_text(
        head + "    stages:\n"
        "      sample-frames: {mode: diverse, stride: 2, min_pose_change: 0.1}\n"
        "      remove-bg: {size: 512, background: [0, 255, 0], max_edge_cut: 0.2}\n"
        "      pose2d: {tracking: false, beta: 10}\n"
    )
    stages = load_datasets(good).dataset("mine").stages
    assert stages["sample-frames"].mode == "diverse" and stages["sample-frames"].stride == 2
    assert stages["remove-bg"].background == [0, 255, 0] and stages["remove-bg"].size == 512
    assert stages["pose2d"].tracking is False and stages["pose2d"].beta == 10.0
    for line, expected in (
        ("sample-frames: {mode: sometimes}", "expected one of 'stride', 'fps', 'diverse'"),
        ("remove-bg: {background: [0, 300, 0]}", "background must be 3 values in 0..255"),
        ("pose2d: {beta: -1}", "beta must be >= 0"),
    ):
        bad = tmp_path / "bad.yaml"
        bad.write_text(head + "    stages:\n      " + line + "\n")
        with pytest.raises(ConfigError, match=expected) as exc:
            load_datasets(bad)
        assert str(exc.value).startswith(f"{bad}:7:")
