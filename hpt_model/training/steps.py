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
says no more). The forward passes are the method's own (:mod:`hpt_model.method`), the
functions inference and evaluation run.

Table IV's variants (``config.variant``) change what exists, not how a step works: a stage
the variant lacks is refused (:meth:`~hpt_model.variants.VariantConfig.check_stage`); with
PL⁻ (``variant.layers == "incomplete"``) the layer stages have no completeness
discriminator and use the unmasked perceptual loss against the ground-truth crop.

All weights λ come from :class:`~hpt_model.config.LossConfig`. Every returned tensor is
detached, so a caller may keep them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from hpt_model.config import HPTConfig
from hpt_model.losses import (
    VGGPerceptualLoss,
    feature_matching_loss,
    gan_loss,
    volume_cross_entropy,
)
from hpt_model.method import LAYER_STAGES, StageInputs, run_coarse, run_fine, run_layers
from hpt_model.method.inputs import need
from hpt_model.networks import variant_network_names
from hpt_model.networks.layers import MIRRORED_PARTS
from hpt_model.training.bank import CompletePartBank

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


# --------------------------------------------------------------------------- helpers


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
    maps = need(inputs.coarse, "coarse maps")
    with ctx.autocast():
        fake = run_coarse(ctx.trained, maps)
    return image_gan_step(ctx, fake, maps.target, maps.source, "coarse_d")


def layer_step(ctx: StepContext, inputs: StageInputs) -> Losses:
    """Eqs. 1 and 2 for the parts of one kind (face; left+right arm; left+right leg)."""
    loss_cfg = ctx.config.loss
    complete = ctx.config.variant.layers == "complete"  # PL; PL⁻ otherwise
    coarse_maps = need(inputs.coarse, "coarse maps")
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
        bank = need(ctx.bank, "complete part bank")
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
    coarse_maps = need(inputs.coarse, "coarse maps")
    fine = need(inputs.fine, "fine maps")
    upstream = torch.no_grad() if ctx.stage == "fine" else contextlib.nullcontext()
    with upstream, ctx.autocast():
        coarse = run_coarse(ctx.trained, coarse_maps)
        layers = run_layers(ctx.trained, inputs.parts, coarse, ctx.config.inputs.fine_size)
    with ctx.autocast():
        fused = run_fine(ctx.trained, inputs, coarse, layers)
    return image_gan_step(ctx, fused.image, fine.target, fine.source, "fine_d")


def volume_step(ctx: StepContext, inputs: StageInputs) -> Losses:
    """Per-voxel cross-entropy of the volume network (§III-B)."""
    image = need(inputs.volume_image, "volume image")
    target = need(inputs.volume_target, "voxel targets")
    with ctx.autocast():
        logits = ctx.trained["volume"](image, need(inputs.volume_pose, "volume pose"))
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
