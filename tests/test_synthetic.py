"""The synthetic source: determinism, ground-truth consistency, joint limits, atomic writes.

Renders a tiny option set (1 person, 2 actions, 0.5 s at 8 fps, 192x256) twice with the
same seed (once in a fresh process, in the opposite order, so neither a cache in memory nor
what the process rendered before can hide a difference) and once with another seed.
"""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from hpt_data.body.motions import make_motion
from hpt_data.errors import SourceError
from hpt_data.render.camera import intrinsics, look_at, project
from hpt_data.sources.base import VideoRecord
from hpt_data.sources.synthetic import ACTIONS, SyntheticOptions, SyntheticSource
from hpt_data.sources.synthetic import clip as clip_mod
from hpt_data.sources.synthetic.ground_truth import load_ground_truth

#: PyOpenGL 3.1.0 calls numpy's deprecated tostring() on every texture upload.
pytestmark = pytest.mark.filterwarnings("ignore:tostring:DeprecationWarning")

TINY = SyntheticOptions(
    persons=1, clips_per_person=2, seconds=0.5, fps=8, width=192, height=256, seed=7,
    actions=["wave", "cross_legs"],
)  # fmt: skip
#: A ground-truth joint may fall this many pixels outside the rendered mask (rasterisation
#: of thin limbs at 256 px height; joints lie inside the body, so 0 would be exact).
JOINT_MASK_TOLERANCE_PX = 2


def _render_all(root: str, opts: SyntheticOptions, reverse: bool = False) -> None:
    src = SyntheticSource(Path(root), opts)
    videos = src.scan().videos
    for v in reversed(videos) if reverse else videos:
        src.materialize(v)


def _frames(path: str) -> np.ndarray:
    cap = cv2.VideoCapture(path)
    out = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        out.append(bgr)
    cap.release()
    return np.stack(out)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Same seed in this process and in a fresh one, in the opposite order (so nothing a
    process did before, nor anything cached in memory, can change a clip); another seed."""
    a, b, c = (tmp_path_factory.mktemp(n) for n in ("a", "b", "c"))
    _render_all(str(a), TINY)
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=_render_all, args=(str(b), TINY, True))
    proc.start()
    proc.join(timeout=300)
    assert proc.exitcode == 0, "rendering in a fresh process failed"
    _render_all(str(c), replace(TINY, seed=8, actions=["wave"], clips_per_person=1))
    return {"a": a, "b": b, "c": c}


def test_scan_is_deterministic_and_assigns_ids(tmp_path: Path) -> None:
    opts = replace(TINY, persons=3, clips_per_person=3, actions=list(ACTIONS))
    first = SyntheticSource(tmp_path, opts).scan().videos
    second = SyntheticSource(tmp_path, opts).scan().videos
    assert first == second
    assert len(first) == 9
    assert len({v.video_id for v in first}) == 9
    assert [v.person_id for v in first] == ["p000"] * 3 + ["p001"] * 3 + ["p002"] * 3
    v = first[0]
    assert v.video_id == "p000-walk" and v.action == "walk" and v.source == "synthetic"
    assert v.path == str(tmp_path / "p000-walk.mp4")
    assert v.ground_truth == str(tmp_path / "p000-walk.npz")
    assert not any((tmp_path / p).exists() for p in ("p000-walk.mp4", "p000-walk.npz"))


def test_options_are_validated() -> None:
    with pytest.raises(SourceError):
        SyntheticOptions(actions=["moonwalk"])
    with pytest.raises(SourceError):
        SyntheticOptions(width=33)


@pytest.mark.slow
def test_same_seed_gives_identical_truth_and_frames(rendered: dict[str, Path]) -> None:
    names = sorted(p.name for p in rendered["a"].iterdir())
    assert names == ["p000-cross_legs.mp4", "p000-cross_legs.npz", "p000-wave.mp4", "p000-wave.npz"]
    for stem in ("p000-wave", "p000-cross_legs"):
        a, b = rendered["a"] / stem, rendered["b"] / stem
        assert a.with_suffix(".npz").read_bytes() == b.with_suffix(".npz").read_bytes()
        fa, fb = _frames(str(a.with_suffix(".mp4"))), _frames(str(b.with_suffix(".mp4")))
        assert fa.shape == fb.shape
        assert np.array_equal(fa, fb)


@pytest.mark.slow
def test_different_seed_differs(rendered: dict[str, Path]) -> None:
    a = load_ground_truth(rendered["a"] / "p000-wave.npz")
    c = load_ground_truth(rendered["c"] / "p000-wave.npz")
    assert not np.allclose(a["betas"], c["betas"])
    assert not np.allclose(a["body_pose"], c["body_pose"])
    fa = _frames(str(rendered["a"] / "p000-wave.mp4"))
    fc = _frames(str(rendered["c"] / "p000-wave.mp4"))
    assert not np.array_equal(fa, fc)


@pytest.mark.slow
def test_video_decodes_with_planned_frames_and_size(rendered: dict[str, Path]) -> None:
    for stem in ("p000-wave", "p000-cross_legs"):
        frames = _frames(str(rendered["a"] / f"{stem}.mp4"))
        assert frames.shape == (TINY.num_frames, TINY.height, TINY.width, 3)
        assert frames.std() > 5  # not a blank video
        gt = load_ground_truth(rendered["a"] / f"{stem}.npz")
        assert gt["body_pose"].shape == (TINY.num_frames, 69)
        assert gt["joints2d"].shape == (TINY.num_frames, 24, 2)
        assert gt["parts"].shape == (TINY.num_frames, TINY.height, TINY.width)


@pytest.mark.slow
def test_mask_equals_parts_and_labels_are_crisp(rendered: dict[str, Path]) -> None:
    gt = load_ground_truth(rendered["a"] / "p000-wave.npz")
    assert gt["mask"].dtype == bool
    assert np.array_equal(gt["mask"], gt["parts"] > 0)
    assert set(np.unique(gt["parts"]).tolist()) <= set(range(7))
    assert {1, 2, 3, 4, 5, 6} <= set(np.unique(gt["parts"]).tolist())  # every part seen
    assert gt["mask"].reshape(TINY.num_frames, -1).any(axis=1).all()


@pytest.mark.slow
def test_joints_fall_inside_the_mask(rendered: dict[str, Path]) -> None:
    for stem in ("p000-wave", "p000-cross_legs"):
        gt = load_ground_truth(rendered["a"] / f"{stem}.npz")
        k = 2 * JOINT_MASK_TOLERANCE_PX + 1
        kernel = np.ones((k, k), np.uint8)
        for t in range(TINY.num_frames):
            grown = cv2.dilate(gt["mask"][t].astype(np.uint8), kernel) > 0
            uv = np.round(gt["joints2d"][t]).astype(int)
            assert (uv[:, 0] >= 0).all() and (uv[:, 0] < TINY.width).all()
            assert (uv[:, 1] >= 0).all() and (uv[:, 1] < TINY.height).all()
            inside = grown[uv[:, 1], uv[:, 0]]
            assert inside.all(), f"{stem} frame {t}: joints {np.flatnonzero(~inside)} off the mask"
            lm = np.round(gt["landmarks2d"][t]).astype(int)
            assert grown[lm[:, 1], lm[:, 0]].all()


@pytest.mark.slow
def test_ground_truth_projects_consistently(rendered: dict[str, Path]) -> None:
    gt = load_ground_truth(rendered["a"] / "p000-cross_legs.npz")
    uv = project(gt["joints3d"].astype(np.float64), gt["K"], gt["world_to_cam"])
    assert np.abs(uv - gt["joints2d"]).max() < 1e-2
    # the body stands on the floor: its lowest joints (ankles/feet) are just above y = 0
    assert 0.0 < gt["joints3d"][:, [7, 8, 10, 11], 1].min() < 0.2


def _within_limits(rotvec: np.ndarray, lim: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    """Whether each (..., J, 3) rotation has x-y-z Euler angles inside ``lim`` (J, 3, 2).

    Euler angles are not unique: scipy returns the ``|y| <= 90 deg`` solution, and
    ``(x + pi, pi - y, z + pi)`` is the same rotation; the elbows bend past 90 degrees, so
    both solutions are tried.
    """
    e1 = Rotation.from_rotvec(rotvec.reshape(-1, 3)).as_euler("xyz").reshape(rotvec.shape)
    e2 = e1 + np.array([np.pi, 0.0, np.pi])
    e2[..., 1] = np.pi - e1[..., 1]
    e2 = (e2 + np.pi) % (2 * np.pi) - np.pi

    def ok(e: np.ndarray) -> np.ndarray:
        return ((e >= lim[..., 0] - tol) & (e <= lim[..., 1] + tol)).all(axis=-1)

    return ok(e1) | ok(e2)


@pytest.mark.parametrize("action", ACTIONS)
def test_every_pose_is_within_the_joint_limits(action: str) -> None:
    from hpt_data.body.joint_limits import limits_array

    lim = limits_array()[1:]  # (23, 3, 2), radians
    for seed in range(6):
        motion, _ = make_motion(action, 40, 15, np.random.default_rng(seed))
        assert np.isfinite(motion.body_pose).all()
        inside = _within_limits(motion.body_pose.reshape(40, 23, 3), lim)
        assert inside.all(), f"joints {np.unique(np.nonzero(~inside)[1]) + 1} out of limits"
        # and a pose just outside a limit is caught
        bent = Rotation.from_euler("xyz", [0.0, -2.5, 0.0]).as_rotvec()  # elbow past -2.3
        probe = motion.body_pose[:1].reshape(1, 23, 3).copy()
        probe[0, 17] = bent
        assert not _within_limits(probe, lim)[0, 17]
        # motions are smooth: no joint turns more than 30 degrees between frames at 15 fps
        # (450 deg/s; a walking knee peaks near 350, a waving elbow near 400)
        step = (
            Rotation.from_rotvec(motion.body_pose[1:].reshape(-1, 3))
            * Rotation.from_rotvec(motion.body_pose[:-1].reshape(-1, 3)).inv()
        )
        assert np.degrees(step.magnitude()).max() < 30


@pytest.mark.slow
def test_partial_writes_are_not_trusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opts = replace(TINY, actions=["wave"], clips_per_person=1)
    src = SyntheticSource(tmp_path, opts)
    video = src.scan().videos[0]
    # leftovers of a killed worker under temporary names do not count
    (tmp_path / "p000-wave.tmp-999.npz").write_bytes(b"partial")
    (tmp_path / "p000-wave.tmp-999.mp4").write_bytes(b"partial")
    assert not src.is_materialized(video)

    # a crash while encoding the video leaves the truth but no video: still not trusted
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("killed")

    monkeypatch.setattr(clip_mod, "write_video", boom)
    with pytest.raises(RuntimeError):
        src.materialize(video)
    assert Path(video.ground_truth).exists() and not Path(video.path).exists()
    assert not src.is_materialized(video)
    assert not list(tmp_path.glob(f"*.tmp-{os.getpid()}*"))  # cleaned up after the crash
    monkeypatch.undo()
    src.materialize(video)
    assert src.is_materialized(video)


def test_materialize_rejects_foreign_records(tmp_path: Path) -> None:
    src = SyntheticSource(tmp_path, TINY)
    rec = VideoRecord(video_id="x", person_id="p000", source="synthetic", path=str(tmp_path / "x"))
    with pytest.raises(SourceError):
        src.materialize(rec)


def test_camera_helpers_check_input() -> None:
    K = intrinsics(640, 480, fov_y_deg=50)
    assert K[0, 0] == K[1, 1] and K[0, 2] == 319.5 and K[1, 2] == 239.5
    w2c = look_at(np.array([0.0, 1.0, 3.0]), np.array([0.0, 1.0, 0.0]))
    # the person's left (+x) appears on the image's right, up appears up
    uv = project(np.array([[0.5, 1.0, 0.0], [0.0, 1.5, 0.0]]), K, w2c)
    assert uv[0, 0] > 319.5 and uv[1, 1] < 239.5
    with pytest.raises(ValueError):
        intrinsics(640, 480)
    with pytest.raises(ValueError):
        look_at(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError):
        project(np.array([[0.0, 1.0, 5.0]]), K, w2c)  # behind the camera
    with pytest.raises(ValueError):
        project(np.zeros((2, 2)), K, w2c)
