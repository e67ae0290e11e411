"""Inference of the hierarchical generator: weights in, coarse → part layers → fusion out.

The networks come from :func:`hpt_model.checkpoints.load_generators` (checkpoints or a run
folder, or random weights when asked, with a loud warning). :func:`run_transfer` runs one
batch in the :class:`~hpt_model.data.PairDataset` item format (``source_<field>`` /
``target_<field>``, compact or decoded) through the method the training used
(:mod:`hpt_model.method`: ``build_stage_inputs`` and ``final_image``: coarse, part layers,
Eq. 6, fine generator, as far as the config's Table IV variant goes) and returns the final
image with every intermediate. Nothing of :mod:`hpt_model.training` is imported.

Ours-V (§III-B): :func:`volume_to_maps` turns the volume network's voxel logits into the
parsing S (the front-most non-background label along z) and depth D (that voxel's centre in
the shards' units: camera-frame metres, ``+inf`` on the background). With ``volume=True``
those maps replace the SMPL-rendered S and D of the batch before the stage inputs are made.

Torch only: like the rest of ``hpt_model`` this imports nothing of ``hpt_data`` but the
shard schema.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from hpt_data.shards.schema import COARSE, CROP, VOXELS
from hpt_model.checkpoints import Generators
from hpt_model.data.pairs import decode_pair_batch
from hpt_model.method import (
    MapSet,
    build_stage_inputs,
    eval_mode,
    final_image,
    pose_3d,
    resize,
    target_keypoints,
    to_device,
)

# --------------------------------------------------------------------------- Ours-V


def volume_to_maps(logits: Tensor, voxel_z: Tensor) -> tuple[Tensor, Tensor]:
    """S and D of a predicted volume, seen by the camera (BodyNet's projection, §III-B).

    Parameters
    ----------
    logits : (B, 7, Z, X, X) voxel logits (:class:`~hpt_model.networks.VolumeNetwork`;
        ``logits[:, c, z, y, x]`` is label c at depth bin z, bin 0 nearest the camera).
    voxel_z : (B, 2) the shards' ``[z0, dz]`` of the full 64-bin grid (bin k of 64 spans
        camera-frame depths ``z0 + [k, k+1)·dz``); a network with Z bins has bins of
        ``dz · 64 / Z``, as the training resamples the 64 bins to Z.

    Returns
    -------
    parsing : (B, X, X) int64, the label of the front-most non-background voxel, 0 where
        the column is empty.
    depth : (B, 1, X, X) float32, camera-frame depth of that voxel's centre (metres),
        ``+inf`` where the column is empty: the shards' convention for D.
    """
    if logits.dim() != 5:
        raise ValueError(f"logits: expected (B, 7, Z, X, X), got {tuple(logits.shape)}")
    batch, _, z_bins = logits.shape[:3]
    if voxel_z.shape != (batch, 2):
        raise ValueError(f"voxel_z: expected (B={batch}, 2) [z0, dz], got {tuple(voxel_z.shape)}")
    labels = logits.argmax(dim=1)  # (B, Z, X, X)
    occupied = labels != 0
    hit = occupied.any(dim=1)  # (B, X, X)
    first = occupied.to(torch.uint8).argmax(dim=1)  # index of the first occupied bin
    front = labels.gather(1, first.unsqueeze(1)).squeeze(1)
    parsing = torch.where(hit, front, torch.zeros_like(front))
    z = voxel_z.to(torch.float32)
    z0 = z[:, 0].view(batch, 1, 1)
    dz = (z[:, 1] * (VOXELS[0] / z_bins)).view(batch, 1, 1)
    depth = z0 + (first.to(torch.float32) + 0.5) * dz
    depth = torch.where(hit, depth, torch.full_like(depth, float("inf")))
    return parsing, depth.unsqueeze(1)


def _nearest(x: Tensor, size: int) -> Tensor:
    """(B, C, X, X) → (B, C, size, size) by nearest neighbour: voxel column (x, y) covers
    output pixels ``x·size/X .. (x+1)·size/X - 1`` (DESIGN.md's grid)."""
    return F.interpolate(x, size=(size, size), mode="nearest")


@dataclass
class VolumeMaps:
    """What Ours-V made of the volume: the logits and S, D at the volume's xy size."""

    logits: Tensor  # (B, 7, Z, X, X)
    parsing: Tensor  # (B, X, X) int64
    depth: Tensor  # (B, 1, X, X) float32, +inf background


def volume_batch(
    gens: Generators, batch: Mapping[str, Any], heatmap_sigma: float
) -> tuple[dict[str, Any], VolumeMaps]:
    """The batch with its target S and D (1024 and 512) replaced by the volume network's:
    it sees the source image and the target 3D pose at its xy size, as in training;
    ``target_voxel_z`` gives the depth frame (see :func:`volume_to_maps`)."""
    if not gens.has_volume or gens.volume_config is None:
        raise ValueError("these generators were loaded without the volume network")
    if "target_voxel_z" not in batch:
        raise ValueError("the batch lacks target_voxel_z, the depth frame of the volume")
    v = gens.volume_config.volume
    out = decode_pair_batch(dict(batch))
    image = resize(out["source_image"], v.xy_size)
    points = target_keypoints(out, gens.volume_config.inputs.num_heatmaps)
    pose = pose_3d(points, v.xy_size, heatmap_sigma, v.pose_depth)
    with gens.autocast():
        logits = gens.nets["volume"](image, pose).float()
    parsing, depth = volume_to_maps(logits, out["target_voxel_z"])
    labels = parsing.unsqueeze(1).float()
    for suffix, size in (("", CROP), ("_512", COARSE)):
        out[f"target_parsing{suffix}"] = _nearest(labels, size)[:, 0].long()
        out[f"target_depth{suffix}"] = _nearest(depth, size)
    return out, VolumeMaps(logits, parsing, depth)


# --------------------------------------------------------------------------- running


@dataclass
class TransferOutput:
    """One batch through the generator; images in [-1, 1] (not clamped), F = fine size,
    C = coarse size, s = a part's crop size."""

    final: Tensor  # (B, 3, F, F) I_t = İ_t + Ǐ_t (the variant's result, see final_image)
    coarse: Tensor  # (B, 3, C, C) Ĩ_t
    initial: Tensor | None = None  # (B, 3, F, F) İ_t, Eq. 6: fused, before refinement
    refinement: Tensor | None = None  # (B, 3, F, F) Ǐ_t, the fine generator's offset
    offsets: dict[str, Tensor] = field(default_factory=dict)  # part → (B, 3, s, s) Ǐ^n_t
    layers: dict[str, Tensor] = field(default_factory=dict)  # part → (B, 3, s, s) I^n_t
    boxes: dict[str, Tensor] = field(default_factory=dict)  # part → (B, 3) fine-frame box
    coarse_maps: MapSet | None = None  # S, D, H (and I_s) at C
    fine_maps: MapSet | None = None  # S, D, H (and I_s) at F
    volume: VolumeMaps | None = None  # Ours-V only


@torch.no_grad()
def run_transfer(
    gens: Generators,
    batch: Mapping[str, Any],
    volume: bool = False,
    heatmap_sigma: float | None = None,
) -> TransferOutput:
    """Coarse → part layers → fusion on one batch of PairDataset items (any device; moved
    to the generators'). ``target_image`` is not looked at (there is no ground truth at
    inference; any image of the right size will do). ``heatmap_sigma`` defaults to the
    generators' own. With ``volume``, S and D come from the volume network (Ours-V)."""
    sigma = gens.heatmap_sigma if heatmap_sigma is None else heatmap_sigma
    on_device = to_device(batch, gens.device, gens.channels_last)
    vol = None
    if volume:
        on_device, vol = volume_batch(gens, on_device, sigma)
    inputs = build_stage_inputs(on_device, gens.config, "fine", sigma)
    nets = gens.nets
    with eval_mode(nets), gens.autocast():
        method = final_image(gens.config, nets, inputs)
    layers = method.layers
    return TransferOutput(
        final=method.final.float(),
        coarse=method.coarse.float(),
        initial=None if method.initial is None else method.initial.float(),
        refinement=None if method.offset is None else method.offset.float(),
        offsets={part: offset.float() for part, (offset, _) in layers.items()},
        layers={part: layer.float() for part, (_, layer) in layers.items()},
        boxes={part: inputs.parts[part].box for part in layers},
        coarse_maps=inputs.coarse,
        fine_maps=inputs.fine,
        volume=vol,
    )


def to_uint8(images: Tensor) -> Tensor:
    """(B, 3, H, W) in [-1, 1] → (B, H, W, 3) uint8 RGB on the CPU (clamped for display)."""
    x = images.detach().float().clamp(-1, 1).add(1).mul(127.5).round()
    return x.to(torch.uint8).permute(0, 2, 3, 1).cpu()


def iterate_batches(items: list[dict[str, Any]], batch_size: int) -> Iterator[dict[str, Any]]:
    """Collate PairDataset items ``batch_size`` at a time (the last batch may be smaller)."""
    from torch.utils.data import default_collate

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    for start in range(0, len(items), batch_size):
        yield default_collate(items[start : start + batch_size])
