"""What the training loop logs and the learning tests measure, besides the losses: one
stage's reconstruction error against the copy-the-source baseline, and its image grid.

Both run the stage through the method's own forward pass (:func:`hpt_model.method.forward_stage`,
no gradients, eval mode), so they leave the training state as it was.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hpt_model.config import NUM_PARTS, HPTConfig
from hpt_model.losses import volume_cross_entropy
from hpt_model.method import LAYER_STAGES, StageInputs, forward_stage
from hpt_model.method.inputs import need
from hpt_model.training.steps import masked_l1


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
        target = need(inputs.volume_target, "voxel targets")
        logits = out["logits"].float()
        result = {
            "error": float(_voxel_error(logits.argmax(1), target)),
            "ce": float(volume_cross_entropy(logits, target)),
        }
        if inputs.source_voxels is not None:
            result["copy_source"] = float(_voxel_error(inputs.source_voxels, target))
        return result
    if stage == "coarse":
        maps = need(inputs.coarse, "coarse maps")
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
    fine = need(inputs.fine, "fine maps")
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
        image = need(inputs.volume_image, "volume image")
        pose = need(inputs.volume_pose, "volume pose")
        logits = forward_stage(stage, config, nets, inputs)["logits"]
        front = logits.argmax(1).amax(1)  # (B, X, X) highest label along z, a crude view
        target = need(inputs.volume_target, "voxel targets").amax(1)
        return {
            "source": image,
            "pose": pose.amax(1, keepdim=True).expand(-1, 3, -1, -1) * 2 - 1,
            "voxels": colour_parsing(F.one_hot(front, NUM_PARTS).permute(0, 3, 1, 2).float()),
            "voxels_truth": colour_parsing(
                F.one_hot(target, NUM_PARTS).permute(0, 3, 1, 2).float()
            ),
        }
    maps = inputs.fine if inputs.fine is not None else need(inputs.coarse, "coarse maps")
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
