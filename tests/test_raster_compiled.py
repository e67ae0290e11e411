"""The compiled (numba) rasteriser, z-buffers and voxel fill against the numpy reference:
the same bytes, on the body model's frames and on triangle soups made to hit the tie rule,
degenerate and edge-on triangles, wide rows (the crossings' search) and NaN depths."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from test_voxelize import CAMERA, box_mesh, pose_bodies

from hpt_data.body.weak_perspective import project, to_pixels
from hpt_data.render import _raster_jit
from hpt_data.render.boxes import LAYERS
from hpt_data.render.maps import _part_layout, part_zbuffers, render_maps, zbuffer
from hpt_data.render.raster import Fragments, nearest_surfaces, rasterize
from hpt_data.render.scene import face_labels
from hpt_data.voxel import voxelize
from hpt_data.voxel.binvox import cubic_grid

pytestmark = pytest.mark.skipif(
    not _raster_jit.ENABLED, reason="the compiled path is off (no numba, or HPT_NUMBA=0)"
)
FIELDS = ("face", "x", "y", "z", "front")


@pytest.fixture(scope="module")
def body():
    from hpt_data.body import load_body_model

    return load_body_model()


@pytest.fixture(scope="module")
def bodies(body):
    return pose_bodies(body, ["random", "random", "crossed_arms", "crossed_legs"], seed=5)


def reference(monkeypatch: pytest.MonkeyPatch, fn: Callable[[], object]) -> object:
    """``fn()`` on the numpy path."""
    with monkeypatch.context() as m:
        m.setattr(_raster_jit, "ENABLED", False)
        return fn()


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def assert_same_fragments(a: Fragments, b: Fragments) -> None:
    for name in FIELDS:
        assert same(getattr(a, name), getattr(b, name)), name
        # numpy's own dtype instances (ufunc.at is 30x slower on unpickled ones)
        assert getattr(b, name).dtype is np.dtype(getattr(b, name).dtype.type), name


def soup(rng: np.random.Generator, n: int, size: int, kind: str) -> tuple[np.ndarray, ...]:
    """``n`` triangles on a ``size`` grid: vertices on pixel centres (edges through
    centres, shared edges and vertices), on half pixels, or anywhere; a third of the
    triangles made degenerate (a repeated or collinear vertex: edge-on to the viewer)."""
    v = 3 * n
    if kind == "centres":
        xy = rng.integers(-4, size + 4, (v, 2)).astype(np.float64)
    elif kind == "halves":
        xy = rng.integers(-8, 2 * size + 8, (v, 2)) / 2.0
    else:
        xy = rng.uniform(-0.2 * size, 1.2 * size, (v, 2))
    faces = rng.permutation(v).reshape(n, 3)
    bad = rng.random(n) < 1 / 3
    faces[bad, 2] = faces[bad, 0]  # a repeated vertex
    line = rng.random(n) < 1 / 6
    a, b = xy[faces[line, 0]], xy[faces[line, 1]]
    xy[faces[line, 2]] = a + 2 * (b - a)  # collinear (exactly, on integer coordinates)
    flat = rng.random(n) < 1 / 4
    xy[faces[flat, 1], 1] = xy[faces[flat, 0], 1]  # horizontal edges
    near = rng.random(n) < 1 / 8
    tilt = rng.choice([1e-9, 1e-13, -3e-14], near.sum())
    xy[faces[near, 1], 1] = xy[faces[near, 0], 1] + tilt  # nearly horizontal edges
    xy[faces[near, 1], 0] = xy[faces[near, 0], 0] + size  # across wide rows
    z = rng.uniform(-1.0, 1.0, v)
    return xy, z, faces


@pytest.mark.parametrize("kind", ["centres", "halves", "anywhere"])
def test_soups_give_the_same_fragments(monkeypatch, kind: str) -> None:
    rng = np.random.default_rng(["centres", "halves", "anywhere"].index(kind))
    for size, n in ((16, 40), (64, 60), (200, 30)):  # 200: rows wider than SCAN
        for _ in range(5):
            xy, z, faces = soup(rng, n, size, kind)
            for front_only in (False, True):
                for origin, w, h in (((0, 0), size, size), ((3, 5), size // 2, size - 7)):
                    args = (xy, z, faces, w, h, origin, front_only)
                    ref = reference(monkeypatch, lambda a=args: rasterize(*a))
                    assert_same_fragments(ref, rasterize(*args))


def test_shared_edges_follow_one_tie_rule(monkeypatch) -> None:
    """A fan of triangles around a pixel centre, a box with corners on pixel centres:
    the same fragments, each centre entered as often as left."""
    k = 12
    ang = np.linspace(0, 2 * np.pi, k, endpoint=False)
    rim = np.round(np.stack([10 + 8 * np.cos(ang), 10 + 8 * np.sin(ang)], 1))
    xy = np.concatenate([[[10.0, 10.0]], rim])
    faces = np.array([[0, 1 + i, 1 + (i + 1) % k] for i in range(k)])
    z = np.linspace(0.0, 1.0, k + 1)
    ref = reference(monkeypatch, lambda: rasterize(xy, z, faces, 21, 21))
    assert_same_fragments(ref, rasterize(xy, z, faces, 21, 21))
    assert np.bincount(ref.y * 21 + ref.x).max() == 1  # each centre to one triangle
    v, f = box_mesh((2.0, 3.0, 0.0), (9.0, 7.0, 1.0))
    ref = reference(monkeypatch, lambda: rasterize(v[:, :2], v[:, 2], f, 12, 12))
    frags = rasterize(v[:, :2], v[:, 2], f, 12, 12)
    assert_same_fragments(ref, frags)
    balance = np.zeros(144)
    np.add.at(balance, frags.y * 12 + frags.x, np.where(frags.front, 1, -1))
    assert not balance.any()


def test_body_frames_give_the_same_fragments(monkeypatch, body, bodies) -> None:
    verts, _ = bodies
    for v in verts:
        for size, origin, w, h in ((1024, (0, 0), 1024, 1024), (512, (96, 40), 300, 400)):
            xy = to_pixels(project(v, CAMERA), size)
            for front_only in (False, True):
                args = (xy, v[:, 2], body.faces, w, h, origin, front_only)
                ref = reference(monkeypatch, lambda a=args: rasterize(*a))
                assert len(ref) > 1000
                assert_same_fragments(ref, rasterize(*args))


def test_nearest_surfaces_are_the_fragments_z_buffers(monkeypatch, body, bodies) -> None:
    """The fused z-buffers against ``zbuffer`` and ``part_zbuffers`` of the reference's
    fragments, boxes half out of the frame included."""
    verts, _ = bodies
    flab = face_labels(body.faces, body.part_labels)
    for v in verts:
        xy = to_pixels(project(v, CAMERA), 256)
        frags = reference(
            monkeypatch, lambda xy=xy, v=v: rasterize(xy, v[:, 2], body.faces, 256, 256)
        )
        boxes = {n: np.array([-20 + 60 * i, 150 - 40 * i, 128]) for i, n in enumerate(LAYERS)}
        layer_of, table = _part_layout(flab, boxes)
        fid, zbuf, hit, pbuf = nearest_surfaces(
            xy, v[:, 2], body.faces, 256, False, layer_of[flab], table
        )
        ref_fid, ref_depth = zbuffer(frags, 256, 256)
        assert same(ref_fid, fid) and same(ref_depth, zbuf.astype(np.float32))
        masks, depths = part_zbuffers(frags, flab, boxes)
        for i, name in enumerate(LAYERS):
            a, k = int(table[i, 3]), int(table[i, 2])
            assert same(masks[name], hit[a : a + k * k].reshape(k, k))
            assert same(depths[name], pbuf[a : a + k * k].reshape(k, k).astype(np.float32))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NaN in minimum, inf in casts
def test_equal_nan_and_signed_zero_depths_resolve_as_numpy_does(monkeypatch) -> None:
    """Overlapping triangles at equal depth (the later fragment wins), depths of ±0 (an
    equal value replaces the minimum, as ``np.minimum`` does) and NaN (vertex depths near
    the float64 limit: ``inf - inf``; NaN sticks and nothing wins the pixel)."""
    rng = np.random.default_rng(3)
    for z_kind in ("equal", "zero", "huge"):
        for _ in range(4):
            xy, _, faces = soup(rng, 40, 24, "centres")
            if z_kind == "equal":
                z = np.full(len(xy), 0.25)
            elif z_kind == "zero":
                z = np.zeros(len(xy))
            else:
                z = rng.choice([-1.7e308, 1.7e308, 1.0], len(xy))
            layer = rng.integers(-1, 2, len(faces))
            table = np.array([[2, 3, 12, 0], [-4, 10, 20, 144]])
            frags = reference(monkeypatch, lambda xy=xy, z=z, f=faces: rasterize(xy, z, f, 24, 24))
            assert_same_fragments(frags, rasterize(xy, z, faces, 24, 24))
            if z_kind == "huge":
                assert np.isnan(frags.z).any()
            fid, zbuf, hit, pbuf = nearest_surfaces(xy, z, faces, 24, False, layer, table)
            ref_fid, ref_depth = zbuffer(frags, 24, 24)
            assert same(ref_fid, fid) and same(ref_depth, zbuf.astype(np.float32))
            # the part buffers: part_zbuffers' own steps on this layer assignment
            li = layer[frags.face]
            sel = li >= 0
            x0, y0, n, off = (table[li[sel], c] for c in range(4))
            x, y = frags.x[sel] - x0, frags.y[sel] - y0
            keep = (x >= 0) & (x < n) & (y >= 0) & (y < n)
            pix = (off + y * n + x)[keep]
            zs = frags.z[sel][keep]
            ref_p = np.full(544, np.inf)
            np.minimum.at(ref_p, pix, zs)
            ref_hit = np.zeros(544, bool)
            ref_hit[pix[zs == ref_p[pix]]] = True
            assert same(ref_p, pbuf) and same(ref_hit, hit)


def test_maps_and_volumes_are_byte_identical(monkeypatch, body, bodies) -> None:
    verts, joints = bodies
    for v, j in zip(verts, joints, strict=True):
        for size, layers, dist in ((1024, True, 0.0), (512, True, 3.0), (256, False, 0.0)):
            args = (v, body.faces, body.part_labels, j, CAMERA, size, layers, dist)
            ref = reference(monkeypatch, lambda a=args: render_maps(*a))
            got = render_maps(*args)
            assert same(ref.parsing, got.parsing) and same(ref.depth, got.depth)
            assert ref.flags == got.flags and ref.boxes.keys() == got.boxes.keys()
            for name in ref.part_masks:
                assert same(ref.boxes[name], got.boxes[name])
                assert same(ref.part_masks[name], got.part_masks[name])
                assert same(ref.part_depths[name], got.part_depths[name])
        rz = float(j[0, 2])
        for kw in ({}, {"surface": False}, {"distance": 3.0, "ref_z": rz}, {"z_bins": 96}):
            args = (v, body.faces, body.part_labels, CAMERA)
            ref = reference(monkeypatch, lambda a=args, kw=kw: voxelize(*a, **kw))
            got = voxelize(*args, **kw)
            assert same(ref.labels, got.labels) and ref.flags == got.flags
        ref = reference(
            monkeypatch, lambda v=v: cubic_grid(v, body.faces, body.part_labels, CAMERA, 128)
        )
        got = cubic_grid(v, body.faces, body.part_labels, CAMERA, 128)
        assert same(ref.labels, got.labels)


def test_an_open_mesh_is_flagged_alike(monkeypatch, body, bodies) -> None:
    """Faces removed: unbalanced windings, the same labels and flags on both paths."""
    verts, _ = bodies
    f = body.faces[::3]
    ref = reference(monkeypatch, lambda: voxelize(verts[0], f, body.part_labels, CAMERA))
    got = voxelize(verts[0], f, body.part_labels, CAMERA)
    assert "not_watertight" in ref.flags and ref.flags == got.flags
    assert same(ref.labels, got.labels)


def test_without_numba_the_numpy_path_runs() -> None:
    """numba missing (an import that fails): no error, the numpy path, the same maps."""
    code = (
        "import sys; sys.modules['numba'] = None\n"
        "import numpy as np\n"
        "from hpt_data.render import _raster_jit\n"
        "from hpt_data.render.raster import compiled, rasterize\n"
        "assert not _raster_jit.ENABLED and not compiled()\n"
        "xy = np.array([[0.0, 0.0], [9.0, 1.0], [2.0, 8.0]])\n"
        "f = rasterize(xy, np.zeros(3), [[0, 1, 2]], 10, 10)\n"
        "print(len(f))\n"
    )
    root = Path(__file__).resolve().parents[1]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=root, check=True
    )
    assert int(out.stdout) > 20


@pytest.mark.parametrize("kind", ["centres", "halves", "anywhere"])
def test_fit_silhouettes_cover_the_same_pixels(body, bodies, kind: str) -> None:
    """fit-smpl's silhouette rasteriser (mask IoU): the compiled loop sets the same pixels
    as the numpy reference, on soups (the tie rule: pixel centres on edges and corners,
    degenerate triangles) and on bodies, both windings and one; non-finite or huge
    coordinates take the reference path."""
    from hpt_data.fitting.metrics import rasterize as silhouette

    rng = np.random.default_rng(["centres", "halves", "anywhere"].index(kind))
    cases = [(*soup(rng, n, size, kind)[::2], size) for size, n in ((16, 40), (64, 60))]
    for v in bodies[0]:
        cases.append((to_pixels(project(v, CAMERA), 512), body.faces, 512))
    wild = cases[0][0].copy()
    wild[:3, 0] = [np.nan, np.inf, 1e300]  # the numpy path's (the compiled one's fallback)
    cases.append((wild, cases[0][1], cases[0][2]))
    for xy, faces, size in cases:
        for one_side in (False, True):
            with np.errstate(invalid="ignore", over="ignore"):  # the wild case's casts
                ref = silhouette(xy, faces, size, one_side=one_side, compiled=False)
                got = silhouette(xy, faces, size, one_side=one_side)
            assert ref.any() and same(ref, got)
