"""One optimisation step per stage, returning its losses as a dict of named tensors.

=======  =====================================  ============================  ==============
stage    trained                                frozen                        losses
=======  =====================================  ============================  ==============
coarse   coarse, coarse_d (2 scales)            —                             Eq. 3
face     layers.face, face_d (DCGAN, BN)        coarse                        Eqs. 1, 2
arm      layers.arm, arm_d (DCGAN, SN)          coarse                        Eqs. 1, 2
leg      layers.leg, leg_d (DCGAN, SN)          coarse                        Eqs. 1, 2
fine     fine, fine_d (3 scales)                coarse, layers                Eq. 7
e2e      coarse, layers, fine, fine_d           —                             Eq. 7
volume   volume                                 —                             cross-entropy
=======  =====================================  ============================  ==============

A GAN step updates the discriminator first (real vs the detached fake, the two terms
averaged as pix2pixHD does), then the generator against the updated discriminator, whose
parameters are frozen meanwhile. The layer stages run both sides of a limb through the one
shared generator and show the discriminator both, right parts mirrored into the left frame;
their real samples come from :class:`~hpt_model.training.bank.CompletePartBank`. The
end-to-end stage fine-tunes every generator through Eq. 7 on the final image only (the paper
says no more).

Table IV's variants (``config.variant``) change what exists, not how a step works: a stage
the variant lacks is refused (:meth:`~hpt_model.config.VariantConfig.check_stage`); with
PL⁻ (``variant.layers == "incomplete"``) the layer stages have no completeness
discriminator and use the unmasked perceptual loss against the ground-truth crop.
:func:`final_image` runs the variant's whole method: the coarse result upsampled (no
layers), Eq. 6 (layers, no F) or Eq. 6 and the fine generator (the full method).

All weights λ come from :class:`~hpt_model.config.LossConfig`. Every returned tensor is
detached, so a caller may keep them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hpt_model.config import NUM_PARTS, HPTConfig
from hpt_model.losses import (
    VGGPerceptualLoss,
    feature_matching_loss,
    gan_loss,
    volume_cross_entropy,
)
from hpt_model.networks import PartCrops, variant_network_names
from hpt_model.networks.fusion import FusionOutput, crop_boxes, initial_fusion
from hpt_model.networks.layers import MIRRORED_PARTS
from hpt_model.training.bank import CompletePartBank
from hpt_model.training.inputs import (
    LAYER_STAGES,
    MapSet,
    PartInputs,
    StageInputs,
    stage_parts,
)

Losses = dict[str, Tensor]

STAGE_NETWORKS: dict[str, tuple[str, ...]] = {
    "coarse": ("coarse", "coarse_d"),
    "face": ("coarse", "layers", "face_d"),
    "arm": ("coarse", "layers", "arm_d"),
    "leg": ("coarse", "layers", "leg_d"),
    "fine": ("coarse", "layers", "fine", "fine_d"),
    "e2e": ("coarse", "layers", "fine", "fine_d"),
    "volume": ("volume",),
}
DISCRIMINATOR: dict[str, str | None] = {
    "coarse": "coarse_d",
    "face": "face_d",
    "arm": "arm_d",
    "leg": "leg_d",
    "fine": "fine_d",
    "e2e": "fine_d",
    "volume": None,
}
FROZEN: dict[str, tuple[str, ...]] = {
    "face": ("coarse",),
    "arm": ("coarse",),
    "leg": ("coarse",),
    "fine": ("coarse", "layers"),
}


def stage_networks(stage: str, config: HPTConfig) -> tuple[str, ...]:
    """The networks ``stage`` builds in ``config``'s variant (ValueError if the variant has
    no such stage)."""
    if stage not in STAGE_NETWORKS:
        raise ValueError(f"unknown stage {stage!r}; expected one of {tuple(STAGE_NETWORKS)}")
    config.variant.check_stage(stage)
    present = set(variant_network_names(config))
    return tuple(name for name in STAGE_NETWORKS[stage] if name in present)


def generator_parameters(stage: str, nets: nn.ModuleDict) -> list[nn.Parameter]:
    """The parameters the stage's generator optimiser updates."""
    if stage == "coarse":
        return list(nets["coarse"].parameters())
    if stage in LAYER_STAGES:
        return list(nets["layers"].generators[stage].parameters())
    if stage == "fine":
        return list(nets["fine"].parameters())
    if stage == "e2e":
        return [p for name in ("coarse", "layers", "fine") for p in nets[name].parameters()]
    if stage == "volume":
        return list(nets["volume"].parameters())
    raise ValueError(f"unknown stage {stage!r}")


def discriminator_parameters(stage: str, nets: nn.ModuleDict) -> list[nn.Parameter]:
    """The stage discriminator's parameters; none if the stage (or, for PL⁻, the variant)
    has no discriminator."""
    name = DISCRIMINATOR[stage]
    return [] if name is None or name not in nets else list(nets[name].parameters())


def prepare_networks(stage: str, nets: nn.ModuleDict) -> None:
    """Only the stage's trained parameters require gradients; frozen networks go to eval."""
    trained = {id(p) for p in generator_parameters(stage, nets)}
    trained |= {id(p) for p in discriminator_parameters(stage, nets)}
    for p in nets.parameters():
        p.requires_grad_(id(p) in trained)
    nets.train()
    for name in FROZEN.get(stage, ()):
        nets[name].eval()


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Parameters of ``module`` need no gradient inside the block (restored after)."""
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags, strict=True):
            p.requires_grad_(flag)


# --------------------------------------------------------------------------- forward passes


def run_coarse(nets: Mapping[str, nn.Module], maps: MapSet) -> Tensor:
    """Ĩ_t (B, 3, c, c) from the coarse-size maps."""
    return nets["coarse"](maps.source, maps.heatmaps, maps.parsing, maps.depth)


def upsample(image: Tensor, size: int) -> Tensor:
    """(B, 3, h, w) → (B, 3, size, size), bilinear (Eq. 6's ``up``)."""
    if image.shape[-1] == size:
        return image
    return F.interpolate(image, size=(size, size), mode="bilinear", align_corners=False)


def run_layers(
    nets: Mapping[str, nn.Module], parts: Mapping[str, PartInputs], coarse: Tensor, fine_size: int
) -> dict[str, tuple[Tensor, Tensor]]:
    """part → (offset Ǐ^n_t, layer Ĩ^n_t + Ǐ^n_t), each (B, 3, s, s) in the part's own frame.

    Every part goes through one call of the layers module's ``forward`` (not ``run_part``):
    a DistributedDataParallel wrapper synchronises gradients only of what its forward ran.
    """
    up = upsample(coarse, fine_size)
    crops = {
        part: PartCrops(
            source=p.source,
            parsing=p.parsing,
            depth=p.depth,
            heatmaps=p.heatmaps,
            coarse=crop_boxes(up, p.box),
            other_source=p.other_source,
        )
        for part, p in parts.items()
    }
    offsets = nets["layers"](crops)
    return {part: (offsets[part], crops[part].coarse + offsets[part]) for part in parts}


def run_fine(
    nets: Mapping[str, nn.Module],
    inputs: StageInputs,
    coarse: Tensor,
    layers: Mapping[str, tuple[Tensor, Tensor]],
) -> FusionOutput:
    """Eq. 6 and the fine generator on the fine-size maps (variants with F only)."""
    fine = _need(inputs.fine, "fine maps")
    if "fine" not in nets:
        raise ValueError(
            "run_fine: no fine generator among the networks (a variant without F?); "
            "use final_image, which stops at Eq. 6 for such variants"
        )
    offsets = {part: offset for part, (offset, _) in layers.items()}
    boxes = {part: inputs.parts[part].box for part in layers}
    return nets["fine"](coarse, offsets, boxes, fine.parsing, fine.depth, fine.heatmaps)


def fuse_layers(
    inputs: StageInputs, coarse: Tensor, layers: Mapping[str, tuple[Tensor, Tensor]]
) -> Tensor:
    """Eq. 6 alone: İ_t (B, 3, F, F), the upsampled coarse result plus the part offsets
    masked by their visible parsing channel (the final image of a variant without F)."""
    fine = _need(inputs.fine, "fine maps")
    offsets = {part: offset for part, (offset, _) in layers.items()}
    boxes = {part: inputs.parts[part].box for part in layers}
    return initial_fusion(coarse, offsets, boxes, fine.parsing)


@dataclass
class MethodOutput:
    """The method's result for one config's variant, with every intermediate it made."""

    coarse: Tensor  # (B, 3, c, c) Ĩ_t
    final: Tensor  # (B, 3, F, F) the variant's result at the fine size (not clamped)
    layers: dict[str, tuple[Tensor, Tensor]] = field(default_factory=dict)  # part → (Ǐ^n, I^n)
    initial: Tensor | None = None  # (B, 3, F, F) İ_t of Eq. 6 (variants with part layers)
    offset: Tensor | None = None  # (B, 3, F, F) the fine generator's Ǐ_t (variants with F)


def final_image(
    config: HPTConfig, nets: Mapping[str, nn.Module], inputs: StageInputs
) -> MethodOutput:
    """The method's final image for ``config.variant``, from ``build_stage_inputs(batch,
    config, "fine")`` and the variant's generators (coarse; layers; fine):

    - no part layers (H, H+S, H+S+D): the coarse result, bilinearly upsampled to the fine size;
    - part layers, no F (H+S+D+PL⁻, H+S+D+PL): Eq. 6, İ_t, with no fine generator;
    - the full method: Eq. 6 refined by the fine generator, I_t = İ_t + Ǐ_t.

    Gradients flow unless the caller disables them (``forward_stage`` does).
    """
    variant = config.variant
    fine_size = config.inputs.fine_size
    coarse = run_coarse(nets, _need(inputs.coarse, "coarse maps"))
    if not variant.has_layers:
        return MethodOutput(coarse=coarse, final=upsample(coarse, fine_size))
    missing = sorted(set(stage_parts("fine", config)) - set(inputs.parts))
    if missing:
        raise ValueError(
            f"final_image: the inputs lack part(s) {missing}; build them for stage 'fine'"
        )
    layers = run_layers(nets, inputs.parts, coarse, fine_size)
    if not variant.fusion:
        initial = fuse_layers(inputs, coarse, layers)
        return MethodOutput(coarse=coarse, final=initial, layers=layers, initial=initial)
    fused = run_fine(nets, inputs, coarse, layers)
    return MethodOutput(
        coarse=coarse,
        final=fused.image,
        layers=layers,
        initial=fused.initial,
        offset=fused.offset,
    )


def to_left_frame(x: Tensor, part: str) -> Tensor:
    """Mirror right parts horizontally (the shared generators' and discriminators' frame)."""
    return torch.flip(x, dims=(-1,)) if part in MIRRORED_PARTS else x


def masked_l1(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean |pred − target| over (B, 3, H, W), or over the (B, 1, H, W) mask's support."""
    diff = (pred.float() - target.float()).abs()
    if mask is None:
        return diff.mean()
    m = mask.float()
    return (diff * m).sum() / (m.sum() * diff.shape[1]).clamp_min(1e-8)


def _need(value, what: str):
    if value is None:
        raise ValueError(f"the stage inputs lack the {what}")
    return value


# --------------------------------------------------------------------------- the step


@dataclass
class StepContext:
    """What a step needs besides its inputs.

    ``nets`` are the networks themselves; ``replicas`` is what a step *calls* to train them:
    under torchrun, each trained network wrapped in DistributedDataParallel (whose backward
    averages the gradients over the ranks), frozen ones as they are
    (:func:`~hpt_model.training.distributed.replicate_trained`); None in a single process.
    A discriminator judging the generator's output (its weights frozen) is called
    unwrapped, so that its wrapper expects no gradients in that backward pass.
    """

    stage: str
    config: HPTConfig
    nets: nn.ModuleDict
    optimizers: dict[str, torch.optim.Optimizer]  # "g" and, for GAN stages, "d"
    vgg_loss: VGGPerceptualLoss | None
    bank: CompletePartBank | None = None  # layer stages
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext
    replicas: Mapping[str, nn.Module] | None = None

    @property
    def trained(self) -> Mapping[str, nn.Module]:
        """The networks as a training forward pass calls them (see the class docstring)."""
        return self.nets if self.replicas is None else self.replicas


def _update(ctx: StepContext, which: str, loss: Tensor) -> None:
    optimizer = ctx.optimizers[which]
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def _perceptual(ctx: StepContext, pred: Tensor, target: Tensor, mask: Tensor | None) -> Tensor:
    if ctx.vgg_loss is None:
        raise ValueError(f"stage {ctx.stage!r} needs the VGG perceptual loss")
    return ctx.vgg_loss(pred, target, mask)


def image_gan_step(
    ctx: StepContext, fake: Tensor, real: Tensor, condition: Tensor, d_name: str
) -> Losses:
    """Eqs. 3/7 with a conditional multi-scale PatchGAN: D update, then G update."""
    loss_cfg = ctx.config.loss
    disc_replica, disc = ctx.trained[d_name], ctx.nets[d_name]
    with ctx.autocast():
        d_fake = gan_loss(disc_replica(fake.detach(), condition), False, loss_cfg.gan_mode)
        d_real = gan_loss(disc_replica(real, condition), True, loss_cfg.gan_mode)
        d_total = 0.5 * (d_fake + d_real)
    _update(ctx, "d", d_total)
    with frozen(disc), ctx.autocast():
        fake_features = disc(fake, condition)
        with torch.no_grad():
            real_features = disc(real, condition)
        g_adv = gan_loss(fake_features, True, loss_cfg.gan_mode)
        g_fm = feature_matching_loss(fake_features, real_features)
        g_per = _perceptual(ctx, fake, real, None)
        g_total = (
            loss_cfg.lambda_adv * g_adv + loss_cfg.lambda_fm * g_fm + loss_cfg.lambda_per * g_per
        )
    _update(ctx, "g", g_total)
    losses = {
        "g_total": g_total,
        "g_adv": g_adv,
        "g_fm": g_fm,
        "g_per": g_per,
        "d_total": d_total,
        "d_real": d_real,
        "d_fake": d_fake,
        "l1": masked_l1(fake, real),
    }
    return {k: v.detach().float() for k, v in losses.items()}


def coarse_step(ctx: StepContext, inputs: StageInputs) -> Losses:
    maps = _need(inputs.coarse, "coarse maps")
    with ctx.autocast():
        fake = run_coarse(ctx.trained, maps)
    return image_gan_step(ctx, fake, maps.target, maps.source, "coarse_d")


def layer_step(ctx: StepContext, inputs: StageInputs) -> Losses:
    """Eqs. 1 and 2 for the parts of one kind (face; left+right arm; left+right leg)."""
    loss_cfg = ctx.config.loss
    complete = ctx.config.variant.layers == "complete"  # PL; PL⁻ otherwise
    coarse_maps = _need(inputs.coarse, "coarse maps")
    with torch.no_grad(), ctx.autocast():
        coarse = run_coarse(ctx.nets, coarse_maps)
    with ctx.autocast():
        layers = run_layers(ctx.trained, inputs.parts, coarse, ctx.config.inputs.fine_size)
    names = list(inputs.parts)
    parts = [inputs.parts[n] for n in names]
    layer = torch.cat([layers[n][1] for n in names])  # own frames, for Eq. 2
    target = torch.cat([p.target for p in parts])
    visible = torch.cat([p.visible for p in parts])
    losses: Losses = {}
    g_total = layer.new_zeros(())
    with ctx.autocast():
        g_per = _perceptual(ctx, layer, target, visible if complete else None)
    if complete:
        bank = _need(ctx.bank, "complete part bank")
        for n, p in zip(names, parts, strict=True):
            keep = p.unoccluded
            bank.push(to_left_frame(p.target[keep], n), to_left_frame(p.source[keep], n))
        fake = torch.cat([to_left_frame(layers[n][1], n) for n in names])
        condition = torch.cat([to_left_frame(inputs.parts[n].source, n) for n in names])
        d_name = f"{ctx.stage}_d"
        disc_replica, disc = ctx.trained[d_name], ctx.nets[d_name]
        sample = bank.sample(fake.shape[0], fake.device)
        with ctx.autocast():
            d_fake = gan_loss(disc_replica(fake.detach(), condition), False, loss_cfg.gan_mode)
            if sample is None:  # nothing complete seen yet: fake term only
                d_real = d_fake.new_zeros(())
                d_total = d_fake
            else:
                d_real = gan_loss(disc_replica(*sample), True, loss_cfg.gan_mode)
                d_total = 0.5 * (d_fake + d_real)
        _update(ctx, "d", d_total)
        with frozen(disc), ctx.autocast():
            g_adv = gan_loss(disc(fake, condition), True, loss_cfg.gan_mode)
        g_total = g_total + loss_cfg.lambda_layer_adv * g_adv
        losses.update(g_adv=g_adv, d_total=d_total, d_real=d_real, d_fake=d_fake)
        losses["bank_size"] = torch.tensor(float(len(bank)))
    g_total = g_total + loss_cfg.lambda_layer_per * g_per
    _update(ctx, "g", g_total)
    losses.update(g_total=g_total, g_per=g_per, l1=masked_l1(layer, target, visible))
    return {k: v.detach().float() for k, v in losses.items()}


def fusion_step(ctx: StepContext, inputs: StageInputs) -> Losses:
    """Eq. 7; the fine stage keeps coarse and layers frozen, e2e trains through them."""
    coarse_maps = _need(inputs.coarse, "coarse maps")
    fine = _need(inputs.fine, "fine maps")
    upstream = torch.no_grad() if ctx.stage == "fine" else contextlib.nullcontext()
    with upstream, ctx.autocast():
        coarse = run_coarse(ctx.trained, coarse_maps)
        layers = run_layers(ctx.trained, inputs.parts, coarse, ctx.config.inputs.fine_size)
    with ctx.autocast():
        fused = run_fine(ctx.trained, inputs, coarse, layers)
    return image_gan_step(ctx, fused.image, fine.target, fine.source, "fine_d")


def volume_step(ctx: StepContext, inputs: StageInputs) -> Losses:
    """Per-voxel cross-entropy of the volume network (§III-B)."""
    image = _need(inputs.volume_image, "volume image")
    target = _need(inputs.volume_target, "voxel targets")
    with ctx.autocast():
        logits = ctx.trained["volume"](image, _need(inputs.volume_pose, "volume pose"))
        ce = volume_cross_entropy(logits.float(), target)
    _update(ctx, "g", ce)
    error = (logits.argmax(1) != target).float().mean()
    return {"ce": ce.detach(), "error": error.detach()}


STEPS: dict[str, Callable[[StepContext, StageInputs], Losses]] = {
    "coarse": coarse_step,
    "face": layer_step,
    "arm": layer_step,
    "leg": layer_step,
    "fine": fusion_step,
    "e2e": fusion_step,
    "volume": volume_step,
}


def train_step(ctx: StepContext, inputs: StageInputs) -> Losses:
    """One optimisation step of ``ctx.stage``; returns its named, detached losses.
    ValueError if the config's variant has no such stage."""
    ctx.config.variant.check_stage(ctx.stage)
    return STEPS[ctx.stage](ctx, inputs)


# --------------------------------------------------------------------------- evaluation


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[None]:
    """Eval mode inside the block (batch-norm statistics untouched), each flag restored."""
    flags = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, flag in flags:
            m.training = flag


@torch.no_grad()
def forward_stage(
    stage: str, config: HPTConfig, nets: Mapping[str, nn.Module], inputs: StageInputs
) -> dict[str, Tensor]:
    """The stage's outputs, no gradients: ``coarse``, ``layer_<part>``, ``initial`` and
    ``final`` (fine/e2e) or ``logits`` (volume), as far as the stage goes. For ``fine`` and
    ``e2e`` these are :func:`final_image`'s for every variant: ``final`` is always there,
    ``layer_*`` and ``initial`` when the variant has part layers. Runs in eval mode, so
    logging and evaluation leave the training state as it was."""
    with eval_mode(nets if isinstance(nets, nn.Module) else nn.ModuleDict(dict(nets))):
        return _forward_stage(stage, config, nets, inputs)


def _forward_stage(
    stage: str, config: HPTConfig, nets: Mapping[str, nn.Module], inputs: StageInputs
) -> dict[str, Tensor]:
    if stage == "volume":
        image = _need(inputs.volume_image, "volume image")
        return {"logits": nets["volume"](image, _need(inputs.volume_pose, "volume pose"))}
    if stage in LAYER_STAGES:
        config.variant.check_stage(stage)
    out: dict[str, Tensor] = {}
    if stage in ("fine", "e2e"):
        result = final_image(config, nets, inputs)
        out["coarse"] = result.coarse
        for part, (_, layer) in result.layers.items():
            out[f"layer_{part}"] = layer
        if result.initial is not None:
            out["initial"] = result.initial
        out["final"] = result.final
        return out
    coarse = run_coarse(nets, _need(inputs.coarse, "coarse maps"))
    out["coarse"] = coarse
    if inputs.parts:
        layers = run_layers(nets, inputs.parts, coarse, config.inputs.fine_size)
        for part, (_, layer) in layers.items():
            out[f"layer_{part}"] = layer
    return out


def _voxel_error(pred: Tensor, target: Tensor) -> Tensor:
    return (pred != target).float().mean()


@torch.no_grad()
def reconstruction(
    stage: str, config: HPTConfig, nets: Mapping[str, nn.Module], inputs: StageInputs
) -> dict[str, float]:
    """The stage's reconstruction error and the copy-the-source baseline on one batch.

    coarse: L1 of Ĩ_t vs Î_t at the coarse size; face/arm/leg: L1 of the layers vs the
    ground-truth crops over the visible part (Eq. 2's region), the baseline being the source
    part crop; fine/e2e: L1 of I_t vs Î_t at the fine size; volume: the voxel error rate
    (and cross-entropy), the baseline the source frame's voxels when the batch has them.
    """
    out = forward_stage(stage, config, nets, inputs)
    if stage == "volume":
        target = _need(inputs.volume_target, "voxel targets")
        logits = out["logits"].float()
        result = {
            "error": float(_voxel_error(logits.argmax(1), target)),
            "ce": float(volume_cross_entropy(logits, target)),
        }
        if inputs.source_voxels is not None:
            result["copy_source"] = float(_voxel_error(inputs.source_voxels, target))
        return result
    if stage == "coarse":
        maps = _need(inputs.coarse, "coarse maps")
        return {
            "l1": float(masked_l1(out["coarse"], maps.target)),
            "copy_source": float(masked_l1(maps.source, maps.target)),
        }
    if stage in LAYER_STAGES:
        names = list(inputs.parts)
        parts = [inputs.parts[n] for n in names]
        target = torch.cat([p.target for p in parts])
        visible = torch.cat([p.visible for p in parts])
        layer = torch.cat([out[f"layer_{n}"] for n in names])
        source = torch.cat([p.source for p in parts])
        return {
            "l1": float(masked_l1(layer, target, visible)),
            "copy_source": float(masked_l1(source, target, visible)),
        }
    fine = _need(inputs.fine, "fine maps")
    return {
        "l1": float(masked_l1(out["final"], fine.target)),
        "copy_source": float(masked_l1(fine.source, fine.target)),
    }


# --------------------------------------------------------------------------- images

_PARSING_COLOURS = torch.tensor(
    [
        [0.0, 0.0, 0.0],
        [1.0, 0.85, 0.0],
        [0.2, 0.8, 0.2],
        [0.1, 0.4, 1.0],
        [0.0, 0.8, 1.0],
        [1.0, 0.2, 0.2],
        [1.0, 0.5, 0.8],
    ]
)


def colour_parsing(parsing: Tensor) -> Tensor:
    """(B, 7, H, W) soft one-hot → (B, 3, H, W) colours in [-1, 1]."""
    colours = _PARSING_COLOURS.to(parsing.device, parsing.dtype)[:NUM_PARTS]
    return torch.einsum("bkhw,kc->bchw", parsing, colours) * 2 - 1


def stage_images(
    stage: str, config: HPTConfig, nets: Mapping[str, nn.Module], inputs: StageInputs
) -> dict[str, Tensor]:
    """Named (B, 3, H, W) images in [-1, 1] for the log: source, target maps (S colours,
    H summed), coarse, layers, final, ground truth, as far as the stage goes."""
    if stage == "volume":
        image = _need(inputs.volume_image, "volume image")
        pose = _need(inputs.volume_pose, "volume pose")
        logits = forward_stage(stage, config, nets, inputs)["logits"]
        front = logits.argmax(1).amax(1)  # (B, X, X) highest label along z, a crude view
        target = _need(inputs.volume_target, "voxel targets").amax(1)
        return {
            "source": image,
            "pose": pose.amax(1, keepdim=True).expand(-1, 3, -1, -1) * 2 - 1,
            "voxels": colour_parsing(F.one_hot(front, NUM_PARTS).permute(0, 3, 1, 2).float()),
            "voxels_truth": colour_parsing(
                F.one_hot(target, NUM_PARTS).permute(0, 3, 1, 2).float()
            ),
        }
    maps = inputs.fine if inputs.fine is not None else _need(inputs.coarse, "coarse maps")
    out = forward_stage(stage, config, nets, inputs)
    images = {
        "source": maps.source,
        "parsing": colour_parsing(maps.parsing),
        "heatmaps": maps.heatmaps.amax(1, keepdim=True).expand(-1, 3, -1, -1) * 2 - 1,
        "coarse": out["coarse"],
    }
    for part in inputs.parts:
        images[f"layer_{part}"] = out[f"layer_{part}"]
        images[f"truth_{part}"] = inputs.parts[part].target
    if "initial" in out:
        images["initial"] = out["initial"]
    if "final" in out:
        images["final"] = out["final"]
    images["ground_truth"] = maps.target
    return images
