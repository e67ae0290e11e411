"""One optimisation step per stage, returning its losses as a dict of named tensors.

=======  =====================================  ============================  ==============
stage    trained                                frozen                        losses
=======  =====================================  ============================  ==============
coarse   coarse, coarse_d (2 scales)            —                             Eq. 3
face     layers.face, face_d (DCGAN, BN)        coarse                        Eqs. 1, 2
arm      layers.arm, arm_d (DCGAN, SN)          coarse                        Eqs. 1, 2
leg      layers.leg, leg_d (DCGAN, SN)          coarse                        Eqs. 1, 2
fine     fine, fine_d (3 scales)                coarse, layers                Eq. 7
e2e      coarse, layers, fine, every D          —                             Eqs. 1-3, 7
volume   volume                                 —                             cross-entropy
=======  =====================================  ============================  ==============

A GAN step updates the discriminator first (real vs the detached fake, the two terms
averaged as pix2pixHD does), then the generator against the updated discriminator, whose
parameters are frozen meanwhile. The layer stages run both sides of a limb through the one
shared generator and show the discriminator both, right parts mirrored into the left frame;
their real samples come from :class:`~hpt_model.training.bank.CompletePartBank`. The
end-to-end stage is the paper's last phase: every generator fine-tuned together, each with
all its losses (Eq. 7 on the final image, Eq. 3 on the coarse result, Eqs. 1 and 2 on the
layers with their completeness discriminators and banks). The ``fine`` stage (fine
generator alone, upstream frozen) is an extra phase the paper does not have, kept as an
option (docs/training.md, "Departures from the paper"). The forward passes are the
method's own (:mod:`hpt_model.method`), the functions inference and evaluation run.

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
from hpt_model.method import (
    LAYER_STAGES,
    PartInputs,
    StageInputs,
    run_coarse,
    run_fine,
    run_layers,
)
from hpt_model.method.inputs import need
from hpt_model.networks import variant_network_names
from hpt_model.networks.layers import MIRRORED_PARTS, PART_KIND
from hpt_model.training.bank import CompletePartBank

Losses = dict[str, Tensor]

STAGE_NETWORKS: dict[str, tuple[str, ...]] = {
    "coarse": ("coarse", "coarse_d"),
    "face": ("coarse", "layers", "face_d"),
    "arm": ("coarse", "layers", "arm_d"),
    "leg": ("coarse", "layers", "leg_d"),
    "fine": ("coarse", "layers", "fine", "fine_d"),
    "e2e": ("coarse", "layers", "fine", "coarse_d", "face_d", "arm_d", "leg_d", "fine_d"),
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
    if stage == "e2e":  # every discriminator the variant has
        return [p for name in nets if name.endswith("_d") for p in nets[name].parameters()]
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
    banks: Mapping[str, CompletePartBank] | None = None  # e2e: one per layer kind
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


def _image_d(
    ctx: StepContext, fake: Tensor, real: Tensor, condition: Tensor, d_name: str
) -> Losses:
    """The conditional multi-scale PatchGAN's loss on real vs the detached fake (Eqs. 4, 7),
    the two terms averaged as pix2pixHD does."""
    mode = ctx.config.loss.gan_mode
    disc_replica = ctx.trained[d_name]
    with ctx.autocast():
        d_fake = gan_loss(disc_replica(fake.detach(), condition), False, mode)
        d_real = gan_loss(disc_replica(real, condition), True, mode)
        d_total = 0.5 * (d_fake + d_real)
    return {"d_total": d_total, "d_real": d_real, "d_fake": d_fake}


def _image_g(
    ctx: StepContext, fake: Tensor, real: Tensor, condition: Tensor, d_name: str
) -> Losses:
    """Eq. 3/7 for the generator: adversarial + λ_FM·feature matching + λ_per·VGG. The
    caller holds the discriminator :func:`frozen`."""
    loss_cfg = ctx.config.loss
    disc = ctx.nets[d_name]
    with ctx.autocast():
        fake_features = disc(fake, condition)
        with torch.no_grad():
            real_features = disc(real, condition)
        g_adv = gan_loss(fake_features, True, loss_cfg.gan_mode)
        g_fm = feature_matching_loss(fake_features, real_features)
        g_per = _perceptual(ctx, fake, real, None)
        g_total = (
            loss_cfg.lambda_adv * g_adv + loss_cfg.lambda_fm * g_fm + loss_cfg.lambda_per * g_per
        )
    return {"g_total": g_total, "g_adv": g_adv, "g_fm": g_fm, "g_per": g_per}


def image_gan_step(
    ctx: StepContext, fake: Tensor, real: Tensor, condition: Tensor, d_name: str
) -> Losses:
    """Eqs. 3/7 with a conditional multi-scale PatchGAN: D update, then G update."""
    d = _image_d(ctx, fake, real, condition, d_name)
    _update(ctx, "d", d["d_total"])
    with frozen(ctx.nets[d_name]):
        g = _image_g(ctx, fake, real, condition, d_name)
    _update(ctx, "g", g["g_total"])
    losses = {**g, **d, "l1": masked_l1(fake, real)}
    return {k: v.detach().float() for k, v in losses.items()}


def coarse_step(ctx: StepContext, inputs: StageInputs) -> Losses:
    maps = need(inputs.coarse, "coarse maps")
    with ctx.autocast():
        fake = run_coarse(ctx.trained, maps)
    return image_gan_step(ctx, fake, maps.target, maps.source, "coarse_d")


@dataclass
class _LayerBatch:
    """One kind's parts (face; both arms; both legs) stacked along the batch."""

    kind: str
    names: list[str]
    layer: Tensor  # (nB, 3, s, s) the layers I^n_t in their own frames (Eq. 2)
    fake: Tensor  # the same, right parts mirrored (the discriminator's frame)
    condition: Tensor  # (nB, 3, s, s) the source crops I^n_s, mirrored alike
    target: Tensor  # (nB, 3, s, s) ground truth
    visible: Tensor  # (nB, 1, s, s) the visible part, where Eq. 2 is evaluated


def _layer_batch(
    kind: str, parts: Mapping[str, PartInputs], layers: Mapping[str, tuple[Tensor, Tensor]]
) -> _LayerBatch:
    names = [n for n in parts if PART_KIND[n] == kind]
    return _LayerBatch(
        kind=kind,
        names=names,
        layer=torch.cat([layers[n][1] for n in names]),
        fake=torch.cat([to_left_frame(layers[n][1], n) for n in names]),
        condition=torch.cat([to_left_frame(parts[n].source, n) for n in names]),
        target=torch.cat([parts[n].target for n in names]),
        visible=torch.cat([parts[n].visible for n in names]),
    )


def _layer_d(
    ctx: StepContext, lb: _LayerBatch, parts: Mapping[str, PartInputs], bank: CompletePartBank
) -> Losses:
    """Eq. 1 for the completeness discriminator: this step's unoccluded targets join the
    bank, the fake layers are judged against a random sample of it."""
    mode = ctx.config.loss.gan_mode
    for n in lb.names:
        keep = parts[n].unoccluded
        bank.push(to_left_frame(parts[n].target[keep], n), to_left_frame(parts[n].source[keep], n))
    disc_replica = ctx.trained[f"{lb.kind}_d"]
    sample = bank.sample(lb.fake.shape[0], lb.fake.device)
    with ctx.autocast():
        d_fake = gan_loss(disc_replica(lb.fake.detach(), lb.condition), False, mode)
        if sample is None:  # nothing complete seen yet: fake term only
            d_real = d_fake.new_zeros(())
            d_total = d_fake
        else:
            d_real = gan_loss(disc_replica(*sample), True, mode)
            d_total = 0.5 * (d_fake + d_real)
    return {
        "d_total": d_total,
        "d_real": d_real,
        "d_fake": d_fake,
        "bank_size": torch.tensor(float(len(bank))),
    }


def _layer_g(ctx: StepContext, lb: _LayerBatch, complete: bool) -> Losses:
    """L^n = λ·L^n_adv + λ·L^n_per (Eqs. 1, 2); PL⁻: the unmasked perceptual loss alone. The
    caller holds the discriminator :func:`frozen`."""
    loss_cfg = ctx.config.loss
    with ctx.autocast():
        g_per = _perceptual(ctx, lb.layer, lb.target, lb.visible if complete else None)
    g_total = loss_cfg.lambda_layer_per * g_per
    losses: Losses = {"g_per": g_per}
    if complete:
        with ctx.autocast():
            g_adv = gan_loss(
                ctx.nets[f"{lb.kind}_d"](lb.fake, lb.condition), True, loss_cfg.gan_mode
            )
        g_total = loss_cfg.lambda_layer_adv * g_adv + g_total
        losses["g_adv"] = g_adv
    losses["g_total"] = g_total
    return losses


def layer_step(ctx: StepContext, inputs: StageInputs) -> Losses:
    """Eqs. 1 and 2 for the parts of one kind (face; left+right arm; left+right leg)."""
    complete = ctx.config.variant.layers == "complete"  # PL; PL⁻ otherwise
    coarse_maps = need(inputs.coarse, "coarse maps")
    with torch.no_grad(), ctx.autocast():
        coarse = run_coarse(ctx.nets, coarse_maps)
    with ctx.autocast():
        layers = run_layers(ctx.trained, inputs.parts, coarse, ctx.config.inputs.fine_size)
    lb = _layer_batch(ctx.stage, inputs.parts, layers)
    losses: Losses = {}
    hold: contextlib.AbstractContextManager = contextlib.nullcontext()
    if complete:
        losses.update(_layer_d(ctx, lb, inputs.parts, need(ctx.bank, "complete part bank")))
        _update(ctx, "d", losses["d_total"])
        hold = frozen(ctx.nets[f"{ctx.stage}_d"])
    with hold:
        losses.update(_layer_g(ctx, lb, complete))
    _update(ctx, "g", losses["g_total"])
    losses["l1"] = masked_l1(lb.layer, lb.target, lb.visible)
    return {k: v.detach().float() for k, v in losses.items()}


def fusion_step(ctx: StepContext, inputs: StageInputs) -> Losses:
    """Eq. 7 on the frozen coarse and layer generators (the ``fine`` stage, an option)."""
    coarse_maps = need(inputs.coarse, "coarse maps")
    fine = need(inputs.fine, "fine maps")
    with torch.no_grad(), ctx.autocast():
        coarse = run_coarse(ctx.nets, coarse_maps)
        layers = run_layers(ctx.nets, inputs.parts, coarse, ctx.config.inputs.fine_size)
    with ctx.autocast():
        fused = run_fine(ctx.trained, inputs, coarse, layers)
    return image_gan_step(ctx, fused.image, fine.target, fine.source, "fine_d")


def e2e_step(ctx: StepContext, inputs: StageInputs) -> Losses:
    """The paper's end-to-end phase (§IV-B): every generator fine-tuned together, each with
    its own losses — Eq. 7 on the final image, Eq. 3 on the coarse result and, per layer
    kind, Eqs. 1 and 2 (completeness discriminator on its bank, perceptual loss on the
    visible part). One update of all discriminators, then one of all generators."""
    complete = ctx.config.variant.layers == "complete"
    coarse_maps = need(inputs.coarse, "coarse maps")
    fine = need(inputs.fine, "fine maps")
    with ctx.autocast():
        coarse = run_coarse(ctx.trained, coarse_maps)
        layers = run_layers(ctx.trained, inputs.parts, coarse, ctx.config.inputs.fine_size)
        fused = run_fine(ctx.trained, inputs, coarse, layers)
    final = (fused.image, fine.target, fine.source, "fine_d")
    first = (coarse, coarse_maps.target, coarse_maps.source, "coarse_d")
    kinds = [k for k in LAYER_STAGES if any(PART_KIND[n] == k for n in inputs.parts)]
    batches = {k: _layer_batch(k, inputs.parts, layers) for k in kinds}
    d: dict[str, Losses] = {"": _image_d(ctx, *final), "coarse_": _image_d(ctx, *first)}
    if complete:
        banks = need(ctx.banks, "complete part banks")
        for k in kinds:
            d[f"{k}_"] = _layer_d(ctx, batches[k], inputs.parts, banks[k])
    _update(ctx, "d", sum(part["d_total"] for part in d.values()))
    discs = [name for name in ctx.nets if name.endswith("_d")]
    with contextlib.ExitStack() as stack:
        for name in discs:
            stack.enter_context(frozen(ctx.nets[name]))
        g = {"": _image_g(ctx, *final), "coarse_": _image_g(ctx, *first)}
        g.update({f"{k}_": _layer_g(ctx, batches[k], complete) for k in kinds})
    g_total = sum(part["g_total"] for part in g.values())
    _update(ctx, "g", g_total)
    losses: Losses = {}
    for group in (d, g):
        for prefix, part in group.items():
            losses.update({prefix + k: v for k, v in part.items()})
    losses["g_total"] = g_total
    losses["l1"] = masked_l1(fused.image, fine.target)
    return {k: v.detach().float() for k, v in losses.items()}


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
    "e2e": e2e_step,
    "volume": volume_step,
}


def train_step(ctx: StepContext, inputs: StageInputs) -> Losses:
    """One optimisation step of ``ctx.stage``; returns its named, detached losses.
    ValueError if the config's variant has no such stage."""
    ctx.config.variant.check_stage(ctx.stage)
    return STEPS[ctx.stage](ctx, inputs)
