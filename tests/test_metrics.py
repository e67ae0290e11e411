"""SSIM and LPIPS against their reference implementations: scikit-image's SSIM, and the
official ``lpips`` package's distances on shared deterministic weights
(``tests/data/lpips_reference.json``, made by ``tests/data/make_lpips_reference.py``)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from lpips_reference import BACKBONE_SEEDS, IMAGE_SEED, make_backbone_state, make_image_pairs

from hpt_model.metrics import MissingWeightsError
from hpt_model.metrics.lpips import BACKBONE_FILENAMES, load_lpips, torchmetrics_heads_path
from hpt_model.metrics.ssim import ssim

REFERENCE = json.loads((Path(__file__).parent / "data" / "lpips_reference.json").read_text())
PAIRS = make_image_pairs(IMAGE_SEED)


def to_uint8(x: np.ndarray) -> np.ndarray:
    return np.round((x + 1) * 127.5).astype(np.uint8)


def skimage_ssim(x: np.ndarray, y: np.ndarray, data_range: float) -> list[float]:
    """scikit-image's SSIM of each pair of a (B, 3, H, W) batch, Wang et al.'s settings."""
    from skimage.metrics import structural_similarity

    return [
        structural_similarity(
            a.transpose(1, 2, 0),
            b.transpose(1, 2, 0),
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=data_range,
            channel_axis=2,
        )
        for a, b in zip(x, y, strict=True)
    ]


# ------------------------------------------------------------------------------- SSIM


@pytest.mark.parametrize("batch", range(len(PAIRS)))
def test_ssim_matches_scikit_image(batch: int) -> None:
    x, y = PAIRS[batch]
    ref = skimage_ssim((x + 1) / 2, (y + 1) / 2, 1.0)  # intensities in [0, 1]
    ours64 = ssim(torch.from_numpy(x), torch.from_numpy(y), dtype=torch.float64)
    np.testing.assert_allclose(ours64.numpy(), ref, rtol=0, atol=1e-12)
    ours32 = ssim(torch.from_numpy(x).float(), torch.from_numpy(y).float())
    np.testing.assert_allclose(ours32.numpy(), ref, rtol=0, atol=5e-5)
    xu, yu = to_uint8(x), to_uint8(y)
    ref_u8 = skimage_ssim(xu, yu, 255)
    ours_u8 = ssim(torch.from_numpy(xu), torch.from_numpy(yu), dtype=torch.float64)
    np.testing.assert_allclose(ours_u8.numpy(), ref_u8, rtol=0, atol=1e-12)
    u8_32 = ssim(torch.from_numpy(xu), torch.from_numpy(yu))
    np.testing.assert_allclose(u8_32.numpy(), ref_u8, rtol=0, atol=5e-5)
    assert abs(ours_u8 - ours64).max() < 1e-3  # the uint8 file scores as its float image


def test_ssim_without_border_crop_is_torchmetrics_own_mean() -> None:
    from torchmetrics.functional.image import structural_similarity_index_measure

    x, y = PAIRS[0]
    ours = ssim(torch.from_numpy(x), torch.from_numpy(y), crop_border=False, dtype=torch.float64)
    unit_x, unit_y = torch.from_numpy((x + 1) / 2), torch.from_numpy((y + 1) / 2)
    theirs = structural_similarity_index_measure(unit_x, unit_y, data_range=1.0, reduction="none")
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=0, atol=1e-12)
    cropped = ssim(torch.from_numpy(x), torch.from_numpy(y), dtype=torch.float64)
    assert not torch.allclose(ours, cropped)  # the border does change the value


def test_ssim_is_one_on_identical_images_and_per_image() -> None:
    x, y = (torch.from_numpy(t) for t in PAIRS[0])
    np.testing.assert_allclose(ssim(x, x).numpy(), 1.0, atol=1e-6)
    batch = ssim(x, y)
    singles = torch.cat([ssim(x[i : i + 1], y[i : i + 1]) for i in range(x.shape[0])])
    np.testing.assert_allclose(batch.numpy(), singles.numpy(), atol=1e-7)
    assert batch[1] < min(batch[0], batch[2]) < 1  # an unrelated image scores lowest


@pytest.mark.parametrize(
    ("pred", "target", "match"),
    [
        (torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 17), "shapes differ"),
        (torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 16, dtype=torch.uint8), "types differ"),
        (torch.zeros(1, 3, 8, 16), torch.zeros(1, 3, 8, 16), "at least 11"),
        (torch.zeros(1, 1, 16, 16), torch.zeros(1, 1, 16, 16), r"\(B, 3, H, W\)"),
        (torch.full((1, 3, 16, 16), 2.0), torch.zeros(1, 3, 16, 16), r"\[-1, 1\]"),
    ],
)
def test_ssim_refuses_bad_input(pred, target, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ssim(pred, target)


# ------------------------------------------------------------------------------ LPIPS


def backbone_state(net: str, with_classifier: bool) -> dict[str, torch.Tensor]:
    state = {
        k: torch.from_numpy(v) for k, v in make_backbone_state(net, BACKBONE_SEEDS[net]).items()
    }
    if with_classifier:  # a full torchvision state dict: the classifier is ignored
        state["classifier.1.weight"] = torch.zeros(4, 4)
    return state


def heads_digest(model) -> str:
    h = hashlib.sha256()
    for head in model.heads:
        h.update(head.weight.detach().float().contiguous().numpy().tobytes())
    return h.hexdigest()


@pytest.fixture
def torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub cache: nothing of the user's is found."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path / "torch"


def test_lpips_heads_are_the_official_packages(torch_home: Path) -> None:
    assert REFERENCE["heads_equal_torchmetrics"]
    for net in ("alex", "vgg"):
        assert torchmetrics_heads_path(net) is not None
        with pytest.warns(RuntimeWarning, match="RANDOM"):
            model = load_lpips(net, allow_random=True)
        assert heads_digest(model) == REFERENCE["heads_sha256"][net]


@pytest.mark.parametrize("net", ["alex", pytest.param("vgg", marks=pytest.mark.slow)])
def test_lpips_matches_the_official_package(net: str, torch_home: Path, tmp_path: Path) -> None:
    if net == "alex":  # from torch hub's cache, a full torchvision state dict
        path = torch_home / "hub" / "checkpoints" / BACKBONE_FILENAMES[net]
        path.parent.mkdir(parents=True)
        torch.save(backbone_state(net, with_classifier=True), path)
        model = load_lpips(net)
    else:  # from an explicit path, the state dict of ``features`` alone
        path = tmp_path / "features.pth"
        feats = backbone_state(net, with_classifier=False)
        torch.save({k.removeprefix("features."): v for k, v in feats.items()}, path)
        model = load_lpips(net, backbone_path=path)
    for (x, y), ref64, ref32 in zip(
        PAIRS,
        REFERENCE["distances_float64"][net],
        REFERENCE["distances_float32"][net],
        strict=True,
    ):
        ours64 = model.double()(torch.from_numpy(x), torch.from_numpy(y))
        np.testing.assert_allclose(ours64.numpy(), ref64, rtol=1e-9)
        ours32 = model.float()(torch.from_numpy(x).float(), torch.from_numpy(y).float())
        np.testing.assert_allclose(ours32.numpy(), ref32, rtol=1e-5)
        np.testing.assert_allclose(ours32.numpy(), ref64, rtol=1e-5)
    x = torch.from_numpy(PAIRS[0][0]).float()
    np.testing.assert_allclose(model(x, x).numpy(), 0.0, atol=1e-7)
    xu = torch.from_numpy(to_uint8(PAIRS[0][0]))
    yu = torch.from_numpy(to_uint8(PAIRS[0][1]))
    from_u8 = model(xu, yu)
    from_float = model(xu.float() / 127.5 - 1, yu.float() / 127.5 - 1)
    torch.testing.assert_close(from_u8, from_float)


def test_lpips_gradients_reach_the_input_only(torch_home: Path) -> None:
    with pytest.warns(RuntimeWarning):
        model = load_lpips("alex", allow_random=True)
    x = torch.from_numpy(PAIRS[0][0]).float().requires_grad_(True)
    model(x, torch.from_numpy(PAIRS[0][1]).float()).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in model.parameters())


def test_lpips_refuses_missing_and_malformed_weights(torch_home: Path, tmp_path: Path) -> None:
    with pytest.raises(MissingWeightsError, match=r"alexnet-owt-7be5be79\.pth.*TORCH_HOME"):
        load_lpips("alex")
    with pytest.raises(MissingWeightsError, match=r"vgg16-397923af\.pth"):
        load_lpips("vgg")
    missing = tmp_path / "nowhere.pth"
    with pytest.raises(MissingWeightsError, match=r"nowhere\.pth"):
        load_lpips("alex", backbone_path=missing)
    with pytest.raises(MissingWeightsError, match="linear-head file not found"):
        load_lpips("alex", heads_path=missing)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"garbage\.pth: not a readable"):
        load_lpips("alex", backbone_path=garbage)
    wrong = tmp_path / "vgg_as_alex.pth"
    torch.save(backbone_state("vgg", with_classifier=False), wrong)
    with pytest.raises(ValueError, match=r"vgg_as_alex\.pth: not torchvision"):
        load_lpips("alex", backbone_path=wrong)
    with pytest.raises(ValueError, match="unknown LPIPS backbone"):
        load_lpips("squeeze")


def test_lpips_refuses_bad_images(torch_home: Path) -> None:
    with pytest.warns(RuntimeWarning):
        model = load_lpips("alex", allow_random=True)
    ok = torch.zeros(1, 3, 64, 64)
    with pytest.raises(ValueError, match="shapes differ"):
        model(ok, torch.zeros(1, 3, 64, 65))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        model(ok, ok + 3)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model(ok[0], ok[0])


def test_ssim_on_a_mask_scores_only_the_masked_pixels() -> None:
    from hpt_model.metrics.ssim import ssim

    gen = torch.Generator().manual_seed(0)
    truth = torch.rand(1, 3, 64, 64, generator=gen) * 2 - 1
    pred = truth.clone()
    pred[..., 32:] = torch.rand(1, 3, 64, 32, generator=gen) * 2 - 1  # right half wrong
    left = torch.zeros(1, 1, 64, 64)
    left[..., :20] = 1  # windows (11 px) centred here see only the correct half
    everywhere = torch.ones(1, 1, 64, 64)
    assert float(ssim(pred, truth, mask=left)) > 0.999
    assert float(ssim(pred, truth)) < 0.8
    assert float(ssim(pred, truth, mask=everywhere)) == pytest.approx(float(ssim(pred, truth)))
