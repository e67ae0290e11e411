"""hpt_model.inference: loading generators, one batch through coarse → layers → fusion, and
the volume projection of Ours-V. CPU, tiny config, random or hand-saved weights."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hpt_data.shards.schema import CROP, PART_LAYER_SIZE, PART_LAYERS
from hpt_model.checkpoints import (
    CHECKPOINT_VERSION,
    find_checkpoint,
    load_generators,
    save_checkpoint,
)
from hpt_model.config import HPTConfig
from hpt_model.errors import CheckpointError
from hpt_model.inference import iterate_batches, run_transfer, to_uint8, volume_to_maps
from hpt_model.networks import define_network

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py


def _items(n: int, seed: int = 0) -> list[dict]:
    """n PairDataset items (compact, as the dataset gives them) with a blocky body."""
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        labels = np.zeros((CROP, CROP), np.uint8)
        for label, (y0, y1, x0, x1) in enumerate(
            [(100, 230, 450, 580), (230, 600, 400, 620), (250, 560, 620, 700),
             (250, 560, 320, 400), (600, 950, 520, 610), (600, 950, 410, 500)],
            start=1,
        ):  # fmt: skip
            labels[y0 + 8 * i : y1, x0:x1] = label
        depth = np.where(labels > 0, 0.1 * labels, np.inf).astype(np.float16)
        boxes = np.array(
            [[500 - PART_LAYER_SIZE[p] // 2, 300, PART_LAYER_SIZE[p]] for p in PART_LAYERS],
            np.int32,
        )
        item = {
            "source_image": torch.from_numpy(rng.integers(0, 256, (3, CROP, CROP), np.uint8)),
            "source_part_boxes": torch.from_numpy(boxes),
            "target_image": torch.zeros(3, CROP, CROP, dtype=torch.uint8),
            "target_parsing": torch.from_numpy(labels),
            "target_depth": torch.from_numpy(depth)[None],
            "target_parsing_512": torch.from_numpy(labels[::2, ::2].copy()),
            "target_depth_512": torch.from_numpy(depth[::2, ::2].copy())[None],
            "target_joints2d": torch.from_numpy(rng.uniform(200, 800, (24, 2)).astype(np.float32)),
            "target_keypoints": torch.from_numpy(
                rng.uniform((200, 200, 0.1), (800, 800, 0.6), (29, 3)).astype(np.float32)
            ),
            "target_part_boxes": torch.from_numpy(boxes),
            "target_voxel_z": torch.tensor([2.0, 0.005]),
        }
        for part in PART_LAYERS:
            s = PART_LAYER_SIZE[part]
            item[f"target_layer_mask_{part}"] = torch.ones(1, s, s, dtype=torch.uint8)
            item[f"target_layer_depth_{part}"] = torch.full((1, s, s), 0.2, dtype=torch.float16)
        items.append(item)
    return items


@pytest.fixture(scope="module")
def gens():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_generators(None, HPTConfig.tiny(), volume=True, allow_random=True)


# --------------------------------------------------------------------------- Ours-V


def test_volume_to_maps_takes_the_front_most_label_by_hand() -> None:
    z_bins, x = 8, 4
    labels = torch.zeros(1, z_bins, x, x, dtype=torch.long)
    labels[0, 3, 0, 0] = 2  # torso at bin 3
    labels[0, 5, 0, 0] = 4  # an arm behind it: hidden
    labels[0, 6, 1, 2] = 5  # a leg alone at bin 6
    labels[0, 0, 3, 3] = 1  # the head at the front bin
    logits = F.one_hot(labels, 7).permute(0, 4, 1, 2, 3).float()  # (1, 7, Z, X, X)
    z0, dz64 = 2.0, 0.01  # the shards' 64-bin frame: 8 bins of the net span 8 of those each
    parsing, depth = volume_to_maps(logits, torch.tensor([[z0, dz64]]))
    assert parsing.shape == (1, x, x) and depth.shape == (1, 1, x, x)
    want = np.zeros((x, x), np.int64)
    want[0, 0], want[1, 2], want[3, 3] = 2, 5, 1
    np.testing.assert_array_equal(parsing[0].numpy(), want)
    d = depth[0, 0].numpy()
    assert d[0, 0] == pytest.approx(2.0 + 3.5 * 0.08)
    assert d[1, 2] == pytest.approx(2.0 + 6.5 * 0.08)
    assert d[3, 3] == pytest.approx(2.0 + 0.5 * 0.08)
    assert np.isposinf(d[want == 0]).all()


def test_volume_to_maps_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="voxel_z"):
        volume_to_maps(torch.zeros(2, 7, 4, 8, 8), torch.zeros(1, 2))
    with pytest.raises(ValueError, match="logits"):
        volume_to_maps(torch.zeros(7, 4, 8, 8), torch.zeros(1, 2))


# --------------------------------------------------------------------------- loading


def test_no_weights_is_a_clear_error_and_random_weights_warn() -> None:
    with pytest.raises(CheckpointError, match="--allow-random-model"):
        load_generators(None, HPTConfig.tiny())
    with pytest.warns(UserWarning, match="RANDOM WEIGHTS"):
        gens = load_generators(None, HPTConfig.tiny(), allow_random=True)
    assert gens.random and set(gens.origin) == {"coarse", "layers", "fine"}


def test_generators_load_from_a_run_folder(tmp_path: Path) -> None:
    config = HPTConfig.tiny()
    torch.manual_seed(7)
    models = {n: define_network(n, config).state_dict() for n in ("coarse", "layers", "fine")}
    state = {
        "version": CHECKPOINT_VERSION,
        "stage": "e2e",
        "models": models,
        "config": config.to_dict(),
        "settings": {"heatmap_sigma": 16.0},
    }
    save_checkpoint(tmp_path / "run" / "e2e" / "final.pt", state)
    assert find_checkpoint(tmp_path / "run") == tmp_path / "run" / "e2e" / "final.pt"
    gens = load_generators(tmp_path / "run")
    assert not gens.random and gens.heatmap_sigma == 16.0
    loaded = gens.nets["fine"].state_dict()
    for key, value in models["fine"].items():
        torch.testing.assert_close(loaded[key], value)
    # a coarse-stage checkpoint lacks the other generators: named in the error
    save_checkpoint(
        tmp_path / "coarse.pt", {**state, "stage": "coarse", "models": {"coarse": models["coarse"]}}
    )
    with pytest.raises(CheckpointError, match=r"coarse.pt: a 'coarse' checkpoint holds no layers"):
        load_generators(tmp_path / "coarse.pt")
    with pytest.raises(CheckpointError, match="needs the volume network"):
        load_generators(tmp_path / "run", volume=True)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="empty: no checkpoint in the folder"):
        load_generators(tmp_path / "empty")
    with pytest.raises(CheckpointError, match="missing: no such checkpoint"):
        load_generators(tmp_path / "missing")


# --------------------------------------------------------------------------- running


def test_one_batch_gives_every_intermediate_and_eq6_holds(gens) -> None:
    batch = next(iterate_batches(_items(2), 2))
    out = run_transfer(gens, batch)
    fine, coarse = gens.config.inputs.fine_size, gens.config.inputs.coarse_size
    assert out.final.shape == (2, 3, fine, fine)
    assert out.coarse.shape == (2, 3, coarse, coarse)
    assert set(out.layers) == set(PART_LAYERS) == set(out.offsets)
    for part in PART_LAYERS:
        size = gens.config.inputs.part_size(part.split("_")[-1])
        assert out.layers[part].shape == (2, 3, size, size)
    # Eq. 6 by hand: İ_t = up(Ĩ_t) + Σ_n paste(Ǐ^n_t) ⊙ S^n_t, then I_t = İ_t + Ǐ_t
    want = F.interpolate(out.coarse, size=(fine, fine), mode="bilinear", align_corners=False)
    label = {"face": 1, "left_arm": 3, "right_arm": 4, "left_leg": 5, "right_leg": 6}
    for part, offset in out.offsets.items():
        for b in range(2):
            x0, y0, s = (int(v) for v in out.boxes[part][b])
            canvas = torch.zeros(3, fine + 2 * s, fine + 2 * s)
            canvas[:, y0 + s : y0 + 2 * s, x0 + s : x0 + 2 * s] = offset[b]
            mask = out.fine_maps.parsing[b, label[part]]
            want[b] += canvas[:, s : s + fine, s : s + fine] * mask
    torch.testing.assert_close(out.initial, want, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.final, out.initial + out.refinement)
    images = to_uint8(out.final)
    assert images.shape == (2, fine, fine, 3) and images.dtype == torch.uint8


def test_a_batch_gives_what_its_items_give_alone(gens) -> None:
    items = _items(2)
    both = run_transfer(gens, next(iterate_batches(items, 2))).final
    for i, item in enumerate(items):
        alone = run_transfer(gens, next(iterate_batches([item], 1))).final
        torch.testing.assert_close(both[i : i + 1], alone, atol=1e-4, rtol=1e-4)


def test_volume_maps_replace_the_smpl_maps(gens) -> None:
    batch = next(iterate_batches(_items(1), 1))
    smpl = run_transfer(gens, batch)
    ours_v = run_transfer(gens, batch, volume=True)
    assert ours_v.volume is not None
    v = gens.volume_config.volume
    assert ours_v.volume.logits.shape == (1, 7, v.z_bins, v.xy_size, v.xy_size)
    # the fine-size S the generators saw is the volume's S, upsampled (1024/32 px per voxel
    # column, 1024/128 px per fine pixel: each fine pixel lies inside one column)
    fine = gens.config.inputs.fine_size
    seen = ours_v.fine_maps.parsing[0].argmax(0)
    want = F.interpolate(ours_v.volume.parsing[None].float(), size=(fine, fine), mode="nearest")
    np.testing.assert_array_equal(seen.numpy(), want[0, 0].long().numpy())
    assert not torch.equal(smpl.fine_maps.parsing, ours_v.fine_maps.parsing)
    with pytest.raises(ValueError, match="target_voxel_z"):
        run_transfer(gens, {k: v for k, v in batch.items() if k != "target_voxel_z"}, volume=True)


@pytest.mark.parametrize("variant", ["H+S+D", "H+S+D+PL"])
def test_table_iv_variants_run_as_far_as_they_go(variant: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gens = load_generators(None, HPTConfig.tiny(variant), allow_random=True)
    out = run_transfer(gens, next(iterate_batches(_items(1), 1)))
    fine = gens.config.inputs.fine_size
    assert out.final.shape == (1, 3, fine, fine) and out.refinement is None
    if variant == "H+S+D":  # no part layers: the coarse result, upsampled
        assert set(gens.nets) == {"coarse"} and not out.layers and out.initial is None
        up = F.interpolate(out.coarse, size=(fine, fine), mode="bilinear", align_corners=False)
        torch.testing.assert_close(out.final, up)
    else:  # part layers without F: Eq. 6 is the result
        assert set(gens.nets) == {"coarse", "layers"} and set(out.layers) == set(PART_LAYERS)
        torch.testing.assert_close(out.final, out.initial)
