"""The method's forward pass: coarse → part layers → Eq. 6 fusion → fine (§III).

One set of functions that training (:mod:`hpt_model.training.steps`), inference
(:mod:`hpt_model.inference`) and evaluation all call, so the image a trained model is scored
on is made by the very code it was trained through. Nothing here optimises or imports the
training package.

Table IV's variants (``config.variant``) change what exists, not how a pass works:
:func:`final_image` runs the variant's whole method: the coarse result upsampled (no
layers), Eq. 6 (layers, no F) or Eq. 6 and the fine generator (the full method).
Gradients flow unless the caller disables them; :func:`forward_stage` does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hpt_model.config import HPTConfig
from hpt_model.method.inputs import (
    LAYER_STAGES,
    MapSet,
    PartInputs,
    StageInputs,
    need,
    stage_parts,
)
from hpt_model.networks import PartCrops
from hpt_model.networks.fusion import FusionOutput, crop_boxes, initial_fusion


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
    fine = need(inputs.fine, "fine maps")
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
    fine = need(inputs.fine, "fine maps")
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
    coarse = run_coarse(nets, need(inputs.coarse, "coarse maps"))
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


# --------------------------------------------------------------------------- one stage, no grad


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
        image = need(inputs.volume_image, "volume image")
        return {"logits": nets["volume"](image, need(inputs.volume_pose, "volume pose"))}
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
    coarse = run_coarse(nets, need(inputs.coarse, "coarse maps"))
    out["coarse"] = coarse
    if inputs.parts:
        layers = run_layers(nets, inputs.parts, coarse, config.inputs.fine_size)
        for part, (_, layer) in layers.items():
            out[f"layer_{part}"] = layer
    return out
