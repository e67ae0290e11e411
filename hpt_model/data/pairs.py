"""Training pairs (source frame, target frame of the same person), as the paper trains.

Pair sampling: every frame of the split is a target once per epoch; its source is drawn
uniformly from the *other* frames of the same person (the same frame only if the person
has one) by a generator seeded with ``(seed, epoch, target index)``. So a pair depends
only on the seed, the epoch and the index: the same in every DataLoader worker, on every
rank, and after a resume. Call ``set_epoch`` each epoch (as with DistributedSampler, which
gives each rank a disjoint part of the indices).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from hpt_model.data.shards import ShardFrames

SOURCE_FIELDS: tuple[str, ...] = ("image", "mask", "part_boxes", "person_id", "frame_id")
TARGET_FIELDS: tuple[str, ...] = (
    "image",
    "parsing",
    "depth",
    "parsing_512",
    "depth_512",
    "joints2d",
    "part_boxes",
    "layer_mask_face",
    "layer_mask_left_arm",
    "layer_mask_right_arm",
    "layer_mask_left_leg",
    "layer_mask_right_leg",
    "body_pose",
    "global_orient",
    "betas",
    "camera",
    "frame_id",
)
VOLUME_FIELDS: tuple[str, ...] = ("voxels", "voxel_z")


def pair_indices(person_ids: Sequence[str], seed: int, epoch: int) -> np.ndarray:
    """(N,) source index for each target index 0..N-1 (see the module docstring)."""
    by_person: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(person_ids):
        by_person[p].append(i)
    sources = np.empty(len(person_ids), dtype=np.int64)
    for i, p in enumerate(person_ids):
        rng = np.random.default_rng([seed, epoch, i])
        others = [j for j in by_person[p] if j != i] or [i]
        sources[i] = others[int(rng.integers(len(others)))]
    return sources


def _to_tensor(name: str, value: Any) -> Any:
    """A field as a compact tensor: what crosses from DataLoader workers stays small
    (uint8 images and labels, float16 depth); ``decode_pair_batch`` widens it on the
    device."""
    if isinstance(value, str):
        return value
    arr = np.asarray(value)
    if name == "image":  # (H, W, 3) uint8 -> (3, H, W) uint8
        return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))
    tensor = torch.from_numpy(np.array(arr))
    if name.startswith(("depth", "mask", "layer_")) and tensor.dim() == 2:
        tensor = tensor.unsqueeze(0)
    return tensor


def decode_pair_batch(batch: dict[str, Any]) -> dict[str, Any]:
    """Widen a (collated, usually device-resident) batch of compact fields: images to float
    in [-1, 1], parsing and voxels to int64, masks and depth to float32 (depth keeps +inf on
    the background). Fields already decoded are left as they are."""
    out = dict(batch)
    for key, value in batch.items():
        if not isinstance(value, torch.Tensor) or "_" not in key:
            continue
        name = key.split("_", 1)[1]
        if name == "image" and value.dtype == torch.uint8:
            out[key] = value.float().div_(127.5).sub_(1.0)
        elif (name.startswith("parsing") or name == "voxels") and value.dtype != torch.int64:
            out[key] = value.long()
        elif name.startswith(("depth", "mask", "layer_")) and value.dtype != torch.float32:
            out[key] = value.float()
    return out


class PairDataset(Dataset):
    """Item ``i``: target frame ``i`` and its source, as ``source_<field>`` /
    ``target_<field>`` tensors, compact (images (3, H, W) uint8; parsing (H, W) uint8; depth
    (1, H, W) float16 with +inf background; masks (1, H, W) uint8; joints2d (24, 2) pixels;
    part_boxes (5, 3) [x0, y0, size]); ``decode_pair_batch`` widens a batch on the device.
    The pose heatmaps H are rendered on the fly from ``target_joints2d``
    (``hpt_model.training.inputs.render_heatmaps``). ``with_volume`` adds
    ``target_voxels`` (64, 256, 256).
    """

    def __init__(
        self,
        shard_dir: str | Path,
        split: str = "train",
        seed: int = 0,
        with_volume: bool = False,
        source_fields: Sequence[str] = SOURCE_FIELDS,
        target_fields: Sequence[str] = TARGET_FIELDS,
    ) -> None:
        self.frames = ShardFrames(shard_dir, split)
        self.seed = seed
        self.source_fields = tuple(source_fields)
        self.target_fields = tuple(target_fields) + (VOLUME_FIELDS if with_volume else ())
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.sources = pair_indices(self.frames.person_ids, self.seed, epoch)

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> dict[str, Any]:
        target = self.frames.read(index, self.target_fields)
        source = self.frames.read(int(self.sources[index]), self.source_fields)
        item = {f"target_{k}": _to_tensor(k, v) for k, v in target.items()}
        item.update({f"source_{k}": _to_tensor(k, v) for k, v in source.items()})
        item["index"] = index
        return item
