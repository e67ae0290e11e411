"""The voxelizer: exact fills by hand, occupancy against trimesh, projection against the
rendered maps, .binvox read-back, bad input, and the ``voxelize`` stage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hpt_data.body.weak_perspective import UPRIGHT_FACING_CAMERA
from hpt_data.stages.outputs import FrameMaps, FrameVolume
from hpt_data.voxel import depth_range, project_volume, voxelize
from hpt_data.voxel.binvox import cubic_grid, read_binvox, write_part_binvox

CAMERA = np.array([2 / 2.3, 0.0, -0.1])
POSE_NAMES = ["random"] * 18 + ["crossed_arms", "crossed_legs"]


def box_mesh(lo: tuple[float, float, float], hi: tuple[float, float, float]) -> tuple:
    """An axis-aligned box: (8, 3) vertices and 12 outward-oriented triangles."""
    x0, y0, z0 = lo
    x1, y1, z1 = hi
    v = np.array(
        [[x, y, z] for x in (x0, x1) for y in (y0, y1) for z in (z0, z1)], dtype=np.float64
    )
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    f = []
    for a, b, c, d in quads:
        f += [(a, b, c), (a, c, d)]
    faces = np.array(f, dtype=np.int64)
    # orient outwards: the signed volume must be positive
    tri = v[faces]
    vol = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum()
    return v, (faces if vol > 0 else faces[:, ::-1].copy())


@pytest.fixture(scope="module")
def body():
    from hpt_data.body import load_body_model

    return load_body_model()


def pose_bodies(body, names: list[str], seed: int = 11) -> tuple[np.ndarray, np.ndarray]:
    """Posed vertices (N, V, 3) and joints (N, 24, 3), upright facing the camera."""
    import torch

    from hpt_data.body.joint_limits import sample_random_poses
    from hpt_data.body.named_poses import named_pose

    randoms = iter(sample_random_poses(len(names), seed=seed))
    poses = np.stack([next(randoms) if n == "random" else named_pose(n) for n in names])
    go = np.tile(UPRIGHT_FACING_CAMERA, (len(names), 1))
    with torch.no_grad():
        out = body(
            body_pose=torch.as_tensor(poses).float(), global_orient=torch.as_tensor(go).float()
        )
    return out.vertices.double().numpy(), out.joints.double().numpy()


@pytest.fixture(scope="module")
def posed(body):
    return pose_bodies(body, POSE_NAMES)


@pytest.fixture(scope="module")
def grids(body, posed):
    verts, _ = posed
    return [voxelize(v, body.faces, body.part_labels, CAMERA) for v in verts]


# ------------------------------------------------------------------ exact by hand


def test_box_fills_exactly_the_voxels_whose_centres_are_inside() -> None:
    # s = 1, 10 columns: column i has its centre at u = (i + 0.5) / 5 - 1; x in [-0.3, 0.3]
    # puts the box's left and right edges exactly on the centres u = -0.3 and u = 0.3
    v, f = box_mesh((-0.3, -0.2, 0.0), (0.3, 0.2, 1.0))
    expected = np.zeros((4, 10, 10), np.uint8)
    # an edge exactly on a centre counts for the side the tie rule nudges it into (+x):
    # the centre at u = -0.3 is inside, the one at u = +0.3 is outside
    expected[:, 4:6, 3:6] = 1
    for surface in (False, True):
        grid = voxelize(v, f, np.ones(8, int), np.array([1.0, 0.0, 0.0]), 10, 4, surface=surface)
        assert grid.flags == ()
        assert (grid.z0, grid.dz) == (0.0, 0.25)
        np.testing.assert_array_equal(grid.labels, expected)
    # the surface voxels: a face at z = 0.2 lies in bin 0, whose centre (0.125) is outside
    v2, f2 = box_mesh((-0.3, -0.2, 0.2), (0.3, 0.2, 1.0))
    grid = voxelize(v2, f2, np.ones(8, int), np.array([1.0, 0.0, 0.0]), 10, 4, (0.0, 0.25))
    np.testing.assert_array_equal(grid.labels, expected)
    inner = voxelize(v2, f2, np.ones(8, int), np.array([1.0, 0.0, 0.0]), 10, 4, (0.0, 0.25), False)
    np.testing.assert_array_equal(inner.labels[1:], expected[1:])
    assert not inner.labels[0].any()


def test_labels_follow_the_nearest_surface_along_the_column() -> None:
    va, fa = box_mesh((-0.5, -0.5, 0.0), (0.5, 0.5, 0.4))
    vb, fb = box_mesh((-0.5, -0.5, 0.6), (0.5, 0.5, 1.0))
    v = np.concatenate([va, vb])
    f = np.concatenate([fa, fb + 8])
    lab = np.array([1] * 8 + [2] * 8)
    grid = voxelize(v, f, lab, np.array([0.5, 0.0, 0.0]), xy_size=8, z_bins=5, surface=False)
    column = grid.labels[:, 4, 4]
    np.testing.assert_array_equal(column, [1, 1, 0, 2, 2])  # bins centred 0.1 .. 0.9
    # with the surface voxels, bin 2 (0.4 .. 0.6) holds the back face of box 1 (z = 0.4)
    grid = voxelize(v, f, lab, np.array([0.5, 0.0, 0.0]), xy_size=8, z_bins=5)
    np.testing.assert_array_equal(grid.labels[:, 4, 4], [1, 1, 1, 2, 2])


def test_depth_range_splits_the_body_into_bins() -> None:
    z0, dz = depth_range(np.array([[0, 0, -0.2], [0, 0, 0.44]]), 64)
    assert z0 == pytest.approx(-0.2) and dz == pytest.approx(0.01)
    with pytest.raises(ValueError, match="finite"):
        depth_range(np.array([[0, 0, np.nan]]))


# ------------------------------------------------------------------ the body model, 20 poses


def test_body_poses_are_closed_and_inside_the_frame(grids) -> None:
    for name, grid in zip(POSE_NAMES, grids, strict=True):
        assert grid.flags == (), name
        assert grid.labels.shape == (64, 256, 256)
        assert set(np.unique(grid.labels)) == set(range(7)), name


def test_occupancy_agrees_with_trimesh_contains(body, posed, grids) -> None:
    """100k voxel centres in all (5k per pose, in the body's bounding box of the grid).

    ``contains`` tests voxel centres: the voxels whose centre is inside agree almost
    everywhere; the shipped grid adds the surface voxels (centres up to one bin outside).
    """
    trimesh = pytest.importorskip("trimesh")
    if not trimesh.ray.has_embree:
        pytest.skip("trimesh's contains needs embreex to be fast (pip install embreex)")
    rng = np.random.default_rng(3)
    verts, _ = posed
    agree, agree_solid = [], []
    for name, v, grid in zip(POSE_NAMES, verts, grids, strict=True):
        occ = grid.labels > 0
        solid = voxelize(v, body.faces, body.part_labels, CAMERA, surface=False).labels > 0
        nz = np.argwhere(occ)
        lo, hi = nz.min(0) - 2, nz.max(0) + 3
        idx = np.clip(rng.integers(lo, hi, size=(5000, 3)), 0, np.array(occ.shape) - 1)
        mesh = trimesh.Trimesh(v, body.faces, process=False)
        ref = mesh.contains(grid.centres(idx))
        rate = float((ref == occ[idx[:, 0], idx[:, 1], idx[:, 2]]).mean())
        rate_solid = float((ref == solid[idx[:, 0], idx[:, 1], idx[:, 2]]).mean())
        assert rate >= 0.985 and rate_solid >= 0.998, (name, rate, rate_solid)
        agree.append(rate)
        agree_solid.append(rate_solid)
    assert np.mean(agree) >= 0.99 and np.mean(agree_solid) >= 0.999


def test_voxel_volume_matches_the_mesh_volume(body, posed, grids) -> None:
    """The voxels whose centres are inside hold the mesh's volume; the surface voxels add
    a shell of at most one bin per crossing."""
    trimesh = pytest.importorskip("trimesh")
    verts, _ = posed
    for name, v, grid in zip(POSE_NAMES, verts, grids, strict=True):
        solid = voxelize(v, body.faces, body.part_labels, CAMERA, surface=False)
        ours = (solid.labels > 0).sum() * solid.pitch_xy**2 * solid.dz
        ref = trimesh.Trimesh(v, body.faces, process=False).volume
        assert ours == pytest.approx(ref, rel=0.01), name
        assert np.all(grid.labels[solid.labels > 0] > 0)


def test_projecting_the_volume_reproduces_the_rendered_maps(body, posed, grids) -> None:
    from hpt_data.render.maps import render_maps

    verts, joints = posed
    worst = 1.0
    for name, v, j, grid in zip(POSE_NAMES, verts, joints, grids, strict=True):
        maps = render_maps(v, body.faces, body.part_labels, j, CAMERA, 256, layers=False)
        parsing, depth = project_volume(grid.labels, grid.z0, grid.dz)
        for part in range(1, 7):
            a, b = maps.parsing == part, parsing == part
            iou = (a & b).sum() / max((a | b).sum(), 1)
            worst = min(worst, iou)
            assert iou >= 0.95, (name, part, iou)
        both = (maps.parsing > 0) & (parsing > 0)
        err = np.abs(maps.depth[both] - depth[both])
        assert err.max() <= 0.5 * grid.dz + 1e-5, name
        assert np.all(np.isinf(depth[parsing == 0]))
    assert worst >= 0.95


# ------------------------------------------------------------------ binvox


def test_binvox_files_read_back(tmp_path: Path, body, posed) -> None:
    verts, _ = posed
    grid = cubic_grid(verts[-1], body.faces, body.part_labels, CAMERA, size=64)
    assert grid.labels.shape == (64, 64, 64) and grid.flags == ()
    assert grid.dz == pytest.approx(grid.pitch_xy)
    files = write_part_binvox(tmp_path, grid)
    assert [p.stem for p in files] == [
        "body",
        "head",
        "torso",
        "left_arm",
        "right_arm",
        "left_leg",
        "right_leg",
    ]
    occ, translate, scale = read_binvox(files[0])
    np.testing.assert_array_equal(occ, grid.labels > 0)
    assert scale == pytest.approx(64 * grid.pitch_xy)
    assert translate[2] == pytest.approx(grid.z0)
    union = np.zeros_like(occ)
    for p, path in enumerate(files[1:], start=1):
        part, _, _ = read_binvox(path)
        np.testing.assert_array_equal(part, grid.labels == p)
        union |= part
    np.testing.assert_array_equal(union, occ)
    # trimesh's reader (binvox's x, z, y order): matrix[i, j, k] = voxel (x=i, y=j, z=k)
    from trimesh.exchange.binvox import load_binvox

    with open(files[0], "rb") as fh:
        vox = load_binvox(fh)
    np.testing.assert_array_equal(vox.matrix, occ.transpose(2, 1, 0))


def test_binvox_reader_refuses_a_malformed_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.binvox"
    bad.write_bytes(b"#binvox 1\ndim 4 4 2\ndata\n\x00\x20")
    with pytest.raises(ValueError, match="cubic"):
        read_binvox(bad)
    bad.write_bytes(b"#binvox 1\ndim 4 4 4\ndata\n\x00\x20")
    with pytest.raises(ValueError, match="header says 64"):
        read_binvox(bad)


# ------------------------------------------------------------------ bad input


def test_bad_input_is_flagged_not_raised(body, posed) -> None:
    v = posed[0][0]
    f, lab = body.faces, body.part_labels
    open_mesh = voxelize(v, f[100:], lab, CAMERA)
    assert "not_watertight" in open_mesh.flags
    nan = v.copy()
    nan[5] = np.nan
    assert voxelize(nan, f, lab, CAMERA).flags == ("degenerate_mesh",)
    flat = v.copy()
    flat[:] = 0.0
    assert "degenerate_mesh" in voxelize(flat, f, lab, CAMERA).flags
    for cam in ([0.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [np.inf, 0.0, 0.0]):
        g = voxelize(v, f, lab, np.array(cam))
        assert g.flags == ("bad_camera",) and not g.labels.any()
    out = voxelize(v, f, lab, np.array([0.9, 5.0, 0.0]))
    assert out.flags == ("out_of_frame",) and not out.labels.any()
    half = voxelize(v, f, lab, np.array([0.9, 0.8, 0.0]))
    assert half.flags == ("partly_out_of_frame",) and half.labels.any()
    zoomed_in = voxelize(v, f, lab, np.array([1e4, 0.0, 0.0]))  # the frame sees 0.2 mm
    assert zoomed_in.flags == ("bad_camera",) and not zoomed_in.labels.any()
    big = voxelize(v, f, lab, np.array([40.0, 0.0, 0.0]))  # 20 times the frame: clipped
    assert big.flags in (("partly_out_of_frame",), ("partly_out_of_frame", "bad_camera"))
    with pytest.raises(ValueError, match="part_labels"):
        voxelize(v, f, lab[:-1], CAMERA)


# ------------------------------------------------------------------ the stage


def write_fits(
    folder: Path,
    body,
    names: list[str],
    bad_rows: tuple[int, ...] = (),
    distance: float | None = None,
) -> None:
    """A ``fit-smpl`` output made from known poses (the contract of issue #6); without
    ``distance`` as fit-smpl version 1 wrote it (no ``camera_distance`` key)."""
    from hpt_data.body.joint_limits import sample_random_poses
    from hpt_data.body.named_poses import named_pose

    randoms = iter(sample_random_poses(len(names), seed=5))
    poses = np.stack([next(randoms) if n == "random" else named_pose(n) for n in names])
    t = len(names)
    ok = np.array([i not in bad_rows for i in range(t)])
    camera = np.tile(CAMERA, (t, 1)).astype(np.float32)
    folder.mkdir(parents=True, exist_ok=True)
    extra = {} if distance is None else {"camera_distance": np.full(t, distance, np.float32)}
    np.savez(
        folder / "fits.npz",
        **extra,
        frame_ids=np.array([f"{i:06d}" for i in range(t)]),
        ok=ok,
        flag=np.array(["" if k else "fit_diverged" for k in ok]),
        betas=np.zeros(10, np.float32),
        global_orient=np.tile(UPRIGHT_FACING_CAMERA, (t, 1)).astype(np.float32),
        body_pose=poses.astype(np.float32),
        camera=camera,
        joints3d=np.zeros((t, 24, 3), np.float32),
        joints2d=np.zeros((t, 24, 2), np.float32),
        reproj_px=np.zeros(t, np.float32),
        mask_iou=np.ones(t, np.float32),
        body_model=np.array("builtin"),
        crop_size=np.array(1024),
    )


def test_voxelize_stage_writes_volumes_binvox_and_skips_failed_fits(
    tmp_path: Path,
    body,
) -> None:
    from hpt_data.sources.base import VideoRecord
    from hpt_data.stages.base import StageContext
    from hpt_data.stages.voxelize import Voxelize, VoxelizeSettings

    fit = tmp_path / "fit-smpl"
    write_fits(fit, body, ["crossed_legs", "random", "random"], bad_rows=(1,))
    out = tmp_path / "out"
    out.mkdir()
    ctx = StageContext(VideoRecord("v", "p", "list", "v.mp4"), {"fit-smpl": fit}, out)
    stage = Voxelize(VoxelizeSettings(binvox=True, binvox_size=64, previews=1))
    result = stage.run(ctx)
    assert result.metrics == {"frames": 3, "voxelized": 2, "skipped": 1}
    index = json.loads((out / "frames.json").read_text())
    assert index["shape"] == [64, 256, 256]
    rows = index["frames"]
    assert [r["ok"] for r in rows] == [True, False, True]
    assert rows[1]["reason"] == "fit-smpl: fit_diverged" and rows[1]["file"] is None
    with np.load(out / rows[0]["file"]) as data:  # the labels as the body's window
        block, window = data["labels"], data["labels_window"]
    assert block.size < 64 * 256 * 256 / 4 and window[1].tolist() == [64, 256, 256]
    volume = FrameVolume.read(out / rows[0]["file"])  # the full grid again
    assert volume.labels.shape == (64, 256, 256) and volume.labels.dtype == np.uint8
    assert volume.dz > 0 and np.count_nonzero(volume.labels) == np.count_nonzero(block) > 0
    z, y, x = window[0]
    np.testing.assert_array_equal(volume.labels[z:, y:, x:][tuple(map(slice, block.shape))], block)
    assert len(list((out / rows[0]["binvox"]).glob("*.binvox"))) == 7
    assert len(list((out / "preview").glob("*.png"))) == 1


# ------------------------------------------------------------------ perspective about the pelvis


def test_a_perspective_volume_projects_onto_the_perspective_maps(body, posed) -> None:
    """With the fit's camera distance the columns are the camera's rays: projecting the
    volume gives the maps rendered with the same distance, as in the weak case."""
    from hpt_data.body.weak_perspective import project, to_pixels
    from hpt_data.render.maps import render_maps

    verts, joints = posed
    for k in (0, 18, 19):  # a random pose, crossed arms, crossed legs
        v, j = verts[k], joints[k]
        grid = voxelize(v, body.faces, body.part_labels, CAMERA, distance=3.0, ref_z=j[0, 2])
        weak = voxelize(v, body.faces, body.part_labels, CAMERA)
        assert grid.flags == () and (grid.distance, grid.ref_z) == (3.0, j[0, 2])
        assert (grid.labels != weak.labels).any()
        maps = render_maps(v, body.faces, body.part_labels, j, CAMERA, 256, False, 3.0)
        parsing, depth = project_volume(grid.labels, grid.z0, grid.dz)
        for part in range(1, 7):
            a, b = maps.parsing == part, parsing == part
            assert (a & b).sum() / max((a | b).sum(), 1) >= 0.95, (k, part)
        both = (maps.parsing > 0) & (parsing > 0)
        assert np.abs(maps.depth[both] - depth[both]).max() <= 0.5 * grid.dz + 1e-5
        # voxel centres lie on their columns' rays: they project to the pixel centres
        idx = np.argwhere(grid.labels > 0)[::97]
        px = to_pixels(project(grid.centres(idx), CAMERA, 3.0, j[0, 2]), 256)
        np.testing.assert_allclose(px, idx[:, [2, 1]], atol=1e-9)


def test_stages_draw_volumes_and_maps_with_the_fits_camera_distance(tmp_path: Path, body) -> None:
    from hpt_data.sources.base import VideoRecord
    from hpt_data.stages.base import StageContext
    from hpt_data.stages.render_maps import RenderMaps, RenderMapsSettings
    from hpt_data.stages.voxelize import Voxelize, VoxelizeSettings

    video = VideoRecord("v", "p", "list", "v.mp4")
    out = {}
    for name, distance in (("weak", None), ("persp", 3.0)):
        fit = tmp_path / name / "fit-smpl"
        write_fits(fit, body, ["crossed_arms"], distance=distance)
        for stage in (
            RenderMaps(RenderMapsSettings(sizes=(256,), previews=0)),
            Voxelize(VoxelizeSettings(binvox=False, previews=0)),
        ):
            folder = tmp_path / name / stage.name
            folder.mkdir()
            stage.run(StageContext(video, {"fit-smpl": fit}, folder))
        maps = FrameMaps.read(tmp_path / name / "render-maps" / "maps" / "000000.npz").to_arrays()
        volume = FrameVolume.read(tmp_path / name / "voxelize" / "voxels" / "000000.npz")
        vox = {k: getattr(volume, k) for k in ("labels", "z0", "dz", "camera_distance")}
        out[name] = maps, vox
        assert float(vox["camera_distance"]) == (distance or 0.0)
        # the stages stay aligned: S projected from the volume is render-maps' S
        parsing, _ = project_volume(vox["labels"], float(vox["z0"]), float(vox["dz"]))
        for part in range(1, 7):
            a, b = maps["parsing_256"] == part, parsing == part
            assert (a & b).sum() / max((a | b).sum(), 1) >= 0.95, (name, part)
    (weak_maps, weak_vox), (persp_maps, persp_vox) = out["weak"], out["persp"]
    # the distance was used: a body whose parts reach 20-30 cm in front of the pelvis
    assert (weak_vox["labels"] != persp_vox["labels"]).any()
    assert np.abs(weak_maps["joints2d_256"] - persp_maps["joints2d_256"]).max() > 0.5
