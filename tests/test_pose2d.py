"""pose2d: landmarks on a real photograph's face, the arrays and flags it writes, the One
Euro filter, tracking that is reproducible, reruns, and the 2D error on a synthetic clip."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from frames_for_tests import (
    frame_stages,
    make_dataset,
    output_files,
    portrait,
    portrait_frames,
    render_synthetic_clip,
    write_video,
)

from hpt_data.crop import CropWindow
from hpt_data.executors import LocalExecutor
from hpt_data.keypoints import MEDIAPIPE_TO_LANDMARK, MEDIAPIPE_TO_SMPL_JOINT
from hpt_data.orchestrator import build
from hpt_data.smoothing import OneEuroFilter
from hpt_data.sources.base import VideoRecord
from hpt_data.stages.base import StageContext
from hpt_data.stages.pose2d import Pose2D, Pose2DSettings
from hpt_data.stages.remove_bg import RemoveBackground, RemoveBgSettings
from hpt_data.stages.sample_frames import SampleFrames, SampleFramesSettings


def run_all(tmp: Path, video: Path, pose: Pose2DSettings | None = None, **rb) -> dict[str, Path]:
    """The three stages on one file, directly; their output folders by stage name."""
    record = VideoRecord(video.stem, "p0", "test", str(video))
    dirs = {n: tmp / n for n in ("sample-frames", "remove-bg", "pose2d")}
    for d in dirs.values():
        d.mkdir(parents=True)
    SampleFrames(SampleFramesSettings(mode="stride")).run(
        StageContext(record, {}, dirs["sample-frames"])
    )
    RemoveBackground(RemoveBgSettings(**rb)).run(
        StageContext(record, {"sample-frames": dirs["sample-frames"]}, dirs["remove-bg"])
    )
    Pose2D(pose).run(StageContext(record, {"remove-bg": dirs["remove-bg"]}, dirs["pose2d"]))
    return dirs


def load(folder: Path) -> tuple[dict, dict[str, np.ndarray]]:
    index = json.loads((folder / "frames.json").read_text())
    with np.load(folder / "pose2d.npz") as data:
        return index, {k: data[k] for k in data.files}


# ------------------------------------------------------------------ the One Euro filter


def test_filter_removes_jitter_of_a_still_point_and_follows_a_fast_one() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(60) / 30.0
    # jitter of 2 px at 1024 (positions are in crop sides), at 30 frames per second
    still = 0.5 + rng.normal(0, 0.002, (60, 1, 2))
    filt = OneEuroFilter(min_cutoff=1.0, beta=64.0)  # pose2d's defaults
    out = np.array([filt(x, ti) for x, ti in zip(still, t, strict=True)])
    assert out[20:].std() < 0.6 * still[20:].std()

    fast = np.stack([np.stack([3.0 * t, 0 * t], axis=1)], axis=1)  # 3 units per second
    filt.reset()
    out = np.array([filt(x, ti) for x, ti in zip(fast, t, strict=True)])
    lag = fast[30:, 0, 0] - out[30:, 0, 0]
    assert np.all(lag < 0.01)  # under 1 % of a unit behind, at 10 % of a unit per frame

    plain = OneEuroFilter(min_cutoff=1.0, beta=0.0)  # no speed term: a plain low-pass lags
    out = np.array([plain(x, ti) for x, ti in zip(fast, t, strict=True)])
    assert np.all(fast[30:, 0, 0] - out[30:, 0, 0] > 0.3)


def test_pose2d_filter_does_not_trail_a_moving_joint() -> None:
    """pose2d filters the whole video forwards and backwards: a joint moving steadily is
    not trailed, where the same filter run forwards only lags behind it, and a still one
    is smoothed as much; a long gap restarts it both ways."""
    stage = Pose2D(Pose2DSettings(min_cutoff=1.0, beta=0.0))  # no speed term: lags most
    n, side = 24, 400
    times = [125.0 * i for i in range(n)]  # 8 frames per second
    windows = [CropWindow(0, 0, side, 1024)] * n
    truth = np.zeros((n, 33, 2))
    truth[..., 0] = (60.0 * np.arange(n))[:, None]  # 480 px/s: 1.2 crop sides per second
    found = np.ones(n, bool)
    out = stage._smooth(truth.copy(), found, times, windows)
    forward = OneEuroFilter(1.0, 0.0, 1.0, 0.5)
    pairs = zip(truth, times, strict=True)
    one_way = np.array([forward(x / side, t / 1000) * side for x, t in pairs])
    mid = slice(8, 16)
    lag = (truth[mid, :, 0] - one_way[mid, :, 0]).min()  # behind, along the motion
    assert lag > 20  # px: the one-way filter's lag
    assert np.abs(out[mid] - truth[mid]).max() < 0.05 * lag

    rng = np.random.default_rng(1)
    still = 200 + rng.normal(0, 2.0, (n, 33, 2))
    calm = stage._smooth(still.copy(), found, times, windows)
    assert calm[4:-4].std() < 0.8 * still[4:-4].std()

    gap = found.copy()
    gap[12] = False  # a frame without a pose: each side filtered alone
    split = stage._smooth(truth.copy(), gap, times, windows)
    alone = stage._smooth(truth[13:].copy(), found[13:], times[13:], windows[13:])
    assert np.allclose(split[13:], alone)
    assert np.allclose(split[12], truth[12])  # left as it was


def test_filter_restarts_after_a_long_gap() -> None:
    filt = OneEuroFilter(max_gap_s=0.5)
    filt(np.zeros((1, 2)), 0.0)
    filt(np.zeros((1, 2)), 0.1)
    jumped = filt(np.ones((1, 2)), 1.0)  # 0.9 s later: a new start, passed through
    assert np.allclose(jumped, 1.0)


# ------------------------------------------------------------------ a real photograph


@pytest.fixture(scope="module")
def hopper(tmp_path_factory) -> tuple[dict[str, Path], dict, dict[str, np.ndarray]]:
    tmp = tmp_path_factory.mktemp("hopper")
    folder = tmp / "photo"
    folder.mkdir()
    cv2.imwrite(str(folder / "hopper.png"), portrait())
    dirs = run_all(tmp, folder, max_edge_cut=1.0)
    return (dirs, *load(dirs["pose2d"]))


def test_photograph_face_landmarks_fall_on_the_face(hopper) -> None:
    """MediaPipe's 11 face landmarks lie inside the face that OpenCV's own face detector
    (a Haar cascade shipped in the wheel: an independent method) finds."""
    _, index, arrays = hopper
    assert index["frames"][0]["usable"] and arrays["found"].tolist() == [True]
    gray = cv2.cvtColor(portrait(), cv2.COLOR_BGR2GRAY)
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    faces = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(60, 60))
    assert len(faces) == 1
    x, y, w, h = faces[0]
    face = arrays["landmarks_source"][0, :11]
    assert np.all(face[:, 3] > 0.9)  # confident
    assert np.all((face[:, 0] > x) & (face[:, 0] < x + w)), (face[:, :2], faces)
    assert np.all((face[:, 1] > y) & (face[:, 1] < y + h)), (face[:, :2], faces)
    nose, left_eye, right_eye = face[0], face[2], face[5]
    assert left_eye[0] > nose[0] > right_eye[0]  # her left eye is on the image's right
    assert nose[1] > max(left_eye[1], right_eye[1])
    # Pose's world landmarks are kept: metric, about the hips, in the image's axes
    world = arrays["world_landmarks"][0]
    assert world.shape == (33, 4) and np.isfinite(world).all()
    assert np.allclose(world[:, 3], arrays["landmarks_crop"][0, :, 3])  # the visibility
    assert 0.2 < np.linalg.norm(world[11, :3] - world[12, :3]) < 0.6  # shoulders, metres
    assert world[11, 0] > world[12, 0]  # her left shoulder on the image's right
    assert world[0, 1] < -0.3  # the nose well above the hips (y down)


def test_photograph_arrays_agree_between_crop_and_source(hopper) -> None:
    dirs, _, arrays = hopper
    rb = json.loads((dirs["remove-bg"] / "frames.json").read_text())["frames"][0]
    window = CropWindow.from_json(rb["crop"])
    crop, source = arrays["landmarks_crop"][0], arrays["landmarks_source"][0]
    assert np.allclose(window.to_crop(source[:, :2]), crop[:, :2], atol=1e-3)
    assert np.allclose(crop[:, 3:], source[:, 3:])
    assert arrays["coco17_crop"].shape == (1, 17, 3)
    assert arrays["body25_source"].shape == (1, 25, 3)
    assert np.allclose(arrays["coco17_crop"][0, 5, :2], crop[11, :2], atol=1e-3)
    assert np.allclose(arrays["body25_crop"][0, 1, :2], crop[[11, 12], :2].mean(0), atol=1e-3)


# ------------------------------------------------------------------ video behaviour


def test_frames_without_a_crop_keep_their_flag_and_have_no_row(tmp_path: Path) -> None:
    frames = portrait_frames(4)
    frames[2] = np.full_like(frames[2], 128)
    clip = write_video(tmp_path / "gap.avi", frames, 10, "FFV1")
    dirs = run_all(tmp_path, clip, max_edge_cut=1.0)
    index, arrays = load(dirs["pose2d"])
    assert [e["row"] for e in index["frames"]] == [0, 1, None, 2]
    assert index["frames"][2]["flags"] == ["no_person"] and not index["frames"][2]["usable"]
    assert arrays["frame_index"].tolist() == [0, 1, 3]
    assert arrays["landmarks_crop"].shape == (3, 33, 5)
    assert arrays["found"].all()


def test_tracking_is_reproducible_and_the_filter_smooths(tmp_path: Path) -> None:
    clip = write_video(tmp_path / "pan.avi", portrait_frames(6), 10, "FFV1")
    dirs = run_all(tmp_path / "a", clip, max_edge_cut=1.0)
    again = tmp_path / "b"
    again.mkdir()
    record = VideoRecord("pan", "p0", "test", str(clip))
    Pose2D().run(StageContext(record, {"remove-bg": dirs["remove-bg"]}, again))
    # the cached tracker is reset per video: a second run in this process is identical
    assert (again / "pose2d.npz").read_bytes() == (dirs["pose2d"] / "pose2d.npz").read_bytes()
    _, arrays = load(dirs["pose2d"])
    raw, smooth = arrays["landmarks_crop_raw"], arrays["landmarks_crop"]
    moved = np.abs(raw[:, :11, :2] - smooth[:, :11, :2]).max()
    assert 0 < moved < 20  # the filter acts, by a few pixels at most on a steady face


def test_rerun_skips_and_a_redone_crop_keeps_pose2d(tmp_path: Path) -> None:
    clip = write_video(tmp_path / "hopper.avi", portrait_frames(4), 10, "FFV1")
    classes, settings = frame_stages("sample-frames,remove-bg,pose2d")
    ds = make_dataset(tmp_path, [clip], classes, settings)
    with LocalExecutor(workers=1) as ex:
        first = build(ds, ex, progress=False)
        assert [s.outcomes[0].state for s in first.steps[1:]] == ["ok", "ok", "ok"]
        pose = output_files(ds.dirs.video("hopper").output("pose2d"))
        (ds.dirs.video("hopper").output("remove-bg") / "alpha" / "000001.png").unlink()
        second = build(ds, ex, progress=False)
    assert [s.outcomes[0].state for s in second.steps[1:]] == ["skipped", "ok", "skipped"]
    assert output_files(ds.dirs.video("hopper").output("pose2d")) == pose


# ------------------------------------------------------------------ synthetic ground truth


@pytest.mark.slow
def test_joint_error_on_a_synthetic_clip(tmp_path_factory, tmp_path: Path) -> None:
    video, truth = render_synthetic_clip(tmp_path_factory.getbasetemp() / "synthetic")
    dirs = run_all(tmp_path, video)
    index, arrays = load(dirs["pose2d"])
    rb = {
        e["index"]: e for e in json.loads((dirs["remove-bg"] / "frames.json").read_text())["frames"]
    }
    names = list(truth["landmark_names"])
    errors = []
    assert arrays["found"].all() and all(e["usable"] for e in index["frames"])
    for row, frame in enumerate(arrays["frame_index"]):
        window = CropWindow.from_json(rb[frame]["crop"])
        pred = arrays["landmarks_crop"][row, :, :2]
        # the ground truth puts pixel centres on integers; we put them at +0.5
        for mp, joint in MEDIAPIPE_TO_SMPL_JOINT.items():
            gt = window.to_crop(truth["joints2d"][frame, joint] + 0.5)
            errors.append(np.linalg.norm(pred[mp] - gt))
        for mp, name in MEDIAPIPE_TO_LANDMARK.items():
            gt = window.to_crop(truth["landmarks2d"][frame, names.index(name)] + 0.5)
            errors.append(np.linalg.norm(pred[mp] - gt))
    # Measured (median / p90, px at the 1024 crop): 7.9 / 16.3 on this clip (synthetic seed 0);
    # over synthetic seeds 0-4 the median reaches 11.5 and p90 20.3, so 12 px sat 4 % above
    # the worst clip. 14 px is 21 % beyond it; a wrong landmark mapping or a half-crop shift
    # is off by tens of pixels.
    assert np.median(errors) <= 14.0, np.median(errors)
    assert np.percentile(errors, 90) <= 30.0


@pytest.mark.slow
def test_world_landmarks_from_remove_bg_agree_with_pose(tmp_path_factory, tmp_path: Path) -> None:
    """With ``landmarks: remove-bg`` (the default) the world landmarks fit-smpl reads come
    from remove-bg's own landmark-model pass on the crop; MediaPipe Pose run again on the
    same crops (``landmarks: detect``) is the reference. Measured on this clip: 1.7 cm
    median per joint, bone directions 1.9 deg median apart; a missing rotation into the
    image's axes, a wrong output tensor or a unit slip is off by tens of centimetres."""
    video, _ = render_synthetic_clip(tmp_path_factory.getbasetemp() / "synthetic")
    dirs = run_all(tmp_path, video)
    again = tmp_path / "pose2d-detect"
    again.mkdir()
    record = VideoRecord(video.stem, "p0", "test", str(video))
    context = StageContext(record, {"remove-bg": dirs["remove-bg"]}, again)
    Pose2D(Pose2DSettings(landmarks="detect")).run(context)
    ours, pose = load(dirs["pose2d"])[1]["world_landmarks"], load(again)[1]["world_landmarks"]
    assert np.isfinite(ours).all() and np.isfinite(pose).all()
    assert np.median(np.linalg.norm(ours[..., :3] - pose[..., :3], axis=-1)) < 0.05
    bones = np.array([(11, 13), (13, 15), (12, 14), (14, 16), (23, 25), (25, 27), (24, 26)])
    a = ours[:, bones[:, 1], :3] - ours[:, bones[:, 0], :3]
    b = pose[:, bones[:, 1], :3] - pose[:, bones[:, 0], :3]
    cos = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
    assert np.degrees(np.median(np.arccos(np.clip(cos, -1, 1)))) < 8.0


# ------------------------------------------------------------------ the preview command


def test_preview_command_writes_a_contact_sheet_with_flagged_frames_marked(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from hpt_data.cli import app

    videos = tmp_path / "videos"
    videos.mkdir()
    frames = portrait_frames(5)
    frames[3] = np.full_like(frames[3], 128)  # no person in frame 3
    write_video(videos / "grace_pan.avi", frames, 10, "FFV1")
    config = tmp_path / "datasets.yaml"
    config.write_text(
        "version: 1\nwork_root: work\ndatasets:\n  clips:\n    source: video_folder\n"
        "    root: videos\n    stages:\n      sample-frames: {mode: stride}\n"
        "      remove-bg: {max_edge_cut: 1.0, size: 512}\n"
    )
    runner = CliRunner()
    args = ["-c", str(config), "-d", "clips"]
    missing = runner.invoke(app, ["preview", "grace_pan", *args])
    assert missing.exit_code == 2
    assert "no video 'grace_pan'" in missing.stderr
    built = runner.invoke(app, ["build", *args, "-w", "1", "-q"])
    assert "pose2d         1 ok" in built.stdout, built.output
    result = runner.invoke(app, ["preview", "grace_pan", *args, "--tile", "128", "--columns", "3"])
    assert result.exit_code == 0, result.output
    sheet_path = tmp_path / "work" / "clips" / "previews" / "grace_pan.pose2d.png"
    assert result.stdout.strip() == str(sheet_path)
    sheet = cv2.imread(str(sheet_path))
    assert sheet.shape == (2 * 132 + 4, 3 * 132 + 4, 3)  # 5 tiles of 128 in rows of 3
    tiles = [
        sheet[4 + r * 132 : r * 132 + 132, 4 + c * 132 : c * 132 + 132]
        for r in (0, 1)
        for c in (0, 1, 2)
    ]

    def red_border(t: np.ndarray) -> bool:
        edge = np.concatenate([t[-2:, :].reshape(-1, 3), t[:, :2].reshape(-1, 3)])
        return bool((edge[:, 2] > 180).mean() > 0.8 and (edge[:, 0] < 90).mean() > 0.8)

    assert [red_border(t) for t in tiles[:5]] == [False, False, False, True, False]
    # the skeleton is drawn: the person's left side in orange, right in blue
    body = tiles[0][20:, :]
    assert ((body[..., 0] > 200) & (body[..., 1] < 150) & (body[..., 2] < 100)).sum() > 10
    assert ((body[..., 2] > 200) & (body[..., 1] > 140) & (body[..., 0] < 100)).sum() > 10
