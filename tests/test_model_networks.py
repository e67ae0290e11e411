"""Networks, losses, VGG and config of hpt_model (CPU, tiny preset; paper config at small size)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from hpt_data.errors import HptError
from hpt_model.config import HPTConfig, InputsConfig
from hpt_model.losses import (
    GANLoss,
    VGGPerceptualLoss,
    feature_matching_loss,
    perceptual_distance,
    volume_cross_entropy,
)
from hpt_model.networks import (
    NETWORK_NAMES,
    NLayerDiscriminator,
    PartCrops,
    define_network,
    define_networks,
)
from hpt_model.networks.discriminators import patchgan_layer_specs, receptive_field
from hpt_model.networks.fusion import crop_boxes, initial_fusion, paste_box, paste_offsets
from hpt_model.networks.generator import get_norm_layer
from hpt_model.vgg import MissingWeightsError, VGG19Features, load_vgg19

torch.manual_seed(0)
J = 29  # H: SMPL's 24 joints and 5 face keypoints
# SMPL left/right joint pairs, written out here independently of the package.
SMPL_PAIRS = [(1, 2), (4, 5), (7, 8), (10, 11), (13, 14), (16, 17), (18, 19), (20, 21), (22, 23)]
FACE_PAIRS = [(25, 26), (27, 28)]  # eyes, ears


@pytest.fixture(scope="module")
def tiny() -> HPTConfig:
    return HPTConfig.tiny()


def _maps(batch: int, size: int, num_heatmaps: int = J) -> dict[str, torch.Tensor]:
    labels = torch.randint(0, 7, (batch, size, size))
    return {
        "source": torch.rand(batch, 3, size, size) * 2 - 1,
        "parsing": F.one_hot(labels, 7).permute(0, 3, 1, 2).float(),
        "depth": torch.rand(batch, 1, size, size),
        "heatmaps": torch.rand(batch, num_heatmaps, size, size),
    }


def _crops(batch: int, size: int, with_other: bool) -> PartCrops:
    m = _maps(batch, size)
    return PartCrops(
        source=m["source"],
        parsing=m["parsing"],
        depth=m["depth"],
        heatmaps=m["heatmaps"],
        coarse=torch.rand(batch, 3, size, size) * 2 - 1,
        other_source=torch.rand(batch, 3, size, size) * 2 - 1 if with_other else None,
    )


def _n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# --------------------------------------------------------------------------- config


def test_config_round_trips_through_json_and_rejects_bad_values() -> None:
    for cfg in (HPTConfig.paper(), HPTConfig.tiny()):
        data = json.loads(json.dumps(cfg.to_dict()))
        assert HPTConfig.from_dict(data) == cfg
    assert HPTConfig.paper().inputs.num_heatmaps == J
    assert HPTConfig.paper().loss.lambda_fm == HPTConfig.paper().loss.lambda_per == 10.0
    with pytest.raises(ValueError, match="unknown key"):
        HPTConfig.from_dict({"inputs": {"num_joints": 17}})
    with pytest.raises(ValueError, match=r"multiple of inputs\.coarse_size"):
        HPTConfig(inputs=InputsConfig(coarse_size=512, fine_size=256, leg_size=256))
    with pytest.raises(ValueError, match="heatmap_flip_pairs"):
        HPTConfig(inputs=InputsConfig(num_heatmaps=17))  # SMPL pairs index joint 23
    with pytest.raises(ValueError, match=r"generators\.norm"):
        HPTConfig.from_dict({"generators": {"norm": "group"}})
    with pytest.raises(ValueError, match="not divisible"):
        HPTConfig.from_dict({"generators": {"face": {"n_downsample": 8}}})


def test_define_network_rejects_unknown_names(tiny: HPTConfig) -> None:
    with pytest.raises(ValueError, match="unknown network 'generator'"):
        define_network("generator", tiny)
    assert set(define_networks(tiny).keys()) == set(NETWORK_NAMES)


def test_model_package_imports_without_data_dependencies() -> None:
    # hpt_data.errors is the project's one error base (HptError), a dependency-free module
    code = (
        "import sys, hpt_model.networks, hpt_model.losses, hpt_model.vgg, hpt_model.config\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('hpt_data', 'mediapipe', 'pyrender', 'torchvision') "
        "and m not in ('hpt_data', 'hpt_data.errors')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --------------------------------------------------------------------------- generators


@pytest.mark.parametrize(
    ("use_parsing", "use_depth", "in_channels"),
    [(False, False, 3 + J), (True, False, 3 + 7 + J), (True, True, 3 + 7 + 1 + J)],
)
def test_coarse_generator_ablation_variants(
    use_parsing: bool, use_depth: bool, in_channels: int
) -> None:
    data = HPTConfig.tiny().to_dict()
    data["variant"]["maps"] = ["H"] + ["S"] * use_parsing + ["D"] * use_depth
    cfg = HPTConfig.from_dict(data)
    net = define_network("coarse", cfg)
    assert net.net.in_channels == in_channels
    m = _maps(2, 64)
    out = net(m["source"], m["heatmaps"], m["parsing"], m["depth"])
    assert out.shape == (2, 3, 64, 64)
    assert out.abs().max() <= 1.0
    if use_parsing:
        with pytest.raises(ValueError, match="parsing is required"):
            net(m["source"], m["heatmaps"], None, m["depth"])


def test_part_layers_shapes_and_offset_range(tiny: HPTConfig) -> None:
    layers = define_network("layers", tiny)
    sizes = {"face": 16, "left_arm": 32, "right_arm": 32, "left_leg": 64, "right_leg": 64}
    crops = {p: _crops(2, s, with_other=p != "face") for p, s in sizes.items()}
    out = layers(crops)
    for part, size in sizes.items():
        assert out[part].shape == (2, 3, size, size)
        assert out[part].abs().max() <= tiny.generators.offset_scale
    with pytest.raises(ValueError, match="other_source"):
        layers.run_part("left_arm", _crops(1, 32, with_other=False))
    with pytest.raises(ValueError, match="unknown part"):
        layers.run_part("tail", crops["face"])


def test_left_and_right_share_one_generator(tiny: HPTConfig) -> None:
    layers = define_network("layers", tiny)
    for kind in ("arm", "leg"):
        left, right = layers.generator_for(f"left_{kind}"), layers.generator_for(f"right_{kind}")
        assert left is right
        assert {id(p) for p in left.parameters()} == {id(p) for p in right.parameters()}
    per_kind = sum(_n_params(layers.generator_for(p)) for p in ("face", "left_arm", "left_leg"))
    assert _n_params(layers) == per_kind  # three generators, not five


@pytest.mark.parametrize(("kind", "size"), [("arm", 32), ("leg", 64)])
def test_right_part_is_the_mirror_of_the_left_part(tiny: HPTConfig, kind: str, size: int) -> None:
    layers = define_network("layers", tiny).eval()
    left = _crops(1, size, with_other=True)
    heat_perm = list(range(J))
    for a, b in SMPL_PAIRS + FACE_PAIRS:
        heat_perm[a], heat_perm[b] = b, a
    s_perm = [0, 1, 2, 4, 3, 6, 5]

    def flip(x: torch.Tensor) -> torch.Tensor:
        return x.flip(-1)

    # What a right part looks like when it is exactly the mirror image of the left one.
    right = PartCrops(
        source=flip(left.source),
        parsing=flip(left.parsing[:, s_perm]),
        depth=flip(left.depth),
        heatmaps=flip(left.heatmaps[:, heat_perm]),
        coarse=flip(left.coarse),
        other_source=flip(left.other_source),
    )
    with torch.no_grad():
        out_left = layers.run_part(f"left_{kind}", left)
        out_right = layers.run_part(f"right_{kind}", right)
        unswapped = PartCrops(
            source=right.source,
            parsing=flip(left.parsing),
            depth=right.depth,
            heatmaps=flip(left.heatmaps),
            coarse=right.coarse,
            other_source=right.other_source,
        )
        out_unswapped = layers.run_part(f"right_{kind}", unswapped)
    torch.testing.assert_close(out_right, flip(out_left), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(out_unswapped, flip(out_left), atol=1e-4)  # the swap matters


def test_fine_fusion_output_is_initial_plus_offset(tiny: HPTConfig) -> None:
    fine = define_network("fine", tiny)
    m = _maps(1, 128)
    coarse = torch.rand(1, 3, 64, 64) * 2 - 1
    offsets = {"face": torch.rand(1, 3, 16, 16), "left_leg": torch.rand(1, 3, 64, 64)}
    boxes = {"face": torch.tensor([[56, 4, 16]]), "left_leg": torch.tensor([[70, 60, 64]])}
    out = fine(coarse, offsets, boxes, m["parsing"], m["depth"], m["heatmaps"])
    assert out.image.shape == out.initial.shape == out.offset.shape == (1, 3, 128, 128)
    torch.testing.assert_close(out.image, out.initial + out.offset)
    torch.testing.assert_close(out.initial, initial_fusion(coarse, offsets, boxes, m["parsing"]))
    assert out.offset.abs().max() <= 2.0


# --------------------------------------------------------------------------- Eq. 6


def test_paste_offsets_matches_hand_computation() -> None:
    canvas = torch.zeros(1, 1, 4, 5)
    offset_a = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]], requires_grad=True)
    offset_b = torch.tensor([[[[10.0, 20.0], [30.0, 40.0]]]])
    mask_a = torch.ones(1, 1, 4, 5)
    mask_a[0, 0, 2, 2] = 0.0  # an occluded pixel of part a
    mask_b = torch.ones(1, 1, 4, 5)
    # a at x0=1, y0=2; b half outside the frame at x0=-1, y0=0 (only its right column lands)
    boxes = [torch.tensor([[1, 2, 2]]), torch.tensor([[-1, 0, 2]])]
    out = paste_offsets(canvas, [offset_a, offset_b], boxes, [mask_a, mask_b])
    expected = torch.tensor(
        [
            [20.0, 0.0, 0.0, 0.0, 0.0],
            [40.0, 0.0, 0.0, 0.0, 0.0],
            [0.0, 1.0, 0.0, 0.0, 0.0],
            [0.0, 3.0, 4.0, 0.0, 0.0],
        ]
    )
    torch.testing.assert_close(out[0, 0], expected)
    out.sum().backward()
    torch.testing.assert_close(offset_a.grad[0, 0], torch.tensor([[1.0, 0.0], [1.0, 1.0]]))


def test_initial_fusion_upsamples_coarse_and_masks_by_part_channel() -> None:
    coarse = torch.full((1, 3, 4, 4), 0.5)
    labels = torch.zeros(1, 8, 8, dtype=torch.long)
    labels[0, :4, :4] = 1  # head in the top-left quadrant
    labels[0, 4:, 4:] = 3  # left arm bottom-right
    parsing = F.one_hot(labels, 7).permute(0, 3, 1, 2).float()
    offsets = {"face": torch.ones(1, 3, 4, 4), "left_arm": torch.full((1, 3, 4, 4), -1.0)}
    boxes = {"face": torch.tensor([[2, 2, 4]]), "left_arm": torch.tensor([[4, 4, 4]])}
    out = initial_fusion(coarse, offsets, boxes, parsing)
    expected = torch.full((8, 8), 0.5)
    expected[2:4, 2:4] += 1.0  # face box ∩ head mask
    expected[4:, 4:] -= 1.0  # arm box ∩ arm mask
    for c in range(3):
        torch.testing.assert_close(out[0, c], expected)


def test_crop_then_paste_restores_the_patch() -> None:
    image = torch.arange(2 * 3 * 10 * 10, dtype=torch.float32).view(2, 3, 10, 10)
    boxes = torch.tensor([[2, 3, 4], [-2, 7, 4]])  # second box sticks out left and bottom
    crops = crop_boxes(image, boxes)
    assert crops.shape == (2, 3, 4, 4)
    torch.testing.assert_close(crops[0], image[0, :, 3:7, 2:6])
    assert crops[1, :, :, :2].abs().sum() == 0 and crops[1, :, 3:, :].abs().sum() == 0
    torch.testing.assert_close(crops[1, :, :3, 2:], image[1, :, 7:10, 0:2])
    pasted = paste_box(crops, boxes, 10, 10)
    torch.testing.assert_close(pasted[0, :, 3:7, 2:6], image[0, :, 3:7, 2:6])
    assert pasted[0].abs().sum() == image[0, :, 3:7, 2:6].abs().sum()


# --------------------------------------------------------------------------- discriminators


def test_patchgan_receptive_field_is_70_analytically_and_empirically() -> None:
    assert receptive_field(patchgan_layer_specs(3)) == 70
    net = NLayerDiscriminator(6, ndf=4, n_layers=3, norm_layer=get_norm_layer("none"))
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    specs = [(m.kernel_size[0], m.stride[0]) for m in convs]
    assert specs == patchgan_layer_specs(3)
    assert receptive_field(specs) == 70
    x = torch.randn(1, 6, 128, 128, requires_grad=True)
    logits = net(x)[-1]
    i = logits.shape[-1] // 2
    logits[0, 0, i, i].backward()
    touched = x.grad.abs().sum(dim=(0, 1)) > 0
    rows, cols = touched.any(dim=1).nonzero(), touched.any(dim=0).nonzero()
    assert rows.min() > 0 and rows.max() < 127  # the field lies inside the input
    assert int(rows.max() - rows.min() + 1) == 70
    assert int(cols.max() - cols.min() + 1) == 70


def test_multiscale_discriminators_return_features_per_scale(tiny: HPTConfig) -> None:
    for name, size, num_d in (("coarse_d", 64, 2), ("fine_d", 128, 3)):
        disc = define_network(name, tiny)
        feats = disc(torch.randn(2, 3, size, size), torch.randn(2, 3, size, size))
        assert len(feats) == num_d
        for k, scale in enumerate(feats):
            assert len(scale) == tiny.discriminators.n_layers + 2
            s = size // 2**k // 2**tiny.discriminators.n_layers - 2  # two 4×4 s1 convs, pad 1
            assert scale[-1].shape == (2, 1, s, s)
        with pytest.raises(ValueError, match="share batch and spatial size"):
            disc(torch.randn(1, 3, size, size), torch.randn(1, 3, size // 2, size // 2))


def test_part_discriminators_spectral_norm_only_in_arm_and_leg(tiny: HPTConfig) -> None:
    for kind, size in (("face", 16), ("arm", 32), ("leg", 64)):
        disc = define_network(f"{kind}_d", tiny)
        out = disc(torch.randn(2, 3, size, size), torch.randn(2, 3, size, size))
        assert out.shape == (2, 1)
        convs = [m for m in disc.modules() if isinstance(m, nn.Conv2d)]
        assert len(convs) == int(math.log2(size)) - 2 + 1
        sn = [parametrize.is_parametrized(c, "weight") for c in convs]
        has_bn = any(isinstance(m, nn.BatchNorm2d) for m in disc.modules())
        if kind == "face":
            assert not any(sn) and has_bn
        else:
            # every inner conv (not the first, not the last) is spectrally normalised
            assert sn == [False] + [True] * (len(convs) - 2) + [False] and not has_bn
        with pytest.raises(ValueError):
            disc(torch.randn(1, 3, size * 2, size * 2), torch.randn(1, 3, size * 2, size * 2))


# --------------------------------------------------------------------------- volume


def test_volume_network_tiny_shapes_and_cross_entropy(tiny: HPTConfig) -> None:
    net = define_network("volume", tiny)
    logits = net(torch.randn(2, 3, 32, 32), torch.rand(2, 2 * J, 32, 32))  # 3D pose
    assert logits.shape == (2, 7, 8, 32, 32)
    target = torch.randint(0, 7, (2, 8, 32, 32), dtype=torch.uint8)
    loss = volume_cross_entropy(logits, target)
    assert loss.ndim == 0 and torch.isfinite(loss)
    # uniform logits: cross-entropy = log 7 whatever the labels
    torch.testing.assert_close(
        volume_cross_entropy(torch.zeros_like(logits), target), torch.tensor(math.log(7.0))
    )
    # the reshape puts head channel c·Z + z at label c, depth bin z
    head_out = net.head(torch.zeros(1, tiny.volume.features, 8, 8))
    reshaped = head_out.view(1, 7, 8, 32, 32)
    torch.testing.assert_close(reshaped[0, 2, 5], head_out[0, 2 * 8 + 5])
    with pytest.raises(ValueError):
        volume_cross_entropy(logits, target[:, :4])


# --------------------------------------------------------------------------- paper config


def _johnson_params(cin: int, ngf: int, n_down: int, n_blocks: int, cap: int = 1024) -> int:
    w = [min(ngf * 2**i, cap) for i in range(n_down + 1)]
    total = cin * w[0] * 49 + w[0]
    total += sum(w[i] * w[i + 1] * 9 + w[i + 1] for i in range(n_down))
    total += n_blocks * 2 * (w[-1] * w[-1] * 9 + w[-1])
    total += sum(w[i + 1] * w[i] * 9 + w[i] for i in range(n_down))
    return total + w[0] * 3 * 49 + 3


def test_paper_config_networks_parameter_counts_and_shapes() -> None:
    cfg = HPTConfig.paper()
    nets = define_networks(cfg)
    g = cfg.generators
    assert _n_params(nets["coarse"]) == _johnson_params(3 + 7 + 1 + J, 64, 3, 9)
    layer_expected = (
        _johnson_params(3 + 7 + 1 + J + 3, g.face.ngf, g.face.n_downsample, g.face.n_blocks)
        + _johnson_params(3 + 7 + 1 + J + 6, g.arm.ngf, g.arm.n_downsample, g.arm.n_blocks)
        + _johnson_params(3 + 7 + 1 + J + 6, g.leg.ngf, g.leg.n_downsample, g.leg.n_blocks)
    )
    assert _n_params(nets["layers"]) == layer_expected
    assert _n_params(nets["fine"]) == _johnson_params(3 + 7 + 1 + J, 32, 4, 9)
    # PatchGAN: 6→64→128→256→512→1, 4×4 convs, instance norm without affine
    patch = 6 * 64 * 16 + 64 + 64 * 128 * 16 + 128 + 128 * 256 * 16 + 256
    patch += 256 * 512 * 16 + 512 + 512 * 16 + 1
    assert _n_params(nets["coarse_d"]) == 2 * patch
    assert _n_params(nets["fine_d"]) == 3 * patch

    with torch.no_grad():
        m = _maps(1, 64)  # generators are fully convolutional: run at 64 px
        assert nets["coarse"](m["source"], m["heatmaps"], m["parsing"], m["depth"]).shape == (
            1,
            3,
            64,
            64,
        )
        offs = nets["layers"]({"face": _crops(1, 32, False), "right_leg": _crops(1, 64, True)})
        assert offs["face"].shape == (1, 3, 32, 32) and offs["right_leg"].shape == (1, 3, 64, 64)
        fine = nets["fine"](
            torch.zeros(1, 3, 32, 32),
            {"right_leg": offs["right_leg"]},
            {"right_leg": torch.tensor([[0, 0, 64]])},
            m["parsing"],
            m["depth"],
            m["heatmaps"],
        )
        assert fine.image.shape == (1, 3, 64, 64)
        feats = nets["fine_d"](torch.zeros(1, 3, 256, 256), torch.zeros(1, 3, 256, 256))
        assert [f[-1].shape[-1] for f in feats] == [30, 14, 6]
        for kind, size in (("face", 128), ("arm", 256), ("leg", 512)):
            x = torch.zeros(1, 3, size, size)
            assert nets[f"{kind}_d"](x, x).shape == (1, 1)
        logits = nets["volume"].eval()(torch.zeros(1, 3, 256, 256), torch.zeros(1, 2 * J, 256, 256))
        assert logits.shape == (1, 7, 64, 256, 256)


# --------------------------------------------------------------------------- VGG

EXPECTED_VGG19_KEYS = [
    f"features.{i}.{p}"
    for i in (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)
    for p in ("weight", "bias")
]


@pytest.fixture(scope="module")
def random_vgg() -> VGG19Features:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_vgg19(None, allow_random=True)


def test_vgg_state_dict_keys_match_torchvision(random_vgg: VGG19Features) -> None:
    state = random_vgg.state_dict()
    assert list(state) == EXPECTED_VGG19_KEYS
    assert state["features.0.weight"].shape == (64, 3, 3, 3)
    assert state["features.34.weight"].shape == (512, 512, 3, 3)
    feats = random_vgg(torch.zeros(1, 3, 32, 32))
    assert [f.shape[1:] for f in feats] == [
        (64, 32, 32),
        (128, 16, 16),
        (256, 8, 8),
        (512, 4, 4),
        (512, 2, 2),
    ]


def test_load_vgg19_refuses_without_weights_and_allows_random(
    tmp_path, monkeypatch: pytest.MonkeyPatch, random_vgg: VGG19Features
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    missing = tmp_path / "nope.pth"
    with pytest.raises(MissingWeightsError, match="--allow-random-vgg") as info:
        load_vgg19(str(missing), allow_random=False)
    assert isinstance(info.value, HptError)  # the project's one user-facing error base
    assert str(missing) in str(info.value) and "vgg19-dcbb9e9d.pth" in str(info.value)
    with pytest.warns(RuntimeWarning, match="RANDOM weights"):
        model = load_vgg19(None, allow_random=True)
    assert not any(p.requires_grad for p in model.parameters())
    assert not model.train().training  # stays frozen in eval mode

    # a full torchvision-style state dict (features + classifier) saved from a random model
    full = dict(random_vgg.state_dict())
    full["classifier.0.weight"] = torch.zeros(2, 2)
    full["classifier.0.bias"] = torch.zeros(2)
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(full, cache / "vgg19-dcbb9e9d.pth")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # found weights: no warning
        loaded = load_vgg19(None, allow_random=False)
    for key, value in random_vgg.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value)
    # a bare ``vgg19().features`` state dict at an explicit path loads too
    bare = {k.removeprefix("features."): v for k, v in random_vgg.state_dict().items()}
    torch.save(bare, tmp_path / "bare.pth")
    again = load_vgg19(str(tmp_path / "bare.pth"))
    torch.testing.assert_close(again.features[34].bias, random_vgg.features[34].bias)


# --------------------------------------------------------------------------- losses


def test_perceptual_loss_masking(random_vgg: VGG19Features) -> None:
    loss = VGGPerceptualLoss(random_vgg)
    pred = (torch.rand(1, 3, 32, 32) * 2 - 1).requires_grad_(True)
    target = torch.rand(1, 3, 32, 32) * 2 - 1
    full = loss(pred, target)
    assert full > 0
    assert loss(pred, target, torch.zeros(1, 1, 32, 32)) == 0
    torch.testing.assert_close(loss(pred, target, torch.ones(1, 1, 32, 32)), full)
    half = torch.zeros(1, 1, 32, 32)
    half[..., :16] = 1.0
    masked = loss(pred, target, half)
    assert not torch.isclose(masked, full)
    masked.backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert all(p.grad is None for p in random_vgg.parameters())


def test_perceptual_distance_weights_and_mask_by_hand() -> None:
    a = [torch.zeros(1, 2, 4, 4), torch.zeros(1, 1, 2, 2)]
    b = [torch.ones(1, 2, 4, 4), torch.full((1, 1, 2, 2), 3.0)]
    torch.testing.assert_close(perceptual_distance(a, b, [0.5, 2.0]), torch.tensor(0.5 + 6.0))
    b[0][..., 0, 0] = 5.0  # differs only at the top-left pixel, inside the mask below
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2, :2] = 1.0  # covers the top-left 2×2 at 4×4 and one pixel at 2×2
    # layer 0: (5 + 1 + 1 + 1) per channel over 4 pixels → 2; layer 1: 3 at the one pixel
    torch.testing.assert_close(perceptual_distance(a, b, [1.0, 1.0], mask), torch.tensor(5.0))


def test_gan_loss_matches_hand_computed_bce_and_lsgan() -> None:
    logits = torch.tensor([[[[0.0, 2.0], [-1.0, 3.0]]]])
    xs = [0.0, 2.0, -1.0, 3.0]
    real = sum(math.log1p(math.exp(-x)) for x in xs) / 4  # -log σ(x)
    fake = sum(math.log1p(math.exp(x)) for x in xs) / 4  # -log(1 - σ(x))
    bce = GANLoss("bce")
    torch.testing.assert_close(bce(logits, True), torch.tensor(real))
    torch.testing.assert_close(bce(logits, False), torch.tensor(fake))
    # multi-scale features: the last map of each scale, summed over scales
    multi = [[torch.randn(1, 4, 3, 3), logits], [torch.randn(1, 4, 2, 2), torch.zeros(1, 1, 2, 2)]]
    torch.testing.assert_close(bce(multi, True), torch.tensor(real + math.log(2.0)))
    ls = GANLoss("lsgan")
    torch.testing.assert_close(ls(logits, True), torch.tensor(sum((x - 1) ** 2 for x in xs) / 4))
    torch.testing.assert_close(ls(logits, False), torch.tensor(sum(x**2 for x in xs) / 4))
    with pytest.raises(ValueError, match="unknown GAN mode"):
        GANLoss("wgan")


def test_feature_matching_loss_by_hand() -> None:
    real = [
        [torch.zeros(1, 2, 2, 2), torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 1, 1)],
        [torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 1, 1), torch.full((1, 1, 1, 1), 9.0)],
    ]
    fake = [
        [torch.ones(1, 2, 2, 2), torch.full((1, 1, 2, 2), 3.0), torch.full((1, 1, 1, 1), 7.0)],
        [torch.full((1, 1, 2, 2), 2.0), torch.zeros(1, 1, 1, 1), torch.zeros(1, 1, 1, 1)],
    ]
    real[0][0].requires_grad_(True)
    # 1/num_D · 4/L per layer (L = 2 intermediate layers here); logits (last) skipped
    expected = 0.5 * 2.0 * (1.0 + 3.0) + 0.5 * 2.0 * (2.0 + 0.0)
    loss = feature_matching_loss(fake, real)
    torch.testing.assert_close(loss, torch.tensor(expected))
    assert not loss.requires_grad  # real features are detached


def test_offset_generators_start_near_the_identity() -> None:
    """A new part layer or fine generator leaves the image it refines almost unchanged
    (``generators.offset_init_std``); pix2pixHD's std on the last conv made it add noise of
    mean magnitude ~0.55 (benchmarks/offset_init.py)."""
    from hpt_model.networks.generator import ResnetGenerator

    config = HPTConfig.small()
    x = torch.randn(1, 20, 64, 64)
    magnitude = {}
    for std in (config.generators.offset_init_std, 0.02):
        torch.manual_seed(0)
        net = ResnetGenerator.from_config(
            config.generators.arm, 20, output="offset", offset_init_std=std
        )
        with torch.no_grad():
            magnitude[std] = float(net(x).abs().mean())
    assert magnitude[config.generators.offset_init_std] < 0.1, magnitude
    assert magnitude[0.02] > 0.3, magnitude
