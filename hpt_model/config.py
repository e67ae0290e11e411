"""Typed configuration of the hierarchical pose-transfer model.

One dataclass per concern, gathered in :class:`HPTConfig`:

- :class:`~hpt_model.variants.VariantConfig` (in :mod:`hpt_model.variants`): which parts
  of the method are on, i.e. one row of Table IV (informative maps H, S, D; part layers
  PL⁻ / PL; fine fusion F), default the full method;
- :class:`InputsConfig`: resolutions of the three stages and the heatmap channels;
- :class:`GeneratorConfig` / :class:`GeneratorsConfig`: widths and depths of the five
  Johnson-style generators (coarse, face, arm, leg, fine);
- :class:`DiscriminatorsConfig`: the multi-scale PatchGANs and the DCGAN completeness
  discriminators of the part layers;
- :class:`VolumeConfig`: the stacked-hourglass volume network (Ours-V);
- :class:`LossConfig`: loss forms and weights (λ);
- :class:`OptimConfig`: Adam and the learning-rate schedule.

Defaults are the paper's values where the paper (§III, §IV-B) gives them. Where it does not
(its supplementary hyper-parameters are not available), the default is marked "chosen" and
follows Johnson et al. / pix2pixHD, whose architectures the paper says it adopts.

``HPTConfig.to_dict()`` gives plain Python (JSON/YAML-safe) values for checkpoints and
``HPTConfig.from_dict()`` rebuilds and validates the config, rejecting unknown keys. Configs
saved before the ``variant`` section existed load as the full method; their switches
``inputs.use_parsing``, ``inputs.use_depth`` and ``loss.complete_layers`` are translated.
``preset("paper:H+S")`` gives a named preset, optionally with a Table IV row;
:func:`load_config` what a user's ``--model-config`` names (a preset or a JSON file).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpt_model.config_io import from_dict, migrate_legacy, to_plain
from hpt_model.errors import ModelConfigError
from hpt_model.variants import FULL_VARIANT, PART_KINDS, TABLE_IV_VARIANTS, VariantConfig

NUM_PARTS = 7
"""Body-part labels: 0 background, 1 head, 2 torso, 3 left arm, 4 right arm, 5 left leg,
6 right leg (DESIGN.md)."""

# The keypoints of H (the shards' ``keypoints``): SMPL's 24 joints, then nose, left eye,
# right eye, left ear, right ear (body-model vertices: the face layer's head-orientation
# cue). Left/right pairs, person's left first: hips, knees, ankles, feet, collars,
# shoulders, elbows, wrists, hands, eyes, ears; used to mirror H when the shared left/right
# part generators run on a right part.
SMPL_FLIP_PAIRS: tuple[tuple[int, int], ...] = (
    (1, 2),
    (4, 5),
    (7, 8),
    (10, 11),
    (13, 14),
    (16, 17),
    (18, 19),
    (20, 21),
    (22, 23),
)
FACE_FLIP_PAIRS: tuple[tuple[int, int], ...] = ((25, 26), (27, 28))
KEYPOINT_FLIP_PAIRS = SMPL_FLIP_PAIRS + FACE_FLIP_PAIRS
NUM_KEYPOINTS = 29  # = hpt_data.shards.schema.NUM_KEYPOINTS

NORMS = ("instance", "batch", "none")
GAN_MODES = ("bce", "lsgan")
UPSAMPLE_MODES = ("transpose", "nearest")
PRESETS = ("paper", "small", "tiny")


@dataclass
class InputsConfig:
    """Resolutions and input channels shared by every stage."""

    # H: one Gaussian heatmap per keypoint, the first num_heatmaps of the shards' keypoints
    # (29: SMPL's joints and the five face points; 24: the joints alone, earlier releases)
    num_heatmaps: int = NUM_KEYPOINTS
    heatmap_flip_pairs: tuple[tuple[int, int], ...] = KEYPOINT_FLIP_PAIRS  # left/right in H
    coarse_size: int = 512  # coarse stage, §III-A
    fine_size: int = 1024  # fine fusion stage and the frame of the part crop boxes
    face_size: int = 128  # part-layer crops at the fine scale, §III-C
    arm_size: int = 256
    leg_size: int = 512

    def part_size(self, kind: str) -> int:
        """Crop side in fine-scale pixels for ``kind`` in ``face|arm|leg``."""
        if kind not in PART_KINDS:
            raise ValueError(f"unknown part kind {kind!r}; expected one of {PART_KINDS}")
        return {"face": self.face_size, "arm": self.arm_size, "leg": self.leg_size}[kind]

    def validate(self) -> None:
        _positive("inputs.num_heatmaps", self.num_heatmaps)
        for name in ("coarse_size", "fine_size", "face_size", "arm_size", "leg_size"):
            _power_of_two(f"inputs.{name}", getattr(self, name))
        if self.fine_size % self.coarse_size != 0:
            raise ValueError(
                f"inputs.fine_size ({self.fine_size}) must be a multiple of inputs.coarse_size "
                f"({self.coarse_size}): Eq. 6 upsamples the coarse result to the fine size"
            )
        for kind in PART_KINDS:
            if self.part_size(kind) > self.fine_size:
                raise ValueError(
                    f"inputs.{kind}_size ({self.part_size(kind)}) exceeds inputs.fine_size "
                    f"({self.fine_size})"
                )
        seen: set[int] = set()
        for pair in self.heatmap_flip_pairs:
            if len(pair) != 2:
                raise ValueError(f"inputs.heatmap_flip_pairs: {pair!r} is not a pair")
            for j in pair:
                if not 0 <= j < self.num_heatmaps:
                    raise ValueError(
                        f"inputs.heatmap_flip_pairs: joint {j} out of range for "
                        f"num_heatmaps={self.num_heatmaps}; set pairs that match your joints"
                    )
                if j in seen:
                    raise ValueError(f"inputs.heatmap_flip_pairs: joint {j} appears twice")
                seen.add(j)


@dataclass
class GeneratorConfig:
    """One Johnson et al. generator: 7×7 conv, downsampling, residual blocks, upsampling."""

    ngf: int = 64  # channels after the first 7×7 conv; doubled at every downsampling
    n_downsample: int = 3  # stride-2 convs (and as many upsampling convs)
    n_blocks: int = 9  # residual blocks at the bottleneck
    max_channels: int = 1024  # cap on the doubling
    upsample: str = "transpose"  # "transpose" (Johnson) or "nearest" (resize + conv)

    def validate(self, name: str, size: int) -> None:
        _positive(f"generators.{name}.ngf", self.ngf)
        _positive(f"generators.{name}.n_downsample", self.n_downsample)
        _non_negative(f"generators.{name}.n_blocks", self.n_blocks)
        _positive(f"generators.{name}.max_channels", self.max_channels)
        _choice(f"generators.{name}.upsample", self.upsample, UPSAMPLE_MODES)
        if size % (2**self.n_downsample) != 0:
            raise ValueError(
                f"generators.{name}: input size {size} is not divisible by "
                f"2**n_downsample = {2**self.n_downsample}"
            )


@dataclass
class GeneratorsConfig:
    """The five generators. Widths and depths are chosen (not given in the paper)."""

    coarse: GeneratorConfig = field(default_factory=GeneratorConfig)  # 512: 64..512 ch, 9 blocks
    face: GeneratorConfig = field(
        default_factory=lambda: GeneratorConfig(n_downsample=2, n_blocks=6)  # 128 px
    )
    arm: GeneratorConfig = field(
        default_factory=lambda: GeneratorConfig(n_downsample=3, n_blocks=6)  # 256 px
    )
    leg: GeneratorConfig = field(default_factory=GeneratorConfig)  # 512 px
    fine: GeneratorConfig = field(
        default_factory=lambda: GeneratorConfig(ngf=32, n_downsample=4, n_blocks=9)  # 1024 px
    )
    norm: str = "instance"  # §IV-B: batch size 1, so instance norm
    offset_scale: float = 2.0  # offsets = offset_scale·tanh(·): images in [-1,1] differ by ≤ 2
    # std of the offset generators' last conv at init: small, so that they start near the
    # identity (benchmarks/offset_init.py; pix2pixHD's 0.02 starts them as noise)
    offset_init_std: float = 0.001

    def validate(self, inputs: InputsConfig) -> None:
        _choice("generators.norm", self.norm, NORMS)
        if self.offset_scale <= 0:
            raise ValueError(f"generators.offset_scale must be > 0, got {self.offset_scale}")
        if not self.offset_init_std >= 0:
            raise ValueError(f"generators.offset_init_std must be >= 0, got {self.offset_init_std}")
        self.coarse.validate("coarse", inputs.coarse_size)
        self.face.validate("face", inputs.face_size)
        self.arm.validate("arm", inputs.arm_size)
        self.leg.validate("leg", inputs.leg_size)
        self.fine.validate("fine", inputs.fine_size)


@dataclass
class DiscriminatorsConfig:
    """Multi-scale 70×70 PatchGANs (coarse, fine) and DCGAN completeness discriminators."""

    ndf: int = 64  # PatchGAN width of the first layer
    n_layers: int = 3  # 3 stride-2 layers = the 70×70 PatchGAN
    max_channels: int = 512
    coarse_num_d: int = 2  # §IV-B: two scales for the coarse stage
    fine_num_d: int = 3  # §IV-B: three scales for the fine stage
    norm: str = "instance"
    part_ndf: int = 64  # DCGAN width of the first layer
    part_max_channels: int = 512
    spectral_norm_parts: tuple[str, ...] = ("arm", "leg")  # §IV-B: SN instead of inner BN

    def validate(self, inputs: InputsConfig) -> None:
        _positive("discriminators.ndf", self.ndf)
        _positive("discriminators.n_layers", self.n_layers)
        _positive("discriminators.max_channels", self.max_channels)
        _positive("discriminators.coarse_num_d", self.coarse_num_d)
        _positive("discriminators.fine_num_d", self.fine_num_d)
        _choice("discriminators.norm", self.norm, NORMS)
        _positive("discriminators.part_ndf", self.part_ndf)
        _positive("discriminators.part_max_channels", self.part_max_channels)
        for kind in self.spectral_norm_parts:
            _choice("discriminators.spectral_norm_parts[]", kind, PART_KINDS)
        for name, size, num_d in (
            ("coarse", inputs.coarse_size, self.coarse_num_d),
            ("fine", inputs.fine_size, self.fine_num_d),
        ):
            smallest = size // 2 ** (num_d - 1)
            if smallest // 2**self.n_layers < 3:
                raise ValueError(
                    f"discriminators: the {name} PatchGAN's coarsest scale ({smallest} px) is "
                    f"too small for n_layers={self.n_layers}; lower {name}_num_d or n_layers"
                )
        for kind in PART_KINDS:
            if inputs.part_size(kind) < 8:
                raise ValueError(f"inputs.{kind}_size must be ≥ 8 for the DCGAN discriminator")


@dataclass
class VolumeConfig:
    """Stacked-hourglass volume network: (image, pose heatmaps) → 7-label voxel logits."""

    xy_size: int = 256  # voxel grid x, y = image crop at 1/4 of the fine scale (DESIGN.md)
    z_bins: int = 64  # §III-B: 256×256×64 grid
    features: int = 256  # hourglass width (Newell et al.)
    hourglass_depth: int = 4  # down/up levels inside one hourglass, at 1/4 of xy_size
    num_stacks: int = 2  # §III-B: two stacked hourglasses decode the volume
    norm: str = "batch"  # chosen: the hourglass papers use batch norm
    # the target 3D pose (§III-B): beside each keypoint's heatmap, the heatmap times the
    # keypoint's depth relative to the pelvis (metres); false: 2D heatmaps only (earlier
    # releases, whose checkpoints load so)
    pose_depth: bool = True

    def validate(self) -> None:
        _power_of_two("volume.xy_size", self.xy_size)
        _positive("volume.z_bins", self.z_bins)
        _positive("volume.features", self.features)
        _positive("volume.hourglass_depth", self.hourglass_depth)
        _positive("volume.num_stacks", self.num_stacks)
        _choice("volume.norm", self.norm, NORMS)
        if self.features % 4 != 0:
            raise ValueError(f"volume.features must be a multiple of 4, got {self.features}")
        if self.xy_size // 4 < 2**self.hourglass_depth:
            raise ValueError(
                f"volume.xy_size={self.xy_size} is too small for hourglass_depth="
                f"{self.hourglass_depth} (needs xy_size/4 ≥ 2**depth)"
            )


# Weights of the five VGG layers relu1_2 .. relu5_2, shallow to deep (see hpt_model.losses):
# the paper's Eqs. 2/5 sum them plainly; pix2pixHD weights them, a named option.
PAPER_VGG_WEIGHTS: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0)
PIX2PIXHD_VGG_WEIGHTS: tuple[float, ...] = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)
VGG_WEIGHTINGS: dict[str, tuple[float, ...]] = {
    "paper": PAPER_VGG_WEIGHTS,
    "pix2pixhd": PIX2PIXHD_VGG_WEIGHTS,
}


@dataclass
class LossConfig:
    """Loss forms and weights. The losses return unweighted values; the trainer applies λ."""

    gan_mode: str = "bce"  # "bce": the paper's log form (Eqs. 1, 4); "lsgan": least squares
    lambda_adv: float = 1.0  # Eqs. 3, 7
    lambda_fm: float = 10.0  # λ_FM, §III-D: 10 for Eqs. 3 and 7
    lambda_per: float = 10.0  # λ_per, §III-D: 10 for Eqs. 3 and 7
    lambda_layer_adv: float = 1.0  # L^n = L^n_adv + L^n_per, §III-C
    lambda_layer_per: float = 1.0
    # relu1_2 .. relu5_2: five weights, or a name of VGG_WEIGHTINGS ("paper", "pix2pixhd")
    vgg_layer_weights: tuple[float, ...] = PAPER_VGG_WEIGHTS
    vgg_weights_path: str | None = None  # torchvision vgg19 state dict; None: look in the cache
    allow_random_vgg: bool = False  # train with a random VGG if no weights are found (tests)

    def validate(self) -> None:
        _choice("loss.gan_mode", self.gan_mode, GAN_MODES)
        for name in (
            "lambda_adv",
            "lambda_fm",
            "lambda_per",
            "lambda_layer_adv",
            "lambda_layer_per",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"loss.{name} must be ≥ 0, got {getattr(self, name)}")
        if isinstance(self.vgg_layer_weights, str):
            if self.vgg_layer_weights not in VGG_WEIGHTINGS:
                raise ValueError(
                    f"loss.vgg_layer_weights: unknown weighting {self.vgg_layer_weights!r}; "
                    f"expected five numbers or one of {sorted(VGG_WEIGHTINGS)}"
                )
            self.vgg_layer_weights = VGG_WEIGHTINGS[self.vgg_layer_weights]
        if len(self.vgg_layer_weights) != 5 or any(w < 0 for w in self.vgg_layer_weights):
            raise ValueError(
                "loss.vgg_layer_weights needs 5 non-negative weights (relu1_2 .. relu5_2), "
                f"got {self.vgg_layer_weights}"
            )


@dataclass
class OptimConfig:
    """Adam and the schedule of §IV-B."""

    lr: float = 2e-4  # §IV-B
    beta1: float = 0.5  # chosen: pix2pixHD
    beta2: float = 0.999
    batch_size: int = 1  # §IV-B
    coarse_epochs: int = 10  # §IV-B
    layer_epochs: int = 20  # §IV-B
    fine_epochs: int = 10  # §IV-B
    constant_fraction: float = 0.5  # lr constant for this fraction of epochs, then linear to 0

    def validate(self) -> None:
        if self.lr <= 0:
            raise ValueError(f"optim.lr must be > 0, got {self.lr}")
        for name in ("beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"optim.{name} must be in [0, 1), got {getattr(self, name)}")
        for name in ("batch_size", "coarse_epochs", "layer_epochs", "fine_epochs"):
            _positive(f"optim.{name}", getattr(self, name))
        if not 0 <= self.constant_fraction <= 1:
            raise ValueError(
                f"optim.constant_fraction must be in [0, 1], got {self.constant_fraction}"
            )


@dataclass
class HPTConfig:
    """The whole model configuration; saved in checkpoints via :meth:`to_dict`."""

    inputs: InputsConfig = field(default_factory=InputsConfig)
    generators: GeneratorsConfig = field(default_factory=GeneratorsConfig)
    discriminators: DiscriminatorsConfig = field(default_factory=DiscriminatorsConfig)
    volume: VolumeConfig = field(default_factory=VolumeConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    variant: VariantConfig = field(default_factory=VariantConfig)  # Table IV row; default full

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first inconsistent field."""
        self.variant.validate()
        self.inputs.validate()
        self.generators.validate(self.inputs)
        self.discriminators.validate(self.inputs)
        self.volume.validate()
        self.loss.validate()
        self.optim.validate()

    @classmethod
    def paper(cls, variant: str = FULL_VARIANT) -> HPTConfig:
        """The paper's configuration (the defaults), for one Table IV row (default: full)."""
        return cls(variant=VariantConfig.from_name(variant))

    @classmethod
    def tiny(cls, variant: str = FULL_VARIANT) -> HPTConfig:
        """Small widths and resolutions for CPU tests (coarse 64, fine 128, volume 32×32×8)."""
        small = GeneratorConfig(ngf=8, n_downsample=2, n_blocks=1, max_channels=32)
        return cls(
            inputs=InputsConfig(
                coarse_size=64, fine_size=128, face_size=16, arm_size=32, leg_size=64
            ),
            generators=GeneratorsConfig(
                coarse=dataclasses.replace(small),
                face=dataclasses.replace(small),
                arm=dataclasses.replace(small),
                leg=dataclasses.replace(small),
                fine=dataclasses.replace(small),
            ),
            discriminators=DiscriminatorsConfig(
                ndf=8, max_channels=32, part_ndf=8, part_max_channels=32
            ),
            volume=VolumeConfig(xy_size=32, z_bins=8, features=16, hourglass_depth=2),
            loss=LossConfig(allow_random_vgg=True),
            variant=VariantConfig.from_name(variant),
        )

    @classmethod
    def small(cls, variant: str = FULL_VARIANT) -> HPTConfig:
        """The whole method at a quarter of the paper's resolution (coarse 128, parts 32 /
        64 / 128, fine 256, volume 64×64×16) and narrow networks, for training on a few CPU
        cores (issue 22's small-scale measurement; sizes not tuned yet)."""

        def gen(n_downsample: int) -> GeneratorConfig:
            return GeneratorConfig(ngf=16, n_downsample=n_downsample, n_blocks=3, max_channels=128)

        return cls(
            inputs=InputsConfig(
                coarse_size=128, fine_size=256, face_size=32, arm_size=64, leg_size=128
            ),
            generators=GeneratorsConfig(
                coarse=gen(3), face=gen(2), arm=gen(3), leg=gen(3), fine=gen(3)
            ),
            discriminators=DiscriminatorsConfig(
                ndf=16, max_channels=128, part_ndf=16, part_max_channels=128
            ),
            volume=VolumeConfig(xy_size=64, z_bins=16, features=32, hourglass_depth=3),
            variant=VariantConfig.from_name(variant),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (tuples become lists), JSON/YAML-safe."""
        return to_plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HPTConfig:
        """Inverse of :meth:`to_dict`; missing keys take defaults, unknown keys raise.

        A dict saved before ``variant`` existed loads as the full method, its legacy switches
        translated (see :func:`hpt_model.config_io.migrate_legacy`).
        """
        return from_dict(cls, migrate_legacy(data), "config")


def preset(spec: str) -> HPTConfig:
    """``paper`` / ``small`` / ``tiny``, optionally with a Table IV row: ``paper:H+S``,
    ``tiny:H+S+D+PL-``."""
    base, _, variant = spec.partition(":")
    if base not in PRESETS:
        raise ValueError(f"unknown preset {base!r}; expected one of {PRESETS}")
    if not variant:
        variant = FULL_VARIANT
    return {"paper": HPTConfig.paper, "small": HPTConfig.small, "tiny": HPTConfig.tiny}[base](
        variant
    )


def load_config(spec: str) -> HPTConfig:
    """The config a user names (``--model-config``): ``paper`` / ``tiny`` preset, optionally for one
    Table IV row (``paper:H+S``, ``tiny:H+S+D+PL-``; default the full method), or a JSON file
    of ``HPTConfig.to_dict()`` form. ModelConfigError (a ValueError too) naming ``spec``."""
    base = spec.partition(":")[0]
    if base in PRESETS:
        try:
            return preset(spec)
        except ValueError as exc:
            raise ModelConfigError(
                f"--model-config {spec}: {exc}; Table IV's rows: {', '.join(TABLE_IV_VARIANTS)}"
            ) from exc
    path = Path(spec)
    if not path.is_file():
        raise ModelConfigError(
            f"--model-config {spec}: neither a preset {PRESETS} (optionally ':VARIANT', e.g. "
            "paper:H+S) nor a file"
        )
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelConfigError(f"--model-config {spec}: not JSON ({exc})") from exc
    try:
        return HPTConfig.from_dict(data)
    except ValueError as exc:
        raise ModelConfigError(f"--model-config {spec}: {exc}") from exc


def _positive(name: str, value: int) -> None:
    if not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _non_negative(name: str, value: int) -> None:
    if not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")


def _power_of_two(name: str, value: int) -> None:
    _positive(name, value)
    if value & (value - 1):
        raise ValueError(f"{name} must be a power of two, got {value}")


def _choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
