"""Motion videos (§IV-E): one frame per target pose in an mp4 that OpenCV plays, at the
source photo's resolution; pose files and their errors; temporal smoothing of poses."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from pipelines_for_tests import hand_made_source, synthetic_frame, tiny_generators
from scipy.spatial.transform import Rotation
from typer.testing import CliRunner

from hpt_data.body.named_poses import named_pose
from hpt_data.crop import CropWindow
from pipelines.cli import app
from pipelines.motion import paste_into_source, write_motion
from pipelines.targets import PoseSequence, TargetError, load_pose_file, smooth_poses

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py

runner = CliRunner()


def _read_video(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened(), path
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def _pose_file(path: Path, n: int) -> Path:
    """n poses between arms down and crossed arms, as (T, 23, 3), facing the camera."""
    a, b = named_pose("arms_down"), named_pose("crossed_arms")
    poses = np.stack([a + (b - a) * k / max(n - 1, 1) for k in range(n)])
    np.savez(path, body_pose=poses.reshape(n, 23, 3), global_orient=np.tile([np.pi, 0, 0], (n, 1)))
    return path


@pytest.mark.parametrize(("frame", "n"), [("source", 3), ("crop", 2)])
def test_one_frame_per_pose_in_a_video_opencv_plays(tmp_path: Path, frame: str, n: int) -> None:
    source = hand_made_source(source_size=(1001, 900))  # odd width: MPEG-4 needs even sizes
    gens = tiny_generators()
    poses = load_pose_file(_pose_file(tmp_path / "poses.npz", n), fps=10)
    out = tmp_path / "out" / "motion.mp4"
    summary = write_motion(source, poses, gens, out, frame=frame, progress=False)
    size = (1000, 900) if frame == "source" else (128, 128)
    assert (summary.frames, (summary.width, summary.height)) == (n, size)
    frames = _read_video(out)
    assert len(frames) == n
    assert all(f.shape == (size[1], size[0], 3) for f in frames)
    capture = cv2.VideoCapture(str(out))
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(10, abs=0.01)
    capture.release()
    assert not list(out.parent.glob(".*tmp*"))  # the temporary file was renamed
    if frame == "source":  # outside the crop window: the crop's background colour
        x0 = source.window.x0  # (a macroblock's margin for the codec's blocks)
        assert np.abs(frames[0][:, : x0 - 16].astype(int) - 255).max() <= 8  # YUV rounding


def test_the_result_goes_back_where_the_crop_came_from() -> None:
    source = hand_made_source(source_size=(300, 200))
    source.window = CropWindow(-20, 50, 100, 1024)  # reaches beyond the left edge
    result = np.zeros((128, 128, 3), np.uint8)
    frame = paste_into_source(result, source)
    assert frame.shape == (200, 300, 3)
    inside = np.zeros((200, 300), bool)
    inside[50:150, 0:80] = True
    assert (frame[inside] == 0).all()
    assert (frame[~inside] == 255).all()


def test_pose_files_with_wrong_shapes_are_named_errors(tmp_path: Path) -> None:
    cases = {
        "short.npz": ({"body_pose": np.zeros(5)}, r"short.npz: body_pose has shape \(5,\)"),
        "orient.npz": (
            {"body_pose": np.zeros((4, 69)), "global_orient": np.zeros((3, 3))},
            r"orient.npz: global_orient has shape \(3, 3\) for 4 pose\(s\)",
        ),
        "none.npz": ({"poses": np.zeros(72)}, "none.npz: no body_pose array"),
        "nan.npz": ({"body_pose": np.full(69, np.nan)}, "nan.npz: body_pose holds non-finite"),
    }
    for name, (arrays, message) in cases.items():
        np.savez(tmp_path / name, **arrays)
        with pytest.raises(TargetError, match=message):
            load_pose_file(tmp_path / name)
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(TargetError, match=r"text.npz: not a readable \.npz"):
        load_pose_file(tmp_path / "text.npz")
    with pytest.raises(TargetError, match=r"gone\.npz: no such pose file"):
        load_pose_file(tmp_path / "gone.npz")
    one = load_pose_file(_pose_file(tmp_path / "ok.npz", 1))
    assert len(one) == 1 and one.orient == "absolute"


def test_smoothing_takes_out_jitter_and_keeps_the_motion() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(60) / 25.0
    clean = np.zeros((60, 23, 3))
    clean[:, 15, 2] = 1.2 * np.sin(2 * np.pi * 0.5 * t)  # a slow swing of one shoulder
    orient = Rotation.from_euler("x", (np.pi + 0.3 * np.sin(np.pi * t))[:, None]).as_rotvec()
    noisy = clean + rng.normal(0, 0.05, clean.shape)
    seq = PoseSequence(
        noisy.reshape(60, 69).astype(np.float32),
        orient.astype(np.float32),
        "absolute",
        t,
        [str(i) for i in range(60)],
    )
    smooth = smooth_poses(seq)

    def error(poses: np.ndarray) -> float:
        return float(np.abs(poses.reshape(60, 23, 3)[10:] - clean[10:]).mean())

    assert error(smooth.body_pose) < 0.6 * error(seq.body_pose)
    # the orientation passes near π (axis-angle's jump) and survives the filter
    delta = Rotation.from_rotvec(smooth.global_orient) * Rotation.from_rotvec(orient).inv()
    assert np.degrees(delta.magnitude()).max() < 10


@pytest.mark.slow
def test_hpt_motion_command_on_a_photo(tmp_path: Path) -> None:
    photo, _ = synthetic_frame(tmp_path)
    out = tmp_path / "wave.mp4"
    args = ["motion", "--source", str(photo), "--named", "wave", "--frames", "3", "-m", "tiny"]
    args += ["--allow-random-model", "--batch-size", "2", "--out", str(out), "-q"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "3 frames, 480x640" in result.stdout
    frames = _read_video(out)
    assert len(frames) == 3 and frames[0].shape == (640, 480, 3)
