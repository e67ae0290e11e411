"""remove-bg: the crop transform, the person on a real photograph, the flags (no person,
cut by the edge, several people), reruns, a SIGKILL mid-stage, and mask IoU on a
synthetic clip against its ground truth."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from frames_for_tests import (
    dot_frames,
    frame_stages,
    make_dataset,
    output_files,
    portrait,
    portrait_frames,
    render_synthetic_clip,
    write_video,
)

from hpt_data.crop import CropWindow
from hpt_data.errors import StageError
from hpt_data.executors import LocalExecutor
from hpt_data.orchestrator import build
from hpt_data.sources.base import VideoRecord
from hpt_data.stages.base import StageContext
from hpt_data.stages.outputs import Crops
from hpt_data.stages.remove_bg import RemoveBackground, RemoveBgSettings, segment_person
from hpt_data.stages.sample_frames import SampleFrames, SampleFramesSettings

TESTS_DIR = Path(__file__).parent


def run_stages(tmp: Path, video: Path, **settings) -> tuple[Path, dict]:
    """sample-frames (every frame) then remove-bg on one file; remove-bg's folder and index."""
    record = VideoRecord(video.stem, "p0", "test", str(video))
    frames, out = tmp / "sample-frames", tmp / "remove-bg"  # a video folder's layout
    frames.mkdir(parents=True)
    out.mkdir()
    SampleFrames(SampleFramesSettings(mode="stride")).run(StageContext(record, {}, frames))
    stage = RemoveBackground(RemoveBgSettings(**settings))
    stage.run(StageContext(record, {"sample-frames": frames}, out))
    return out, json.loads((out / "frames.json").read_text())


# ------------------------------------------------------------------ the crop transform


def test_crop_window_holds_the_box_and_maps_points_both_ways() -> None:
    window = CropWindow.around((10.3, 20.0, 50.7, 120.2), margin=0.1, size=256)
    assert window.x0 <= 10.3 and window.x0 + window.side >= 50.7
    assert window.y0 <= 20.0 and window.y0 + window.side >= 120.2
    assert window.side >= 100.2 * 1.2
    pts = np.array([[0.0, 0.0], [33.3, 77.7], [-5.0, 300.0]])
    assert np.allclose(window.to_source(window.to_crop(pts)), pts)
    matrix = window.source_to_crop()
    assert np.allclose(pts @ matrix[:, :2].T + matrix[:, 2], window.to_crop(pts))


@pytest.mark.parametrize("side", [40, 400])  # enlarged and shrunk
def test_a_source_pixel_lands_where_the_transform_says(side: int) -> None:
    image = np.zeros((300, 200), np.float32)
    image[150:152, 90:92] = 1.0  # a 2x2 block centred on the point (91, 151)
    window = CropWindow(91 - side // 2, 151 - side // 2 + 3, side, 128)
    crop = window.cut(image, 0.0, cv2.INTER_LINEAR if side < 128 else cv2.INTER_AREA)
    ys, xs = np.mgrid[0:128, 0:128]
    centre = np.array([(xs * crop).sum(), (ys * crop).sum()]) / crop.sum() + 0.5
    assert np.allclose(centre, window.to_crop(np.array([91.0, 151.0])), atol=0.3)


# ------------------------------------------------------------------ a real photograph


@pytest.fixture(scope="module")
def hopper():
    return segment_person(portrait(), RemoveBgSettings())


def test_photograph_person_found_and_cut_by_the_lower_edge(hopper) -> None:
    assert hopper.matte is not None and hopper.box is not None
    assert 0.3 < hopper.facts["mask_area"] < 0.9
    assert hopper.box[3] == 600  # the portrait ends at the photograph's lower edge
    # her hips and legs lie below the frame: most of her extent is outside it
    assert hopper.flags == ["cut_by_edge"]
    assert hopper.facts["edge_cut"] > 0.3
    assert hopper.facts["other_person"] < 0.05


def test_photograph_crop_contains_the_whole_mask(tmp_path: Path) -> None:
    folder = tmp_path / "photo"
    folder.mkdir()
    cv2.imwrite(str(folder / "hopper.png"), portrait())
    out, index = run_stages(tmp_path, folder, max_edge_cut=1.0, size=512)
    (entry,) = index["frames"]
    assert entry["usable"] and entry["flags"] == []
    window = CropWindow.from_json(entry["crop"])
    x0, y0, x1, y1 = entry["box"]
    assert window.x0 <= x0 and window.y0 <= y0
    assert window.x0 + window.side >= x1 and window.y0 + window.side >= y1
    mask = cv2.imread(str(out / entry["mask"]), 0)
    assert mask.shape == (512, 512)
    ys, xs = np.nonzero(mask)
    # centred, with the margin free on the sides the photograph does not cut
    assert xs.min() > 20 and xs.max() < 491 and ys.min() > 20
    image = Crops.read(out).image(Crops.read(out).frames[0])  # rebuilt from frame and matte
    assert np.all(image[mask == 0].mean(axis=0) > 240)  # white background where no person


def _two_portraits(gap: int) -> np.ndarray:
    """Two copies of the portrait at half size side by side, ``gap`` pixels apart (a
    negative gap: the right one in front of the left one's side)."""
    small = cv2.resize(portrait(), None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    h, w = small.shape[:2]
    canvas = np.full((h + 40, 2 * w + max(gap, 0) + 40, 3), 200, np.uint8)
    canvas[40:, 20 : 20 + w] = small
    x = 20 + w + gap
    canvas[40:, x : x + w] = small
    return canvas


def test_two_people_side_by_side_are_kept_apart_not_flagged() -> None:
    """Someone merely in view is no flag: each is kept alone (``person`` 1 = leftmost),
    the other's pixels are outside the kept matte."""
    canvas = _two_portraits(120)
    w = canvas.shape[1]
    settings = RemoveBgSettings(max_edge_cut=1.0)
    left = segment_person(canvas, settings, person=1)
    right = segment_person(canvas, settings, person=2)
    assert left.facts["people"] == 2 and right.facts["people"] == 2, left.facts
    assert left.flags == [] and right.flags == [], (left.facts, right.facts)
    assert left.box[2] <= w / 2 < right.box[0]  # each box on its own half
    assert left.matte[:, w // 2 :].max() < 0.5 and right.matte[:, : w // 2].max() < 0.5
    assert left.facts["other_person"] < 0.05
    with pytest.raises(ValueError, match="person 3 asked for, 2 found"):
        segment_person(canvas, settings, person=3)


def test_a_person_overlapping_the_kept_one_is_flagged() -> None:
    canvas = _two_portraits(-60)
    seg = segment_person(canvas, RemoveBgSettings(max_edge_cut=1.0), person=1)
    assert seg.facts["people"] == 2, seg.facts
    assert "several_people" in seg.flags, seg.facts
    assert seg.facts["other_person"] > 0.2


# ------------------------------------------------------------------ flags and bad input


def test_frames_without_a_person_are_flagged_and_have_no_files(tmp_path: Path) -> None:
    frames = portrait_frames(4)
    frames[1] = np.full_like(frames[1], 128)  # an empty frame in the middle
    clip = write_video(tmp_path / "gap.avi", frames, 10, "FFV1")
    out, index = run_stages(tmp_path, clip, max_edge_cut=1.0)
    flags = [e["flags"] for e in index["frames"]]
    assert flags == [[], ["no_person"], [], []]
    assert index["frames"][1]["reason"] == "no person found"
    assert not index["frames"][1]["usable"]
    assert sorted(p.name for p in (out / "alpha").iterdir()) == [
        "000000.png",
        "000002.png",
        "000003.png",
    ]


def test_video_with_no_person_fails_with_one_line(tmp_path: Path) -> None:
    clip = write_video(tmp_path / "dots.mp4", dot_frames(4, (160, 120)))
    with pytest.raises(StageError) as exc:
        run_stages(tmp_path, clip)
    assert str(exc.value) == f"{clip}: no usable frame; all 4 flagged (no person found: 4)"


def test_rerun_skips_and_a_deleted_crop_is_redone_alone(tmp_path: Path) -> None:
    clip = write_video(tmp_path / "hopper.avi", portrait_frames(5), 10, "FFV1")
    classes, settings = frame_stages("sample-frames,remove-bg")
    ds = make_dataset(tmp_path, [clip], classes, settings)
    with LocalExecutor(workers=1) as ex:
        build(ds, ex, progress=False)
        out = ds.dirs.video("hopper").output("remove-bg")
        before = output_files(out)
        inodes = {p: (out / p).stat().st_ino for p in before}
        assert {o.state for o in build(ds, ex, progress=False).steps[-1].outcomes} == {"skipped"}
        assert not (out / "image").exists()  # crop_file: matte: no colour crop on disk
        (out / "mask" / "000003.png").unlink()
        report = build(ds, ex, progress=False)
    assert [o.state for o in report.steps[-1].outcomes] == ["ok"]
    metrics = ds.dirs.video("hopper").status("remove-bg")["metrics"]
    assert metrics["reused"] == 4 and metrics["frames"] == 5
    assert output_files(out) == before  # the redone frame is byte-identical
    redone = {p for p in before if (out / p).stat().st_ino != inodes[p]}
    assert redone == {"frames.json", "people.npz", "alpha/000003.png", "mask/000003.png"}


@pytest.mark.slow
def test_sigkill_mid_stage_then_rerun_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    """The whole run (parent and workers) is killed with SIGKILL while remove-bg is
    writing a video's crops; a second run completes, and every output (of remove-bg and
    of pose2d after it) equals that of a run that was never interrupted."""
    clips = [
        write_video(tmp_path / f"hopper{i}.avi", portrait_frames(8, step=3 + i), 10, "FFV1")
        for i in range(2)
    ]
    stages = "sample-frames,remove-bg,pose2d"
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    code = (
        f"import sys; sys.path.insert(0, {str(TESTS_DIR)!r}); import frames_for_tests as m; "
        f"m.run_child_build({str(killed)!r}, {','.join(map(str, clips))!r}, {stages!r}, '2')"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: the kill takes parent and workers
    )
    videos = killed / "work" / "clips" / "videos"
    try:
        deadline = time.monotonic() + 120
        while len(list(videos.glob("*/.remove-bg.tmp-*/mask/*.png"))) < 2:
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "remove-bg never started"
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    # mid-stage: crops exist only in temporary folders, which nothing trusts
    in_flight = list(videos.glob("*/.remove-bg.tmp-*"))
    assert in_flight
    assert not any((tmp.parent / "remove-bg").exists() for tmp in in_flight)

    classes, settings = frame_stages(stages)
    for root in (killed, clean):
        ds = make_dataset(root, clips, classes, settings)
        with LocalExecutor(workers=1) as ex:
            report = build(ds, ex, progress=False)
        assert all(o.state in ("ok", "skipped") for s in report.steps for o in s.outcomes)
    for clip in clips:
        for stage in stages.split(","):
            got = output_files(videos / clip.stem / stage)
            want = output_files(clean / "work" / "clips" / "videos" / clip.stem / stage)
            assert got.keys() == want.keys()
            assert got == want, stage
        assert not list((videos / clip.stem).glob(".*.tmp-*"))


# ------------------------------------------------------------------ synthetic ground truth


@pytest.fixture(scope="module")
def synthetic_clip(tmp_path_factory) -> tuple[Path, dict]:
    return render_synthetic_clip(tmp_path_factory.getbasetemp() / "synthetic")


@pytest.mark.slow
def test_mask_iou_on_a_synthetic_clip(synthetic_clip, tmp_path: Path) -> None:
    video, truth = synthetic_clip
    rb, index = run_stages(tmp_path, video)
    ious = []
    for entry in index["frames"]:
        assert entry["usable"], entry
        window = CropWindow.from_json(entry["crop"])
        gt = window.cut(truth["mask"][entry["index"]].astype(np.float32), 0.0, cv2.INTER_AREA)
        mask = cv2.imread(str(rb / entry["mask"]), 0) > 0
        ious.append(((gt >= 0.5) & mask).sum() / ((gt >= 0.5) | mask).sum())
    assert np.median(ious) >= 0.9, ious
