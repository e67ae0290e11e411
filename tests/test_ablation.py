"""Table IV's ablation variants (issue 10): H; H+S; H+S+D; +PL⁻; +PL; +F, as configs that
build, train stage by stage and produce their final image, on CPU with small configs.

The two ``ablation_*_before.json`` fixtures were written with the code as it was before the
``variant`` section existed: ``HPTConfig.paper().to_dict()``, and for every network of the
``tiny`` and ``paper`` presets the number of state-dict tensors, their total size and a
SHA-256 of the sorted ``"key:shape"`` lines. They pin that saved configs and checkpoints
of the full method keep loading.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import default_collate
from train_records import TinyFeatures, small_config, write_train_shards
from typer.testing import CliRunner

from hpt_model.cli import app
from hpt_model.config import HPTConfig, load_config
from hpt_model.data import PairDataset
from hpt_model.method import build_stage_inputs, final_image, forward_stage, run_fine
from hpt_model.networks import define_network, define_networks, variant_network_names
from hpt_model.networks.fusion import crop_boxes
from hpt_model.networks.layers import PART_LABEL
from hpt_model.training import StageTrainer, TrainingError, TrainSettings
from hpt_model.variants import FULL_VARIANT, TABLE_IV_VARIANTS, VariantConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py

DATA = Path(__file__).parent / "data"
J = 29  # H: 24 joints and 5 face keypoints
ALL_TRAINED_STAGES = ("coarse", "face", "arm", "leg", "fine", "e2e")

# Written out by hand from §IV-D: what each row of Table IV has.
ROWS = {
    "H": (("H",), "none", False),
    "H+S": (("H", "S"), "none", False),
    "H+S+D": (("H", "S", "D"), "none", False),
    "H+S+D+PL-": (("H", "S", "D"), "incomplete", False),
    "H+S+D+PL": (("H", "S", "D"), "complete", False),
    "H+S+D+PL+F": (("H", "S", "D"), "complete", True),
}
STAGES_OF = {
    "H": ("coarse",),
    "H+S": ("coarse",),
    "H+S+D": ("coarse",),
    "H+S+D+PL-": ("coarse", "face", "arm", "leg"),
    "H+S+D+PL": ("coarse", "face", "arm", "leg"),
    "H+S+D+PL+F": ALL_TRAINED_STAGES,
}
MAP_CHANNELS = {"H": J, "H+S": 7 + J}  # S one-hot 7, D 1, H one per joint
MAP_CHANNELS.update({v: 7 + 1 + J for v in TABLE_IV_VARIANTS if v.startswith("H+S+D")})


def variant_config(variant: str) -> HPTConfig:
    """``small_config()`` (the test_training sizes) for one Table IV row."""
    data = small_config().to_dict()
    data["variant"] = VariantConfig.from_name(variant).__dict__
    return HPTConfig.from_dict(data)


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    shards = write_train_shards(tmp_path_factory.mktemp("ablation_shards"), 2, 3)
    dataset = PairDataset(shards)
    return [dataset[i] for i in range(len(dataset))]


@pytest.fixture(scope="module")
def batch(pairs: list[dict]) -> dict:
    return default_collate(pairs[:2])


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize("variant", TABLE_IV_VARIANTS)
def test_every_row_parses_names_itself_and_round_trips(variant: str) -> None:
    maps, layers, fusion = ROWS[variant]
    for config in (
        HPTConfig.tiny(variant),
        HPTConfig.paper(variant),
        load_config(f"tiny:{variant}"),
    ):
        assert set(config.variant.maps) == set(maps)
        assert (config.variant.layers, config.variant.fusion) == (layers, fusion)
        assert config.variant.name == variant
        assert config.variant.stages() == (*STAGES_OF[variant], "volume")
        assert HPTConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_variant_names_accept_the_papers_spelling() -> None:
    assert VariantConfig.from_name("H + S + D + PL⁻").layers == "incomplete"
    assert VariantConfig.from_name("F+PL+D+S+H").name == FULL_VARIANT
    assert VariantConfig.from_name("full") == VariantConfig()
    assert HPTConfig.paper() == HPTConfig() and HPTConfig().variant.name == FULL_VARIANT
    assert load_config("paper") == HPTConfig.paper()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("H+X", "expected distinct parts"),
        ("H+S+S", "expected distinct parts"),
        ("S+D", "must contain 'H'"),
        ("H+F", "fusion needs part layers"),
        ("H+PL+PL-", "exclude each other"),
    ],
)
def test_bad_variant_names_are_refused_clearly(name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        VariantConfig.from_name(name)
    with pytest.raises(ValueError, match=r"--model-config tiny:.*Table IV's rows: H, H\+S"):
        load_config(f"tiny:{name}")


def test_bad_variant_sections_name_the_field(tmp_path: Path) -> None:
    for section, message in [
        ({"layers": "partial"}, r"variant\.layers must be one of"),
        ({"maps": ["H", "Q"]}, r"variant\.maps"),
        ({"fusion": "yes"}, r"variant\.fusion must be true or false"),
        ({"colour": 1}, r"config\.variant: unknown key"),
    ]:
        with pytest.raises(ValueError, match=message):
            HPTConfig.from_dict({"variant": section})
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"variant": {"layers": "partial"}}))
    with pytest.raises(ValueError, match=rf"--model-config {path}: variant\.layers"):
        load_config(str(path))


def test_a_full_config_saved_before_variants_existed_loads_as_the_full_method() -> None:
    saved = json.loads((DATA / "ablation_full_config_before.json").read_text())
    assert "variant" not in saved and saved["loss"]["complete_layers"] is True
    config = HPTConfig.from_dict(saved)
    then = HPTConfig.paper().to_dict()  # that release's paper config: 24 joints in H, a 2D
    then["inputs"].update(
        num_heatmaps=24, heatmap_flip_pairs=then["inputs"]["heatmap_flip_pairs"][:9]
    )
    then["volume"]["pose_depth"] = False  # volume pose, pix2pixHD's VGG weights
    then["loss"]["vgg_layer_weights"] = "pix2pixhd"
    assert config == HPTConfig.from_dict(then)  # it loads as it was trained
    assert config.variant.name == FULL_VARIANT
    assert "use_parsing" not in config.to_dict()["inputs"]  # re-saved in the new form


def test_legacy_switches_translate_to_the_variant() -> None:
    saved = json.loads((DATA / "ablation_full_config_before.json").read_text())
    saved["inputs"].update(use_parsing=False, use_depth=False)
    saved["loss"]["complete_layers"] = False
    variant = HPTConfig.from_dict(saved).variant
    assert (variant.maps, variant.layers, variant.fusion) == (("H",), "incomplete", True)
    saved["variant"] = {"layers": "complete"}
    with pytest.raises(ValueError, match="legacy key"):
        HPTConfig.from_dict(saved)


def _layout(net: torch.nn.Module) -> dict:
    state = net.state_dict()
    listing = "".join(f"{k}:{tuple(v.shape)}\n" for k, v in sorted(state.items()))
    return {
        "tensors": len(state),
        "numel": sum(v.numel() for v in state.values()),
        "sha256": hashlib.sha256(listing.encode()).hexdigest(),
    }


def data_pairs_24() -> list[list[int]]:
    """The 24-joint release's flip pairs (SMPL's left/right joints)."""
    return [list(p) for p in HPTConfig.paper().inputs.heatmap_flip_pairs[:9]]


@pytest.mark.parametrize("preset", ["tiny", "paper"])
def test_full_method_networks_keep_their_state_dict_layout(preset: str) -> None:
    """Checkpoints of the full method saved before variants existed still fit (built on the
    meta device: shapes only, no memory)."""
    before = json.loads((DATA / "ablation_state_dict_layout_before.json").read_text())[preset]
    data = (HPTConfig.tiny() if preset == "tiny" else HPTConfig.paper()).to_dict()
    for key in ("heatmap_flip_pairs", "num_heatmaps"):  # as those checkpoints' configs hold
        del data["inputs"][key]
    del data["volume"]["pose_depth"]
    data["inputs"].update(num_heatmaps=24, heatmap_flip_pairs=data_pairs_24())
    config = HPTConfig.from_dict(data)
    with torch.device("meta"):
        nets = define_networks(config, tuple(before))
    assert {name: _layout(net) for name, net in nets.items()} == before


# --------------------------------------------------------------------------- networks


def _first_conv_channels(net: torch.nn.Module) -> int:
    return next(m for m in net.modules() if isinstance(m, torch.nn.Conv2d)).in_channels


@pytest.mark.parametrize("variant", TABLE_IV_VARIANTS)
def test_networks_take_the_channels_of_their_maps(variant: str) -> None:
    config = HPTConfig.tiny(variant)
    _, layers, fusion = ROWS[variant]
    want = {"coarse", "coarse_d", "volume"}
    if layers != "none":
        want.add("layers")
    if layers == "complete":
        want |= {"face_d", "arm_d", "leg_d"}
    if fusion:
        want |= {"fine", "fine_d"}
    assert set(variant_network_names(config)) == want
    nets = define_networks(config, [n for n in ("coarse", "layers", "fine") if n in want])
    maps = MAP_CHANNELS[variant]
    assert _first_conv_channels(nets["coarse"]) == 3 + maps  # I_s + maps
    if "layers" in nets:
        gens = nets["layers"].generators
        assert _first_conv_channels(gens["face"]) == 3 + maps + 3  # I_s^n, maps, Ĩ^n
        assert _first_conv_channels(gens["arm"]) == 3 + maps + 3 + 3  # + the other side
        assert _first_conv_channels(gens["leg"]) == 3 + maps + 3 + 3
    if "fine" in nets:
        assert _first_conv_channels(nets["fine"]) == 3 + maps  # İ_t + maps
    for name in sorted({"layers", "fine", "face_d", "fine_d"} - want):
        with pytest.raises(ValueError, match=re.escape(f"not part of variant {variant};")):
            define_network(name, config)


def test_h_only_coarse_generator_ignores_absent_maps() -> None:
    net = define_network("coarse", HPTConfig.tiny("H"))
    source, heatmaps = torch.rand(1, 3, 64, 64) * 2 - 1, torch.rand(1, J, 64, 64)
    out = net(source, heatmaps, None, None)
    assert out.shape == (1, 3, 64, 64)
    with pytest.raises(ValueError, match="heatmaps"):
        net(source, heatmaps[:, :7])


# --------------------------------------------------------------------------- training


def _settings(stage: str, **kw) -> TrainSettings:
    base = dict(tensorboard=False, progress=False, num_workers=0, device="cpu", batch_size=2)
    return TrainSettings(stage=stage, out=Path("unused"), **{**base, **kw})


def _weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _changed(before: dict[str, torch.Tensor], module: torch.nn.Module) -> bool:
    return any(not torch.equal(v, before[k]) for k, v in module.state_dict().items())


@pytest.mark.parametrize("variant", TABLE_IV_VARIANTS)
def test_each_stage_of_a_variant_steps_and_the_others_refuse(variant: str, batch: dict) -> None:
    torch.manual_seed(0)
    config = variant_config(variant)
    for stage in STAGES_OF[variant]:
        trainer = StageTrainer(_settings(stage), config, features=TinyFeatures())
        trainer.total_steps = 1
        trained = {"coarse": "coarse", "face": "layers", "arm": "layers", "leg": "layers"}
        trained.update(fine="fine", e2e="fine")
        name = trained[stage]
        before = _weights(trainer.nets[name])
        losses = trainer.train_step(trainer.inputs(batch))
        assert losses and all(math.isfinite(float(v)) for v in losses.values()), losses
        assert _changed(before, trainer.nets[name]), (variant, stage)
        if stage in ("face", "arm", "leg"):
            complete = config.variant.layers == "complete"
            assert ("g_adv" in losses) == complete  # Eq. 1 only for PL
            assert (f"{stage}_d" in trainer.nets) == complete
            assert (trainer.bank is not None) == complete
            assert set(trainer.optimizers) == ({"g", "d"} if complete else {"g"})
    for stage in sorted(set(ALL_TRAINED_STAGES) - set(STAGES_OF[variant])):
        with pytest.raises(TrainingError, match=f"stage '{stage}' is not part of variant"):
            StageTrainer(_settings(stage), config, features=TinyFeatures())


def test_the_cli_refuses_a_stage_the_variant_lacks_in_one_line(tmp_path: Path) -> None:
    for stage, variant, lacks in [
        ("face", "H+S", "part-based layers"),
        ("fine", "H+S+D+PL", "fine-scale fusion"),
        ("e2e", "H+S+D+PL-", "fine-scale fusion"),
    ]:
        args = ["train", "--stage", stage, "-m", f"tiny:{variant}", "--data", str(tmp_path)]
        result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "run"), "--device", "cpu"])
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1, lines
        assert lines[0].startswith(f"error: stage '{stage}' is not part of variant {variant}")
        assert lacks in lines[0]


def test_layer_inputs_and_forward_refuse_without_part_layers(batch: dict) -> None:
    config = variant_config("H+S+D")
    with pytest.raises(ValueError, match="no part-based layers"):
        build_stage_inputs(batch, config, "arm")
    nets = define_networks(config, ["coarse"])
    inputs = build_stage_inputs(batch, config, "coarse")
    with pytest.raises(ValueError, match="no part-based layers"):
        forward_stage("arm", config, nets, inputs)


def test_a_pl_minus_layer_checkpoint_does_not_feed_a_pl_fine_stage(
    batch: dict, tmp_path: Path
) -> None:
    from hpt_model.checkpoints import save_checkpoint

    minus = StageTrainer(_settings("face"), variant_config("H+S+D+PL-"), features=TinyFeatures())
    save_checkpoint(tmp_path / "face.pt", minus.state_dict())
    coarse = StageTrainer(
        _settings("coarse"), variant_config(FULL_VARIANT), features=TinyFeatures()
    )
    save_checkpoint(tmp_path / "coarse.pt", coarse.state_dict())
    s = _settings(
        "fine",
        coarse_checkpoint=tmp_path / "coarse.pt",
        face_checkpoint=tmp_path / "face.pt",
        arm_checkpoint=tmp_path / "face.pt",
        leg_checkpoint=tmp_path / "face.pt",
    )
    full = StageTrainer(s, variant_config(FULL_VARIANT), features=TinyFeatures())
    with pytest.raises(TrainingError, match="trained as 'incomplete' part layers"):
        full.load_required()


# --------------------------------------------------------------------------- PL⁻ vs PL


def test_pl_layers_see_the_complete_part_and_pl_minus_the_visible_one(pairs: list[dict]) -> None:
    """PL's S^n_t is the crop with the complete part map on top; PL⁻'s the visible crop. The
    training records hide some arms behind the torso, so the two differ there."""
    full = build_stage_inputs(default_collate(pairs), variant_config("H+S+D+PL"), "fine")
    minus = build_stage_inputs(default_collate(pairs), variant_config("H+S+D+PL-"), "fine")
    assert minus.fine is not None
    occluded_pixels = 0.0
    for part, p in full.parts.items():
        label = PART_LABEL[part]
        visible_crop = crop_boxes(minus.fine.parsing, p.box)
        torch.testing.assert_close(minus.parts[part].parsing, visible_crop)
        assert torch.allclose(p.parsing.sum(1), torch.ones_like(p.parsing[:, 0]), atol=1e-5)
        assert bool((p.parsing[:, label] >= p.complete[:, 0].clamp(0, 1) - 1e-5).all())
        outside = (p.complete == 0).expand_as(p.parsing)
        assert torch.equal(p.parsing[outside], visible_crop[outside])
        occluded_pixels += float((p.complete[:, 0] - visible_crop[:, label]).clamp_min(0).sum())
        assert torch.equal(p.visible, minus.parts[part].visible)  # Eq. 2/6 masks: visible
    assert occluded_pixels > 10  # the records do hide parts, so PL and PL⁻ do differ


# --------------------------------------------------------------------------- final image


@pytest.mark.parametrize("variant", TABLE_IV_VARIANTS)
def test_the_final_image_of_each_variant(variant: str, batch: dict) -> None:
    torch.manual_seed(0)
    config = variant_config(variant)
    names = [n for n in ("coarse", "layers", "fine") if n in variant_network_names(config)]
    nets = define_networks(config, names).eval()
    inputs = build_stage_inputs(batch, config, "fine")
    with torch.no_grad():
        out = final_image(config, nets, inputs)
    fine = config.inputs.fine_size
    assert out.coarse.shape == (2, 3, config.inputs.coarse_size, config.inputs.coarse_size)
    assert out.final.shape == (2, 3, fine, fine)
    up = F.interpolate(out.coarse, size=(fine, fine), mode="bilinear", align_corners=False)
    _, layers, fusion = ROWS[variant]
    if layers == "none":  # H, H+S, H+S+D: the coarse result upsampled, nothing else
        torch.testing.assert_close(out.final, up)
        assert out.layers == {} and out.initial is None and out.offset is None
    else:
        assert out.initial is not None and set(out.layers) == set(inputs.parts)
        # Eq. 6 changes the upsampled coarse image only where a part is visible
        assert inputs.fine is not None
        masks = inputs.fine.parsing[:, [1, 3, 4, 5, 6]].sum(1, keepdim=True)
        away = (masks == 0).expand_as(up)
        torch.testing.assert_close(out.initial[away], up[away])
        assert not torch.allclose(out.initial, up)
    if layers != "none" and not fusion:
        assert out.offset is None and out.final is out.initial
        with pytest.raises(ValueError, match="no fine generator"):
            run_fine(nets, inputs, out.coarse, out.layers)
    if fusion:
        assert out.offset is not None and out.initial is not None
        torch.testing.assert_close(out.final, out.initial + out.offset)
    shown = forward_stage("fine", config, nets, inputs)
    torch.testing.assert_close(shown["final"], out.final)
    assert ("initial" in shown) == (layers != "none")
