"""The fit benchmark's pieces: Anny posed by its own skinning, the versioned clip set, the
depth-order figure; and the per-model hip offset (the built-in model and a user's SMPL file
take the same path)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from fit_bench.clips import DISTANCE_RANGE, FOV_RANGE, TILT_RANGE, plan  # noqa: E402
from fit_bench.evaluate import SEGMENTS, depth_order  # noqa: E402


def test_clip_set_is_fixed_and_its_splits_differ() -> None:
    a, b = plan(), plan()
    assert a == b  # seeded: the same set every time
    dev = {p.motion_type: p for p in a if p.split == "dev"}
    test = {p.motion_type: p for p in a if p.split == "test"}
    assert set(dev) == set(test) and "multiview" in dev
    for mt in dev:
        assert dev[mt].phenotype != test[mt].phenotype
        assert dev[mt].seed != test[mt].seed
    assert len(dev["multiview"].views) == 4
    for p in a:
        assert all(0.0 <= x <= 1.0 for x in p.phenotype)
        for v in p.views:
            assert FOV_RANGE[0] <= v.fov_deg <= FOV_RANGE[1]
            assert TILT_RANGE[0] <= v.tilt_deg <= TILT_RANGE[1]
    assert DISTANCE_RANGE == (1.5, 6.0)
    with pytest.raises(ValueError, match="unknown splits"):
        plan(("train",))


def test_depth_order_scores_crossing_limbs() -> None:
    """Left forearm crossing in front of the right one: a prediction with the same order
    scores 1, the mirrored depths 0; segments far apart in the image are not counted (a
    limb's width at 3 m with a 10-pixel focal length is 0.27 px)."""
    px = np.zeros((1, 24, 2))
    cam = np.zeros((1, 24, 3))
    cam[..., 2] = 3.0
    (l0, l1), (r0, r1) = SEGMENTS["l_forearm"], SEGMENTS["r_forearm"]
    px[0, l0], px[0, l1] = (0, 0), (10, 10)
    px[0, r0], px[0, r1] = (0, 10), (10, 0)
    for j in range(24):  # every other joint at one far point: no other crossing
        if j not in (l0, l1, r0, r1):
            px[0, j] = (5000, 5000)
    cam[0, [l0, l1], 2] = 2.8  # the left forearm is nearer
    flipped = cam.copy()
    flipped[0, [l0, l1], 2], flipped[0, [r0, r1], 2] = 3.0, 2.8
    got = depth_order(
        px, cam, {"same": (cam, SEGMENTS), "flipped": (flipped, SEGMENTS)}, focal_px=10.0
    )
    assert got == {"same": [1.0], "flipped": [0.0]}


@pytest.fixture(scope="module")
def builtin():
    from hpt_data.body import load_body_model

    return load_body_model()


def test_hip_offset_comes_from_the_models_geometry(builtin, tmp_path: Path) -> None:
    from hpt_data.body import load_body_model
    from hpt_data.body.smpl_layer import builtin_smpl_arrays, save_smpl_pkl
    from hpt_data.fitting.fitter import Fitter
    from hpt_data.fitting.landmarks import hip_offset_for

    off = hip_offset_for(builtin)
    # MediaPipe's hips were measured 0.2-2.8 cm inside the built-in hip joints
    assert -0.028 < off[0] < -0.002 and off[1:] == (0.0, 0.0)
    # a user's file takes the same path: the built-in model saved as an SMPL .pkl
    arrays = builtin_smpl_arrays()
    same = load_body_model(save_smpl_pkl(arrays, tmp_path / "same.pkl"))
    assert hip_offset_for(same) == pytest.approx(off, abs=1e-6)
    # a body 20 % wider gets its own offset (every width scales: so does the offset)
    arrays["v_template"] = arrays["v_template"] * np.array([1.2, 1.0, 1.0])
    wide = load_body_model(save_smpl_pkl(arrays, tmp_path / "wide.pkl"))
    assert hip_offset_for(wide)[0] == pytest.approx(1.2 * off[0], abs=2e-3)
    assert Fitter(wide).hip_offset == hip_offset_for(wide)


def test_anny_skinned_body_is_anny_not_the_fitters_model(builtin) -> None:
    import torch

    from hpt_data.body.anny_skinned import AnnySkinnedBody
    from hpt_data.body.joint_limits import sample_random_poses
    from hpt_data.sources.synthetic.people import _anny

    anny, arrays = _anny()
    model = builtin.double()
    pose = sample_random_poses(4, seed=3)
    orient = np.tile([np.pi, 0.0, 0.0], (4, 1))
    body = AnnySkinnedBody(anny, arrays, arrays["reference_phenotype"], model)
    out = body.forward(body_pose=pose, global_orient=orient)
    with torch.no_grad():
        ref = model(
            betas=torch.zeros(4, 10, dtype=torch.float64),
            body_pose=torch.as_tensor(pose),
            global_orient=torch.as_tensor(orient),
        )
    # at the template's phenotype Anny's bone heads are the model's joints (< 5 mm) ...
    dj = np.linalg.norm(out.joints.numpy() - ref.joints[:, :24].numpy(), axis=-1)
    assert dj.max() < 0.005
    # ... but its own skinning moves the surface differently somewhere (> 5 mm)
    dv = np.linalg.norm(out.vertices.numpy() - ref.vertices.numpy(), axis=-1)
    assert dv.max() > 0.005 and np.median(dv) < 0.005
    # a phenotype outside the fitter's shape space: a short, heavy person
    small = AnnySkinnedBody(anny, arrays, np.array([0.0, 0.3, 1.0, 1.0, 0.0, 1.0]), model)
    height = np.ptp(small.forward(body_pose=np.zeros((1, 69))).vertices.numpy()[0, :, 1])
    assert 0.9 < height < 1.5
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        AnnySkinnedBody(anny, arrays, np.full(6, 1.5), model)


def test_docs_table_is_the_one_the_results_make() -> None:
    import json

    import fit_anny as bench

    results = json.loads(bench.RESULTS.read_text())
    doc = bench.DOC.read_text()
    table = doc.split(bench.BEGIN, 1)[1].split(bench.END, 1)[0].strip()
    assert table == bench.doc_table(results), "run: benchmarks/fit_anny.py --table-only"
