"""The maps: the rasteriser against a brute-force reference and pyrender, self-occlusion and
the complete part maps, heatmaps and boxes by hand, bad input, and the ``render-maps``
stage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_voxelize import CAMERA, box_mesh, pose_bodies, write_fits

from hpt_data.body.weak_perspective import UPRIGHT_FACING_CAMERA
from hpt_data.render.boxes import LAYERS, box_size, centred_box, part_boxes
from hpt_data.render.heatmaps import heatmap_sigma, render_heatmaps
from hpt_data.render.maps import Maps, render_maps, render_target_maps, zbuffer
from hpt_data.render.raster import rasterize
from hpt_data.stages.outputs import FrameMaps


@pytest.fixture(scope="module")
def body():
    from hpt_data.body import load_body_model

    return load_body_model()


def maps_of(body, name: str, size: int = 1024, layers: bool = True) -> Maps:
    v, j = pose_bodies(body, [name])
    return render_maps(v[0], body.faces, body.part_labels, j[0], CAMERA, size, layers)


# ------------------------------------------------------------------ the rasteriser


def brute_force(xy: np.ndarray, z: np.ndarray, faces: np.ndarray, size: int) -> np.ndarray:
    """Depth of the nearest triangle at each pixel centre, one pixel and triangle at a time
    (barycentric coordinates by solving the 2x2 system; inclusive edges)."""
    out = np.full((size, size), np.inf)
    for tri in faces:
        p = xy[tri]
        m = np.array([p[1] - p[0], p[2] - p[0]]).T
        if abs(np.linalg.det(m)) < 1e-12:
            continue
        inv = np.linalg.inv(m)
        for yy in range(size):
            for xx in range(size):
                b1, b2 = inv @ (np.array([xx, yy]) - p[0])
                if b1 >= 0 and b2 >= 0 and b1 + b2 <= 1:
                    d = z[tri[0]] + b1 * (z[tri[1]] - z[tri[0]]) + b2 * (z[tri[2]] - z[tri[0]])
                    out[yy, xx] = min(out[yy, xx], d)
    return out


def test_rasteriser_matches_a_brute_force_reference() -> None:
    rng = np.random.default_rng(0)
    xy = rng.uniform(-2, 18, (30, 2))
    z = rng.uniform(0, 1, 30)
    faces = rng.integers(0, 30, (25, 3))
    ref = brute_force(xy, z, faces, 16)
    _, depth = zbuffer(rasterize(xy, z, faces, 16, 16), 16, 16)
    # general position: no pixel centre on an edge, so inclusive edges do not matter
    np.testing.assert_array_equal(np.isinf(depth), np.isinf(ref))
    fin = np.isfinite(ref)
    np.testing.assert_allclose(depth[fin], ref[fin], atol=1e-6)


def test_closed_meshes_are_crossed_an_even_number_of_times(body) -> None:
    """Each pixel centre is entered as often as left, even on shared edges and vertices:
    a box whose corners sit on pixel centres, and the body at 1024."""
    v, f = box_mesh((2.0, 3.0, 0.0), (9.0, 7.0, 1.0))
    frags = rasterize(v[:, :2], v[:, 2], f, 12, 12)
    balance = np.zeros(144)
    np.add.at(balance, frags.y * 12 + frags.x, np.where(frags.front, 1, -1))
    assert not balance.any()
    covered = np.zeros(144, bool)
    covered[frags.y * 12 + frags.x] = True
    assert covered.sum() == 7 * 4  # columns 2..8, rows 3..6: one rule for shared edges
    verts, _ = pose_bodies(body, ["crossed_arms"])
    from hpt_data.body.weak_perspective import project, to_pixels

    xy = to_pixels(project(verts[0], CAMERA), 1024)
    frags = rasterize(xy, verts[0, :, 2], body.faces, 1024, 1024)
    balance = np.zeros(1024 * 1024)
    np.add.at(balance, frags.y * 1024 + frags.x, np.where(frags.front, 1, -1))
    assert not balance.any()


def test_rasteriser_agrees_with_pyrender(body) -> None:
    pytest.importorskip("pyrender")
    from hpt_data.render.pyrender_maps import render_parsing_depth_gl

    verts, joints = pose_bodies(body, ["crossed_arms", "crossed_legs", "random"])
    for v, j in zip(verts, joints, strict=True):
        try:
            s_gl, d_gl = render_parsing_depth_gl(v, body.faces, body.part_labels, CAMERA, 512)
        except Exception as exc:
            pytest.skip(f"pyrender cannot render here: {exc}")
        m = render_maps(v, body.faces, body.part_labels, j, CAMERA, 512, layers=False)
        assert np.mean(m.parsing == s_gl) >= 0.9999
        both = (m.parsing > 0) & (s_gl > 0)
        assert np.median(np.abs(m.depth[both] - d_gl[both])) < 1e-5
        assert np.mean(np.abs(m.depth[both] - d_gl[both]) < 1e-3) >= 0.999
        assert np.isinf(m.depth[m.parsing == 0]).all()


# ------------------------------------------------------------------ maps of the body


def test_maps_have_the_documented_formats(body) -> None:
    m = maps_of(body, "crossed_legs")
    assert m.flags == () and m.usable
    assert m.parsing.shape == (1024, 1024) and m.parsing.dtype == np.uint8
    assert set(np.unique(m.parsing)) == set(range(7))
    assert m.depth.dtype == np.float32
    np.testing.assert_array_equal(np.isinf(m.depth), m.parsing == 0)
    assert m.joints2d.shape == (24, 2) and m.sigma == 24.0
    assert list(m.boxes) == list(LAYERS)
    for name in LAYERS:
        n = box_size(name)
        assert m.boxes[name][2] == n
        assert m.part_masks[name].shape == (n, n) and m.part_depths[name].shape == (n, n)
    h = m.heatmaps()
    assert h.shape == (24, 1024, 1024) and h.dtype == np.float32
    peak = np.unravel_index(np.argmax(h[15]), (1024, 1024))
    np.testing.assert_allclose(peak[::-1], np.round(m.joints2d[15]), atol=1)
    # a preview's heatmaps: every 4th pixel of the full ones, made at the small size
    small = m.heatmaps(256)
    assert small.shape == (24, 256, 256) and h[:, ::4, ::4].max() > 0.9
    np.testing.assert_allclose(small, h[:, ::4, ::4], atol=1e-6)
    with pytest.raises(ValueError, match="does not divide"):
        m.heatmaps(300)


def test_the_coarse_maps_sample_the_same_body(body) -> None:
    fine = maps_of(body, "crossed_arms", 1024, False)
    coarse = maps_of(body, "crossed_arms", 512, False)
    # pixel centres: x_512 = (x_1024 + 0.5) / 2 - 0.5
    np.testing.assert_allclose(coarse.joints2d, (fine.joints2d + 0.5) / 2 - 0.5, atol=1e-9)
    assert coarse.sigma == 12.0
    for part in range(1, 7):
        ratio = (coarse.parsing == part).sum() * 4 / (fine.parsing == part).sum()
        assert 0.95 < ratio < 1.05, part


def test_an_arm_in_front_of_the_torso_wins_and_stays_complete(body) -> None:
    v, j = pose_bodies(body, ["right_arm_in_front"])
    m = render_maps(v[0], body.faces, body.part_labels, j[0], CAMERA, 1024)
    from hpt_data.body.weak_perspective import project, to_pixels
    from hpt_data.render.scene import face_labels

    xy = to_pixels(project(v[0], CAMERA), 1024)
    flab = face_labels(body.faces, body.part_labels)

    def alone(label: int) -> tuple[np.ndarray, np.ndarray]:
        fr = rasterize(xy, v[0, :, 2], body.faces[flab == label], 1024, 1024)
        fid, depth = zbuffer(fr, 1024, 1024)
        return fid >= 0, depth

    arm, arm_d = alone(4)
    torso, torso_d = alone(2)
    overlap = arm & torso & (arm_d < torso_d)
    assert overlap.sum() > 3000  # the forearm lies across the belly
    assert np.all(m.parsing[overlap] == 4)
    # the complete right-arm map is the arm alone, whole, inside its 256 box
    x0, y0, n = m.boxes["right_arm"]
    assert n == 256
    np.testing.assert_array_equal(m.part_masks["right_arm"], arm[y0 : y0 + n, x0 : x0 + n])
    assert m.part_masks["right_arm"].sum() == arm.sum()


def test_the_complete_map_of_an_occluded_arm_holds_what_s_hides(body) -> None:
    m = maps_of(body, "crossed_arms")
    for name, label in (("left_arm", 3), ("right_arm", 4)):
        x0, y0, n = m.boxes[name]
        mask = m.part_masks[name]
        pad = np.pad(m.parsing, n)[y0 + n : y0 + 2 * n, x0 + n : x0 + 2 * n]
        visible = pad == label
        assert np.all(mask[visible]), name  # everything visible is in the complete map
        d = m.part_depths[name]
        assert np.all(np.isfinite(d[mask])) and np.all(np.isinf(d[~mask]))
    hidden = [
        (m.part_masks[name].sum(), (m.parsing == label).sum())
        for name, label in (("left_arm", 3), ("right_arm", 4))
    ]
    assert any(full > 1.05 * seen for full, seen in hidden)  # one forearm hides the other


def test_target_maps_take_the_source_shape(body) -> None:
    from hpt_data.body.named_poses import named_pose

    pose = named_pose("crossed_legs")
    mean = render_target_maps(body, None, UPRIGHT_FACING_CAMERA, pose, CAMERA, 256, False)
    tall = render_target_maps(
        body, np.array([2.0]), UPRIGHT_FACING_CAMERA, pose, CAMERA, 256, False
    )
    assert (tall.parsing > 0).sum() > 1.05 * (mean.parsing > 0).sum()
    with pytest.raises(ValueError, match="body_pose"):
        render_target_maps(body, None, UPRIGHT_FACING_CAMERA, pose[:60], CAMERA)


def test_bad_input_is_flagged_not_raised(body) -> None:
    v, j = pose_bodies(body, ["arms_down"])
    v, j = v[0], j[0]
    f, lab = body.faces, body.part_labels
    nan = v.copy()
    nan[0] = np.nan
    cases = {
        "degenerate_mesh": render_maps(nan, f, lab, j, CAMERA, 128),
        "bad_camera": render_maps(v, f, lab, j, np.array([0.0, 0.0, 0.0]), 128),
        "out_of_frame": render_maps(v, f, lab, j, np.array([0.9, -4.0, 0.0]), 128),
    }
    for flag, m in cases.items():
        assert flag in m.flags and not m.usable
        assert not m.parsing.any() and np.isinf(m.depth).all()
        assert m.heatmaps().shape == (24, 128, 128)
    cut = render_maps(v, f, lab, j, np.array([0.9, 0.9, 0.0]), 128)
    assert cut.flags == ("partly_out_of_frame",) and cut.usable and cut.parsing.any()
    open_mesh = render_maps(v, f[50:], lab, j, CAMERA, 128)
    assert open_mesh.flags == ("not_watertight",) and open_mesh.parsing.any()
    with pytest.raises(ValueError, match="joints"):
        render_maps(v, f, lab, j[:10], CAMERA, 128)


# ------------------------------------------------------------------ heatmaps and boxes


def test_heatmaps_by_hand() -> None:
    h = render_heatmaps(np.array([[10.0, 20.0], [np.nan, 3.0], [31.5, 0.0]]), 64, sigma=2.0)
    assert h.shape == (3, 64, 64) and h.dtype == np.float32
    assert h[0, 20, 10] == 1.0
    assert h[0, 20, 12] == pytest.approx(np.exp(-4 / 8), rel=1e-6)
    assert h[0, 23, 10] == pytest.approx(np.exp(-9 / 8), rel=1e-6)
    assert h[0, 20, 12] == h[0, 20, 8] == h[0, 22, 10] == h[0, 18, 10]
    assert h[0, 20, 19] == 0.0  # beyond 4 sigma along x
    assert not h[1].any()  # a missing joint
    assert h[2, 0, 31] == h[2, 0, 32] == pytest.approx(np.exp(-0.25 / 8), rel=1e-6)
    assert heatmap_sigma(1024) == 24.0 and heatmap_sigma(512) == 12.0
    assert heatmap_sigma(256) == 6.0
    default = render_heatmaps(np.array([[100.0, 100.0]]), 512)
    assert default[0, 100, 112] == pytest.approx(np.exp(-0.5), rel=1e-6)  # one sigma: 12 px
    with pytest.raises(ValueError, match="shape"):
        render_heatmaps(np.zeros(3), 64)
    with pytest.raises(ValueError, match="sigma"):
        render_heatmaps(np.zeros((1, 2)), 64, sigma=0.0)


def test_boxes_by_hand() -> None:
    # centre of the points' bounding box (150, 200); a 256 box centred there starts at
    # 150 - 127.5 rounded half up: 23 (x), 73 (y)
    box = centred_box(np.array([[100.0, 100.0], [200.0, 300.0], [np.nan, 0.0]]), 256)
    np.testing.assert_array_equal(box, [23, 73, 256])
    np.testing.assert_array_equal(centred_box(np.array([[10.0, 10.0]]), 5), [8, 8, 5])
    assert [box_size(n) for n in LAYERS] == [128, 256, 256, 512, 512]
    assert [box_size(n, 512) for n in LAYERS] == [64, 128, 128, 256, 256]
    joints = np.zeros((24, 2))
    joints[[16, 18, 20, 22]] = [[600, 300], [650, 400], [700, 500], [720, 540]]
    joints[[1, 4, 7, 10]] = [[560, 520], [560, 700], [560, 880], [580, 900]]
    verts = np.array([[500.0, 100.0], [540.0, 180.0], [0.0, 0.0]])
    boxes = part_boxes(joints, verts, np.array([1, 1, 2]))
    np.testing.assert_array_equal(boxes["face"], [457, 77, 128])  # centre (520, 140)
    np.testing.assert_array_equal(boxes["left_arm"], [533, 293, 256])  # centre (660, 420)
    np.testing.assert_array_equal(boxes["left_leg"], [315, 455, 512])  # centre (570, 710)
    with pytest.raises(ValueError, match="no finite point"):
        centred_box(np.full((2, 2), np.nan), 8)
    with pytest.raises(ValueError, match="unknown layer"):
        box_size("tail")


# ------------------------------------------------------------------ the stage


def test_render_maps_stage_writes_maps_and_skips_failed_fits(tmp_path: Path, body) -> None:
    from hpt_data.sources.base import VideoRecord
    from hpt_data.stages.base import StageContext
    from hpt_data.stages.render_maps import RenderMaps, RenderMapsSettings

    fit = tmp_path / "fit-smpl"
    write_fits(fit, body, ["crossed_arms", "random", "right_arm_in_front"], bad_rows=(1,))
    out = tmp_path / "out"
    out.mkdir()
    ctx = StageContext(VideoRecord("v", "p", "list", "v.mp4"), {"fit-smpl": fit}, out)
    result = RenderMaps(RenderMapsSettings(previews=1)).run(ctx)
    assert result.metrics == {"frames": 3, "rendered": 2, "skipped": 1}
    index = json.loads((out / "frames.json").read_text())
    assert index["sizes"] == [1024, 512] and index["layers"] == list(LAYERS)
    rows = index["frames"]
    assert [r["ok"] for r in rows] == [True, False, True]
    assert rows[1]["reason"] == "fit-smpl: fit_diverged"
    with np.load(out / rows[2]["file"]) as stored:  # S and D as the body's window
        window = stored["window_1024"]
        block = stored["parsing_1024"]
        assert window.shape == (2, 2) and window[1].tolist() == [1024, 1024]
        assert block.size < 1024 * 1024 / 2 and (block[0] > 0).any() and (block[:, -1] > 0).any()
        arm = stored["part_mask_right_arm"]  # a part map: its part's window in its box
        assert stored["part_window_right_arm"][1].tolist() == [256, 256] and arm[0].any()
    data = FrameMaps.read(out / rows[2]["file"]).to_arrays()  # the full frame again
    assert data["parsing_1024"].shape == (1024, 1024)
    assert data["parsing_512"].shape == (512, 512)
    assert data["depth_1024"].dtype == np.float16
    np.testing.assert_array_equal(np.isinf(data["depth_512"]), data["parsing_512"] == 0)
    y0, x0 = window[0]
    h, w = block.shape
    np.testing.assert_array_equal(data["parsing_1024"][y0 : y0 + h, x0 : x0 + w], block)
    assert data["parsing_1024"].sum() == block.sum()
    assert data["boxes"].shape == (5, 3) and data["boxes"][2, 2] == 256
    assert data["part_mask_right_arm"].shape == (256, 256)
    assert data["part_mask_right_arm"].sum() == arm.sum()
    heat = render_heatmaps(data["joints2d_512"], 512, float(data["sigma_512"]))
    assert heat.shape == (24, 512, 512)
    assert len(list((out / "preview").glob("*.png"))) == 1


def test_stages_redo_only_a_lost_frame(tmp_path: Path, body) -> None:
    """With ``previous`` (an output that lost a file), intact frames are reused as they are
    and the lost one is made again, identically."""
    from hpt_data.sources.base import VideoRecord
    from hpt_data.stages.base import StageContext
    from hpt_data.stages.render_maps import RenderMaps, RenderMapsSettings
    from hpt_data.stages.voxelize import Voxelize, VoxelizeSettings

    fit = tmp_path / "fit-smpl"
    write_fits(fit, body, ["random", "crossed_arms"])
    video = VideoRecord("v", "p", "list", "v.mp4")
    for stage in (
        RenderMaps(RenderMapsSettings(sizes=(256, 128), previews=0)),
        Voxelize(VoxelizeSettings(binvox_size=32, previews=0)),
    ):
        first = tmp_path / f"{stage.name}-1"
        first.mkdir()
        stage.run(StageContext(video, {"fit-smpl": fit}, first))
        files = {str(p.relative_to(first)): p.read_bytes() for p in first.rglob("*") if p.is_file()}
        manifest = {"files": {k: len(v) for k, v in files.items()}}
        (first / "_stage.json").write_text(json.dumps(manifest))
        lost = sorted(k for k in files if k.endswith(".npz"))[1]
        (first / lost).unlink()
        second = tmp_path / f"{stage.name}-2"
        second.mkdir()
        stage.run(StageContext(video, {"fit-smpl": fit}, second, previous=first))
        again = {
            str(p.relative_to(second)): p.read_bytes() for p in second.rglob("*") if p.is_file()
        }
        assert again == files, stage.name


# ------------------------------------------------------------------ perspective about the pelvis


def test_a_hand_in_front_of_the_pelvis_is_drawn_farther_out_by_the_pinhole_ratio() -> None:
    v, f = box_mesh((-0.3, -0.5, -0.1), (0.3, 0.5, 0.2))
    joints = np.zeros((24, 3))
    joints[0] = (0.0, 0.0, 0.05)  # the pelvis
    joints[23] = (0.25, -0.3, 0.05 - 0.4)  # the right hand, 40 cm nearer the camera
    lab = np.full(len(v), 2)
    camera = np.array([0.9, 0.0, 0.0])  # the principal point at the crop's centre
    weak = render_maps(v, f, lab, joints, camera, 1024, layers=False)
    persp = render_maps(v, f, lab, joints, camera, 1024, layers=False, distance=3.0)
    centre = np.array([511.5, 511.5])  # u = 0: (0 + 1) / 2 * 1024 - 0.5
    # by hand: the weak pixel is s * x, the perspective's s * x * Z / (Z - 0.4)
    np.testing.assert_allclose(weak.joints2d[23], centre + 512 * 0.9 * np.array([0.25, -0.3]))
    np.testing.assert_allclose(
        persp.joints2d[23] - centre, (weak.joints2d[23] - centre) * 3.0 / 2.6, rtol=1e-12
    )
    np.testing.assert_array_equal(persp.joints2d[0], weak.joints2d[0])  # the pelvis's plane
    # the box's near face (z = -0.1) is drawn 3.0 / 2.85 times as wide as under weak
    # perspective: its outline is what S shows
    cols = np.nonzero((persp.parsing > 0).any(0))[0]
    half = 0.5 * (cols.max() - cols.min() + 1)
    assert half == pytest.approx(512 * 0.9 * 0.3 * 3.0 / 2.85, abs=1.0)


def test_maps_joints_are_the_conventions_projection_pixel_exactly(tmp_path: Path, body) -> None:
    from hpt_data.body.weak_perspective import project, to_pixels
    from hpt_data.sources.base import VideoRecord
    from hpt_data.stages.base import StageContext
    from hpt_data.stages.outputs import Fits
    from hpt_data.stages.posed_frames import posed_frames
    from hpt_data.stages.render_maps import RenderMaps, RenderMapsSettings

    fit = tmp_path / "fit-smpl"
    write_fits(fit, body, ["right_arm_in_front", "random"], distance=3.0)
    out = tmp_path / "out"
    out.mkdir()
    ctx = StageContext(VideoRecord("v", "p", "list", "v.mp4"), {"fit-smpl": fit}, out)
    RenderMaps(RenderMapsSettings(previews=0)).run(ctx)
    fits = Fits.read(fit)
    assert fits.camera_distance.tolist() == [3.0, 3.0]
    for row, verts, joints in posed_frames(fits, [0, 1]):
        m = FrameMaps.read(out / "maps" / f"{row:06d}.npz").to_arrays()
        for size in (1024, 512):
            cam = fits.camera[row]  # CAMERA as fits.npz stores it (float32)
            want = to_pixels(project(joints, cam, 3.0, joints[0, 2]), size)
            np.testing.assert_array_equal(m[f"joints2d_{size}"], want.astype(np.float32))
        # and S covers exactly the projected mesh's extent (the maps align with it)
        xy = to_pixels(project(verts, fits.camera[row], 3.0, joints[0, 2]), 1024)
        ys, xs = np.nonzero(m["parsing_1024"])
        assert abs(xs.min() - xy[:, 0].min()) <= 1 and abs(xs.max() - xy[:, 0].max()) <= 1
        assert abs(ys.min() - xy[:, 1].min()) <= 1 and abs(ys.max() - xy[:, 1].max()) <= 1


def test_fits_without_a_camera_distance_render_as_before(tmp_path: Path, body) -> None:
    """fit-smpl version 1 wrote no ``camera_distance``: such fits are weak perspective, and
    their maps are byte for byte those of an explicit distance 0, with the joints where the
    weak-perspective formula puts them."""
    from hpt_data.sources.base import VideoRecord
    from hpt_data.stages.base import StageContext
    from hpt_data.stages.outputs import Fits
    from hpt_data.stages.posed_frames import posed_frames
    from hpt_data.stages.render_maps import RenderMaps, RenderMapsSettings

    files = {}
    for name, distance in (("old", None), ("zero", 0.0)):
        fit = tmp_path / name / "fit-smpl"
        write_fits(fit, body, ["crossed_arms", "random"], distance=distance)
        out = tmp_path / name / "out"
        out.mkdir()
        ctx = StageContext(VideoRecord("v", "p", "list", "v.mp4"), {"fit-smpl": fit}, out)
        RenderMaps(RenderMapsSettings(sizes=(512, 256), previews=0)).run(ctx)
        files[name] = {p.name: p.read_bytes() for p in sorted((out / "maps").iterdir())}
    assert files["old"] == files["zero"] and len(files["old"]) == 2
    fits = Fits.read(tmp_path / "old" / "fit-smpl")
    assert not fits.camera_distance.any()
    for row, _, joints in posed_frames(fits, [0]):
        m = FrameMaps.read(tmp_path / "old" / "out" / "maps" / f"{row:06d}.npz").to_arrays()
        s, tx, ty = fits.camera[row]
        by_hand = (np.stack([s * joints[:, 0] + tx, s * joints[:, 1] + ty], 1) + 1) * 256
        np.testing.assert_allclose(m["joints2d_512"], by_hand - 0.5, atol=1e-4)
