"""``hpt_data.fitting`` and the ``fit-smpl`` stage: losses and Procrustes by hand, the lean
forward pass against ``BodyModel.forward``, fitting short synthetic clips from their
ground-truth 2D (accuracy aims, no hyper-extension), the same fit through a real SMPL
``.pkl``, and the stage's output contract and flags on bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from hpt_data.body.joint_limits import limits_array, sample_random_euler
from hpt_data.body.joints import JOINT_INDEX
from hpt_data.fitting import losses
from hpt_data.fitting.landmarks import (
    TARGET_NAMES,
    TARGETS,
    hip_offset_for,
    targets_from_mediapipe,
)
from hpt_data.fitting.metrics import (
    hinge_angles,
    mask_iou,
    mpjpe,
    pa_mpjpe,
    procrustes_align,
    rasterize,
)

# ------------------------------------------------------------------ synthetic clips


def make_clip(
    body: Any,
    action: str = "walk",
    frames: int = 6,
    seed: int = 1,
    mask_size: int = 256,
    distance: float = 3.5,
) -> dict[str, Any]:
    """A synthetic clip without rendering: the person posed by the synthetic source's
    motion, filmed by a perspective camera ``distance`` m away, cropped square around the
    body.

    Returns MediaPipe-layout ground-truth landmarks (T, 33, 3) in normalised crop
    coordinates (the model points of ``hpt_data.fitting.landmarks``' table, perspective
    projection), masks (T, mask_size, mask_size) bool, camera-frame joints (T, 24, 3) m
    and their true projections (T, 24, 2) normalised crop coordinates.
    """
    from hpt_data.body.motions import make_motion
    from hpt_data.render.camera import look_at, transform_points

    rng = np.random.default_rng(seed)
    motion, _ = make_motion(action, frames, 15.0, rng)
    betas = rng.normal(0, 0.6, body.num_betas)
    with torch.no_grad():
        out = body(
            betas=torch.as_tensor(np.tile(betas, (frames, 1)), dtype=body.dtype),
            body_pose=torch.as_tensor(motion.body_pose, dtype=body.dtype),
            global_orient=torch.as_tensor(motion.global_orient, dtype=body.dtype),
            transl=torch.as_tensor(motion.transl, dtype=body.dtype),
        )
    verts, joints = out.vertices.double().numpy(), out.joints.double().numpy()
    view = np.radians(rng.uniform(-40, 40))
    centre = joints[:, 0].mean(0)
    w2c = look_at(centre + distance * np.array([np.sin(view), 0.1, np.cos(view)]), centre)
    cam_v = transform_points(verts, w2c)
    pv = cam_v[..., :2] / cam_v[..., 2:3]
    lo, hi = pv.min(1), pv.max(1)
    ctr, half = (lo + hi) / 2, (hi - lo).max(1) * 0.6

    def to_crop(p: np.ndarray) -> np.ndarray:  # (T, 3) world -> (T, 2) normalised
        c = transform_points(p, w2c)
        return (c[:, :2] / c[:, 2:3] - ctr) / half[:, None]

    root = Rotation.from_rotvec(motion.global_orient).as_matrix()
    lm = np.full((frames, 33, 3), np.nan)
    ids = body.landmark_vertex_ids
    for tg in TARGETS:
        if tg.kind == "joint":
            p = joints[:, JOINT_INDEX[tg.ref]]
        elif tg.kind == "vertex":
            p = verts[:, ids[tg.ref]]
        else:
            off = np.array(hip_offset_for(body)) * ([1, 1, 1] if tg.ref == "left" else [-1, 1, 1])
            p = joints[:, JOINT_INDEX[f"{tg.ref}_hip"]] + root @ off
        for m in tg.mediapipe:
            lm[:, m, :2] = to_crop(p)
            lm[:, m, 2] = 1.0
    faces = np.asarray(body.faces)
    masks = [
        rasterize((((pv[i] - ctr[i]) / half[i]) + 1) * 0.5 * mask_size - 0.5, faces, mask_size)
        for i in range(frames)
    ]
    return {
        "landmarks": lm,
        "masks": masks,
        "joints_cam": transform_points(joints, w2c),
        "joints_uv": np.stack([to_crop(joints[:, j]) for j in range(24)], 1),
        "times_ms": np.arange(frames) * 1000.0 / 15.0,
    }


@pytest.fixture(scope="module")
def body() -> Any:
    from hpt_data.body import load_body_model

    return load_body_model()


@pytest.fixture(scope="module")
def fitter(body: Any) -> Any:
    from hpt_data.fitting.fitter import FitConfig, Fitter

    return Fitter(body, FitConfig(device="cpu"))


# ------------------------------------------------------------------ losses by hand


def test_geman_mcclure_by_hand() -> None:
    r2 = torch.tensor([0.0, 100.0, 1e8])
    got = losses.geman_mcclure(r2, 10.0)
    assert got[0] == 0.0
    assert got[1].item() == pytest.approx(50.0)  # r = sigma: sigma^2 / 2
    assert got[2].item() == pytest.approx(100.0, rel=1e-5)  # saturates at sigma^2


def test_reprojection_loss_weights_by_confidence() -> None:
    pred = torch.zeros(1, 2, 2)
    target = torch.tensor([[[1.0 / 512, 0.0], [0.0, 0.0]]])  # 1 px off, and exact
    weight = torch.tensor([[1.0, 3.0]])
    got = losses.reprojection_loss(pred, target, weight, sigma=1e6)
    assert got.item() == pytest.approx(1.0 / 4.0, rel=1e-4)  # (1 * 1 + 3 * 0) / 4


def test_joint_limit_penalty_by_hand() -> None:
    euler = torch.zeros(1, 23, 3)
    lim = limits_array()[1:]
    euler[0] = torch.as_tensor((lim[..., 0] + lim[..., 1]) / 2)  # mid-range: free
    assert losses.joint_limit_penalty(euler).item() == pytest.approx(0.0, abs=1e-9)
    knee = JOINT_INDEX["left_knee"] - 1
    euler[0, knee, 0] = -0.1  # 0.1 rad of hyper-extension
    assert losses.joint_limit_penalty(euler).item() == pytest.approx(0.01, rel=1e-5)
    assert losses.joint_limit_penalty(euler, [JOINT_INDEX["right_knee"]]).item() == 0.0


def test_prior_shape_and_temporal_by_hand() -> None:
    mean, std = losses.prior_from_limits()
    assert mean.shape == std.shape == (23, 3) and (std >= 0.05).all()
    e = torch.as_tensor(mean).float()[None].clone()
    e[0, 0, 0] += float(std[0, 0]) * 2
    p = losses.pose_prior(e, torch.as_tensor(mean).float(), torch.as_tensor(std).float())
    assert p.item() == pytest.approx(4.0, rel=1e-5)
    assert losses.shape_l2(torch.tensor([3.0, 4.0])).item() == 25.0
    x = torch.tensor([[0.0], [1.0], [3.0]])
    got = losses.temporal_smoothness(x, torch.tensor([1.0, 0.5]))
    assert got.item() == pytest.approx(1.0 + 0.5 * 4.0)


# ------------------------------------------------------------------ metrics by hand


def test_procrustes_by_hand() -> None:
    rng = np.random.default_rng(0)
    truth = rng.normal(size=(2, 24, 3))
    rot = Rotation.from_euler("xyz", [0.3, -1.0, 2.0]).as_matrix()
    pred = 1.7 * truth @ rot.T + np.array([0.5, -2.0, 3.0])
    np.testing.assert_allclose(procrustes_align(pred, truth), truth, atol=1e-9)
    assert pa_mpjpe(pred, truth).max() < 1e-9
    # a mirror image cannot be undone by a rotation
    assert pa_mpjpe(truth * [-1, 1, 1], truth).min() > 0.1
    # MPJPE aligns the root only: a shift is free, a 2x scale is not
    assert mpjpe(truth + 5.0, truth).max() < 1e-9
    d = mpjpe(2 * truth, truth)
    expect = np.linalg.norm(truth - truth[:, :1], axis=-1).mean(-1)
    np.testing.assert_allclose(d, expect)


def test_rasterize_and_iou_by_hand() -> None:
    square = np.array([[2.0, 2.0], [7.0, 2.0], [7.0, 7.0], [2.0, 7.0]])
    mask = rasterize(square, np.array([[0, 1, 2], [0, 2, 3]]), 10)
    assert mask.sum() == 36 and mask[2:8, 2:8].all()  # pixel centres 2..7 inclusive
    other = np.zeros((10, 10), bool)
    other[2:8, 2:5] = True
    assert mask_iou(mask, other) == pytest.approx(0.5)


def test_hinge_angles_pick_the_limits_solution() -> None:
    pose = np.zeros((1, 69))
    elbow = JOINT_INDEX["left_elbow"] - 1
    pose[0, elbow * 3 : elbow * 3 + 3] = Rotation.from_euler("xyz", [0, -1.9, 0]).as_rotvec()
    np.testing.assert_allclose(hinge_angles(pose)["left_elbow"][0], [0, -1.9, 0], atol=1e-9)


# ------------------------------------------------------------------ landmarks, kinematics


def test_targets_from_mediapipe_average_and_missing() -> None:
    lm = np.zeros((2, 33, 3))
    lm[..., 2] = 0.9
    lm[:, 17, :2] = [0.2, 0.4]  # left pinky
    lm[:, 19, :2] = [0.4, 0.0]  # left index
    lm[1, 11] = np.nan  # a missing left shoulder
    pts, conf = targets_from_mediapipe(lm)
    hand = TARGET_NAMES.index("left_hand")
    np.testing.assert_allclose(pts[0, hand], [0.3, 0.2], atol=1e-6)
    sh = TARGET_NAMES.index("left_shoulder")
    assert (
        conf[0, sh] == pytest.approx(0.9) and conf[1, sh] == 0.0 and pts[1, sh].tolist() == [0, 0]
    )


def test_kinematics_match_the_body_model(body: Any) -> None:
    from hpt_data.fitting.kinematics import BodyKinematics, axis_angle_to_matrix, euler_to_matrix

    ids = np.arange(0, body.num_vertices, 97)
    kin = BodyKinematics(body, ids)
    euler = torch.as_tensor(sample_random_euler(3, seed=2), dtype=torch.float32)
    orient = torch.tensor([[3.0, 0.1, -0.2], [0.0, 0.0, 0.0], [0.5, 1.0, 0.2]])
    betas = torch.linspace(-1, 1, body.num_betas)
    rots = torch.cat([axis_angle_to_matrix(orient)[:, None], euler_to_matrix(euler)], 1)
    got = kin(betas, rots)
    pose = Rotation.from_euler("xyz", euler.double().numpy().reshape(-1, 3)).as_rotvec()
    ref = body(
        betas=betas.expand(3, -1),
        body_pose=torch.as_tensor(pose.reshape(3, 69), dtype=torch.float32),
        global_orient=orient,
    )
    torch.testing.assert_close(got.joints, ref.joints, atol=1e-5, rtol=0)
    torch.testing.assert_close(got.vertices, ref.vertices[:, ids], atol=1e-5, rtol=0)


# ------------------------------------------------------------------ fitting


def _check_no_hyperextension(body_pose: np.ndarray) -> None:
    lim = limits_array()
    for name, angles in hinge_angles(body_pose).items():
        lo, hi = lim[JOINT_INDEX[name], :, 0], lim[JOINT_INDEX[name], :, 1]
        assert (angles >= lo - 1e-4).all() and (angles <= hi + 1e-4).all(), name


@pytest.mark.parametrize("action", ["walk", "turn"])
def test_fit_from_ground_truth_2d_meets_the_aims(body: Any, fitter: Any, action: str) -> None:
    clip = make_clip(body, action, frames=6, seed=1)
    res = fitter.fit(clip["landmarks"], clip["masks"], clip["times_ms"])
    assert res.body_pose.shape == (6, 69) and res.betas.shape == (body.num_betas,)
    pa = pa_mpjpe(res.joints3d, clip["joints_cam"]) * 1000
    assert np.median(res.reproj_px) <= 4.0, res.reproj_px
    assert np.median(pa) <= 40.0, pa
    assert np.nanmedian(res.mask_iou) >= 0.85, res.mask_iou
    _check_no_hyperextension(res.body_pose)


def test_wrong_inputs_are_named_before_any_work(fitter: Any) -> None:
    landmarks = np.full((3, 33, 3), 0.5)
    with pytest.raises(ValueError, match=r"2 masks for 3 frames"):
        fitter.fit(landmarks, [np.ones((8, 8), bool)] * 2)
    with pytest.raises(ValueError, match=r"shape \(T, 33, 3\), got \(3, 33, 2\)"):
        fitter.fit(landmarks[..., :2], [np.ones((8, 8), bool)] * 3)


def test_perspective_projection_by_hand(fitter: Any) -> None:
    from hpt_data.fitting.fit_camera import focal_from_fov

    # a 90-degree field of view over 480 rows: f = 240 px; a 240-px crop spans 2 f
    assert focal_from_fov(90.0, 480, 240.0) == pytest.approx(2.0)
    rng = np.random.default_rng(0)
    pts = torch.as_tensor(rng.normal(0, 0.4, (2, 5, 3)), dtype=torch.float32)
    root_z = torch.tensor([0.1, -0.2])
    focal, shift = torch.tensor([3.0, 2.5]), torch.tensor([[0.2, -0.1], [0.0, 0.3]])
    depth = torch.tensor([3.0, 2.2])  # the pelvis's distance from the camera
    s = focal / depth
    cam = torch.cat([s.log()[:, None], s[:, None] * shift], 1)
    got = fitter._project(pts, cam, root_z, focal)
    # pinhole: the body moved by (shift, depth - root_z), projected with focal length f
    z = pts[..., 2] + (depth - root_z)[:, None]
    want = focal[:, None, None] * (pts[..., :2] + shift[:, None]) / z[..., None]
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    # the pelvis's depth plane projects as the weak-perspective camera (s, t)
    flat = pts.clone()
    flat[..., 2] = root_z[:, None]
    torch.testing.assert_close(
        fitter._project(flat, cam, root_z, focal), fitter._project(flat, cam)
    )
    # the convention's numpy projection (what render-maps and voxelize draw with) agrees
    from hpt_data.body.weak_perspective import project

    camera = np.column_stack([s.numpy(), cam[:, 1:].numpy()])
    np.testing.assert_allclose(
        project(pts.numpy(), camera, depth.numpy(), root_z.numpy()), got.numpy(), atol=2e-6
    )


def test_perspective_fit_beats_weak_perspective_near_the_camera(body: Any, fitter: Any) -> None:
    """A camera 2.2 m away: even the assumed 3 m perspective recovers the pose far better
    than a weak-perspective fit of the same 2D, which must bend the body to explain the
    foreshortening."""
    from hpt_data.fitting.fitter import FitConfig, Fitter

    clip = make_clip(body, "cross_arms", frames=6, seed=2, distance=2.2)
    args = (clip["landmarks"], clip["masks"], clip["times_ms"])
    persp = fitter.fit(*args)
    weak = Fitter(body, FitConfig(device="cpu", camera_distance=0.0)).fit(*args)
    pa_p = np.median(pa_mpjpe(persp.joints3d, clip["joints_cam"])) * 1000
    pa_w = np.median(pa_mpjpe(weak.joints3d, clip["joints_cam"])) * 1000
    # measured: 39 mm against 62 (the weak fit's reprojection 3.7 px, the perspective's 2.6)
    assert pa_p < 0.75 * pa_w, (pa_p, pa_w)
    assert np.median(persp.reproj_px) <= 4.0 and (weak.camera_distance == 0).all()
    assert (persp.camera_distance == 3.0).all()
    # the outputs are the fit's own camera model: joints_uv is the convention's projection
    from hpt_data.body.weak_perspective import project

    for res in (persp, weak):
        uv = project(res.joints3d, res.camera, res.camera_distance, res.joints3d[:, 0, 2])
        np.testing.assert_allclose(res.joints_uv, uv, atol=2e-6)
    # drawn with the perspective, the joints sit nearer the truth than drawn without it
    truth = clip["joints_uv"]
    err_p = np.linalg.norm(persp.joints_uv - truth, axis=-1).mean()
    err_flat = np.linalg.norm(project(persp.joints3d, persp.camera) - truth, axis=-1).mean()
    assert err_p < 0.7 * err_flat, (err_p, err_flat)


def test_same_fit_through_a_real_smpl_pkl(body: Any, fitter: Any, tmp_path: Path) -> None:
    from hpt_data.body import load_body_model
    from hpt_data.body.smpl_layer import save_smpl_pkl
    from hpt_data.fitting.fitter import FitConfig, Fitter

    path = save_smpl_pkl(body, tmp_path / "SMPL_NEUTRAL.pkl")
    loaded = load_body_model(tmp_path)
    assert loaded.source == str(path)
    clip = make_clip(body, "bend", frames=3, seed=4)
    cfg = FitConfig(device="cpu", iters_pose=10, iters_shape=5)
    a = Fitter(body, cfg).fit(clip["landmarks"], clip["masks"], clip["times_ms"])
    b = Fitter(loaded, cfg).fit(clip["landmarks"], clip["masks"], clip["times_ms"])
    np.testing.assert_allclose(a.joints3d, b.joints3d, atol=1e-4)
    np.testing.assert_allclose(a.body_pose, b.body_pose, atol=1e-3)


# ------------------------------------------------------------------ the stage


def _pose2d(frames: list[Any], landmarks: np.ndarray) -> Any:
    """A ``pose2d`` output with these (T, 33, 5) crop landmarks, found in every frame; the
    arrays fit-smpl does not read are zeros."""
    from hpt_data.stages.outputs import Pose2D

    t = len(landmarks)
    return Pose2D(
        frames,
        frame_index=np.array([f.index for f in frames], np.int64),
        time_ms=np.array([f.time_ms for f in frames], np.float64),
        found=np.ones(t, bool),
        landmarks_crop=landmarks.astype(np.float32),
        landmarks_source=np.zeros((t, 33, 5), np.float32),
        landmarks_crop_raw=np.zeros((t, 33, 5), np.float32),
        coco17_crop=np.zeros((t, 17, 3), np.float32),
        coco17_source=np.zeros((t, 17, 3), np.float32),
        body25_crop=np.zeros((t, 25, 3), np.float32),
        body25_source=np.zeros((t, 25, 3), np.float32),
    )


def _write_upstream(root: Path, clip: dict[str, Any], size: int = 512) -> tuple[Path, Path]:
    """``remove-bg`` and ``pose2d`` outputs for a clip, written by their writers."""
    import cv2

    from hpt_data.stages.outputs import Crop, Crops, PoseFrame

    rb, p2 = root / "remove-bg", root / "pose2d"
    t = len(clip["masks"])
    rb_frames, p2_frames = [], []
    lm = np.zeros((t, 33, 5))
    for i in range(t):
        name = f"{i * 2:06d}.png"
        mask = cv2.resize(clip["masks"][i].astype(np.uint8) * 255, (size, size))
        (rb / "mask").mkdir(parents=True, exist_ok=True)
        (rb / "image").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(rb / "mask" / name), np.where(mask >= 128, 255, 0).astype(np.uint8))
        cv2.imwrite(str(rb / "image" / name), np.dstack([255 - mask] * 3))
        rb_frames.append(
            Crop(i * 2, i * 133.3, usable=True, image=f"image/{name}", mask=f"mask/{name}")
        )
        p2_frames.append(PoseFrame(i * 2, i * 133.3, i, [], None, True))
        # crop pixels with edges at 0 and size (hpt_data.crop's convention)
        lm[i, :, :2] = (clip["landmarks"][i, :, :2] + 1) / 2 * size
        lm[i, :, 3] = np.nan_to_num(clip["landmarks"][i, :, 2])
    lm[np.isnan(lm)] = 0.0
    Crops(rb_frames, size).write(rb)
    _pose2d(p2_frames, lm).write(p2)
    return rb, p2


def _run_stage(rb: Path, p2: Path, out: Path, **settings: Any) -> Any:
    from hpt_data.sources.base import VideoRecord
    from hpt_data.stages.base import StageContext
    from hpt_data.stages.fit_smpl import FitSMPL, FitSMPLSettings

    out.mkdir(parents=True, exist_ok=True)
    ctx = StageContext(VideoRecord("v", "p", "list", "v.mp4"), {"remove-bg": rb, "pose2d": p2}, out)
    return FitSMPL(FitSMPLSettings(device="cpu", **settings)).run(ctx)


def test_stage_writes_the_contract_and_flags_bad_frames(body: Any, tmp_path: Path) -> None:
    from hpt_data.body.weak_perspective import project, to_pixels
    from hpt_data.stages.outputs import Pose2D

    clip = make_clip(body, "wave", frames=6, seed=3)
    rb, p2 = _write_upstream(tmp_path, clip)
    # frame 1: NaN landmarks; frame 2: flagged upstream; frame 3: its mask is lost
    pose = Pose2D.read(p2)
    pose.landmarks_crop[1, :26] = np.nan  # 7 targets of 23 left
    pose.frames[2].flags = ["no_pose"]
    pose.frames[2].reason, pose.frames[2].usable = "no pose found in the crop", False
    pose.write(p2)
    (rb / "mask" / "000006.png").unlink()

    result = _run_stage(rb, p2, tmp_path / "out", iters_pose=15, iters_shape=10)
    with np.load(tmp_path / "out" / "fits.npz") as z:  # the file's contract, as written
        fits = {k: z[k] for k in z.files}
    t = 6
    expect = {
        "frame_ids": ((t,), "U"), "ok": ((t,), "b"), "flag": ((t,), "U"),
        "betas": ((body.num_betas,), "f"), "global_orient": ((t, 3), "f"),
        "body_pose": ((t, 69), "f"), "camera": ((t, 3), "f"), "camera_distance": ((t,), "f"),
        "joints3d": ((t, 24, 3), "f"),
        "joints2d": ((t, 24, 2), "f"), "reproj_px": ((t,), "f"), "mask_iou": ((t,), "f"),
        "body_model": ((), "U"), "crop_size": ((), "i"),
    }  # fmt: skip
    for key, (shape, kind) in expect.items():
        assert fits[key].shape == shape and fits[key].dtype.kind == kind, key
    assert fits["frame_ids"].tolist() == [f"{2 * i:06d}" for i in range(t)]
    assert str(fits["body_model"]) == "builtin" and int(fits["crop_size"]) == 512
    flags = fits["flag"].tolist()
    assert flags[1].startswith("too few landmarks")
    assert flags[2] == "upstream: no pose found in the crop"
    assert flags[3] == "mask missing"
    assert fits["ok"].tolist() == [not f for f in flags]
    assert fits["ok"][[0, 4, 5]].all(), flags
    assert np.isnan(fits["reproj_px"][[1, 2]]).all() and np.isnan(fits["mask_iou"][3])
    # joints2d is the camera's projection of joints3d in crop pixels, with the distance
    ok = fits["ok"]
    assert (fits["camera_distance"][ok] == 3.0).all()
    assert (fits["camera_distance"][[1, 2]] == 0).all()  # not fitted
    j3d = fits["joints3d"][ok]
    px = to_pixels(project(j3d, fits["camera"][ok], fits["camera_distance"][ok], j3d[:, 0, 2]), 512)
    np.testing.assert_allclose(fits["joints2d"][ok], px, atol=1e-3)
    flat = to_pixels(project(j3d, fits["camera"][ok]), 512)  # the distance matters here
    assert np.abs(fits["joints2d"][ok] - flat).max() > 1.0
    # end to end: render-maps draws the joints where the fit put them
    from hpt_data.sources.base import VideoRecord
    from hpt_data.stages.base import StageContext
    from hpt_data.stages.render_maps import RenderMaps, RenderMapsSettings

    maps_dir = tmp_path / "maps"
    maps_dir.mkdir()
    ctx = StageContext(
        VideoRecord("v", "p", "list", "v.mp4"), {"fit-smpl": tmp_path / "out"}, maps_dir
    )
    RenderMaps(RenderMapsSettings(sizes=(512,), previews=0)).run(ctx)
    rows = json.loads((maps_dir / "frames.json").read_text())["frames"]
    for row in np.nonzero(ok)[0]:
        with np.load(maps_dir / rows[row]["file"]) as m:
            # the stage's joints come from the full body model, the fit's from its subset
            # skinning (equal to 1e-5 m): a few thousandths of a pixel
            np.testing.assert_allclose(m["joints2d_512"], fits["joints2d"][row], atol=0.02)
    # an upright person facing the camera has global_orient near (pi, 0, 0)
    go = Rotation.from_rotvec(fits["global_orient"][0]).as_matrix()
    assert go[1, 1] < -0.7  # the body's up (+y) points up in the image (-y)
    summary = json.loads((tmp_path / "out" / "fit.json").read_text())
    assert summary["fitted"] == 4 and summary["ok"] == 3
    assert (tmp_path / "out" / "preview.png").stat().st_size > 1000
    assert result.metrics["ok"] == 3
    _check_no_hyperextension(fits["body_pose"][ok])


def test_stage_refuses_a_video_with_too_few_frames(body: Any, tmp_path: Path) -> None:
    from hpt_data.errors import StageError

    clip = make_clip(body, "walk", frames=2, seed=5)
    rb, p2 = _write_upstream(tmp_path, clip)
    from hpt_data.stages.outputs import Pose2D

    pose = Pose2D.read(p2)
    pose.landmarks_crop[0] = np.nan
    pose.write(p2)
    with pytest.raises(StageError, match=r"too few frames to fit \(1 < 2; too few landmarks: 1\)"):
        _run_stage(rb, p2, tmp_path / "out")


def test_fingerprint_follows_the_builtin_body_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new derivation of the built-in model (e.g. pose correctives) makes old fits stale,
    and so the maps and volumes drawn from them; a user's SMPL file is named by its path."""
    from hpt_data.body import anny_derivation
    from hpt_data.stages.fit_smpl import FitSMPL, FitSMPLSettings
    from hpt_data.stages.render_maps import RenderMaps

    builtin, user_file = FitSMPL(FitSMPLSettings()), FitSMPL(FitSMPLSettings(body_model="m.pkl"))
    before = builtin.fingerprint(), user_file.fingerprint(), RenderMaps().fingerprint()
    bumped = anny_derivation.DERIVATION_VERSION + 1
    monkeypatch.setattr(anny_derivation, "DERIVATION_VERSION", bumped)
    after = builtin.fingerprint(), user_file.fingerprint(), RenderMaps().fingerprint()
    assert after[0] != before[0]
    assert after[1:] == before[1:]


def test_fingerprint_of_the_builtin_body_model_is_unchanged() -> None:
    """Recorded values, not recomputed ones: a change here makes every existing fit (and the
    maps and volumes drawn from it) stale, so it must be a deliberate bump of the stage or
    derivation version, never a side effect of moving code."""
    from hpt_data.stages.fit_smpl import FitSMPL, FitSMPLSettings

    stage = FitSMPL(FitSMPLSettings())
    assert stage.dependencies() == {"builtin_body_model": "anny-0.6.2-v2"}
    # version 3: MediaPipe's world landmarks as terms (w_world), estimate_distance (off);
    # version 4: hidden landmarks on the mask keep hidden_confidence, the world term summed
    # over frames (its weight per frame no longer falls with the video's length);
    # version 5: a world bone's direction across the image weighs a quarter of its depth
    # slope (world_lateral_share), w_world 500
    assert stage.fingerprint() == "1b06fd96814a1c65"
