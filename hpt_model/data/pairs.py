"""Training pairs (source frame, target frame of the same person), as the paper trains.

Pair sampling: every frame of the split is a target once per epoch; its source is drawn
uniformly from the *other* frames of the same person (the same frame only if the person
has one) by a generator seeded with ``(seed, epoch, target index)``. So a pair depends
only on the seed, the epoch and the index: the same in every DataLoader worker, on every
rank, and after a resume. Call ``set_epoch`` each epoch (as with DistributedSampler, which
gives each rank a disjoint part of the indices).

Stored pairs: where the shards store a pair list for the split (the dataset's own test
pairs, or the rule's; ``hpt_model.data.stored_pairs``), ``pairs="auto"`` (the default) uses
it for every split but ``train``: item ``i`` is then stored pair ``i``, the same in every
epoch. ``pairs="stored"`` or ``"sampled"`` asks for one or the other.

What is read: by default every field of ``SOURCE_FIELDS`` / ``TARGET_FIELDS`` at the
shards' 1024 (the documented item). ``fields_for_stage(stage, config)`` gives the
PairDataset arguments that read only what ``hpt_model.method.inputs`` uses for one
stage, with images decoded at that stage's largest size (JPEG DCT scaling): a coarse-stage
pair at 512 costs about a third of the CPU of a full item, mostly because a fifth of the
bytes and a quarter of the tensors cross from the workers (docs/shards.md, "Measured").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import Dataset

from hpt_data.shards.schema import CROP, PART_LAYERS, VOXELS
from hpt_model.data.shards import ShardFrames
from hpt_model.data.stored_pairs import stored_pair_indices

if TYPE_CHECKING:
    from hpt_model.config import HPTConfig

SOURCE_FIELDS: tuple[str, ...] = ("image", "mask", "part_boxes", "person_id", "frame_id")
TARGET_FIELDS: tuple[str, ...] = (
    "image",
    "parsing",
    "depth",
    "parsing_512",
    "depth_512",
    "joints2d",
    "keypoints",
    "part_boxes",
    "layer_mask_face",
    "layer_mask_left_arm",
    "layer_mask_right_arm",
    "layer_mask_left_leg",
    "layer_mask_right_leg",
    "layer_depth_face",
    "layer_depth_left_arm",
    "layer_depth_right_arm",
    "layer_depth_left_leg",
    "layer_depth_right_leg",
    "body_pose",
    "global_orient",
    "betas",
    "camera",
    "camera_distance",
    "frame_id",
)
VOLUME_FIELDS: tuple[str, ...] = ("voxels", "voxel_z")
STAGE_LAYERS: dict[str, tuple[str, ...]] = {
    "face": ("face",),
    "arm": ("left_arm", "right_arm"),
    "leg": ("left_leg", "right_leg"),
    "fine": PART_LAYERS,
    "e2e": PART_LAYERS,
}


def fields_for_stage(stage: str, config: HPTConfig | None = None) -> dict[str, Any]:
    """``PairDataset`` keyword arguments that read only what ``build_stage_inputs`` uses for
    ``stage``, images decoded at the largest size the stage uses (``config``'s sizes; the
    paper's when None: coarse 512, fine 1024, volume 256). Opt-in: the default PairDataset
    reads everything at 1024.

    coarse: both images, target S/D (the 512 maps when the coarse size is ≤ 512), joints and
    keypoints. face/arm/leg/fine/e2e: both images and part boxes, target S/D at 1024 and 512,
    joints and keypoints, the complete maps and depths of the stage's parts. volume: the
    source image, joints and keypoints, voxels.
    """
    coarse = config.inputs.coarse_size if config is not None else CROP // 2
    fine = config.inputs.fine_size if config is not None else CROP
    volume = config.volume.xy_size if config is not None else VOXELS[1]
    maps_512 = ("parsing_512", "depth_512") if coarse <= CROP // 2 else ()
    if stage == "coarse":
        source: tuple[str, ...] = ("image",)
        target = ("image", *(maps_512 or ("parsing", "depth")), "joints2d", "keypoints")
        size = coarse
    elif stage in STAGE_LAYERS:
        source = ("image", "part_boxes")
        masks = tuple(f"layer_{m}_{p}" for p in STAGE_LAYERS[stage] for m in ("mask", "depth"))
        target = ("image", "parsing", "depth", *maps_512, "joints2d", "keypoints", "part_boxes")
        target += masks
        size = fine
    elif stage == "volume":
        source, target, size = ("image",), ("joints2d", "keypoints"), volume
    else:
        raise ValueError(
            f"unknown stage {stage!r}; expected coarse, {', '.join(STAGE_LAYERS)}, volume"
        )
    return {
        "source_fields": source,
        "target_fields": target,
        "with_volume": stage == "volume",
        "image_size": size if size < CROP else None,
    }


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


def field_to_tensor(name: str, value: Any) -> Any:
    """A shard field (``name`` without its ``source_``/``target_`` prefix) as the compact
    tensor a PairDataset item holds: what crosses from DataLoader workers stays small
    (uint8 images and labels, float16 depth); ``decode_pair_batch`` widens it on the
    device. No copy: the DataLoader's collation copies each tensor into shared memory
    anyway, and the image's (3, H, W) is a view of the decoded (H, W, 3) that this one
    copy transposes (a separate transpose cost ~1.7 ms per 1024 image)."""
    if isinstance(value, str):
        return value
    arr = np.asarray(value)
    if not arr.flags.writeable or any(s < 0 for s in arr.strides):
        arr = np.array(arr)  # torch shares only writable, positively strided memory
    if name == "image":  # (H, W, 3) uint8 -> (3, H, W) uint8 view
        return torch.from_numpy(arr).permute(2, 0, 1)
    tensor = torch.from_numpy(arr)
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
    """Item ``i``: pair ``i`` (sampled: target frame ``i`` and its source; stored: the
    split's stored pair ``i``, see ``pairs``), as ``source_<field>`` /
    ``target_<field>`` tensors, compact (images (3, H, W) uint8, possibly a non-contiguous
    view; parsing (H, W) uint8; depth (1, H, W) float16 with +inf background; masks
    (1, H, W) uint8; joints2d (24, 2) pixels; keypoints (29, 3) pixels and metres;
    part_boxes (5, 3) [x0, y0, size]); ``decode_pair_batch`` widens a batch on the device.
    The pose heatmaps H are rendered on the fly from ``target_keypoints``
    (``hpt_model.method.inputs.render_heatmaps``).
    ``with_volume`` adds ``target_voxels`` (64, 256, 256). ``image_size``: images decoded
    at the smallest JPEG scale (n/8 of 1024) at least that large, e.g. 512; None: 1024.
    Maps and keypoints stay at shard resolution. See ``fields_for_stage``. ``pairs``:
    ``"auto"``, ``"stored"`` or ``"sampled"`` (module docstring); ``targets`` and
    ``sources`` hold each item's frame indices, ``stored`` whether they are the stored list.
    """

    def __init__(
        self,
        shard_dir: str | Path,
        split: str = "train",
        seed: int = 0,
        with_volume: bool = False,
        source_fields: Sequence[str] = SOURCE_FIELDS,
        target_fields: Sequence[str] = TARGET_FIELDS,
        image_size: int | None = None,
        pairs: str = "auto",
    ) -> None:
        if image_size is not None and not 0 < image_size <= CROP:
            raise ValueError(f"image_size must be in 1..{CROP} or None, got {image_size}")
        self.frames = ShardFrames(shard_dir, split)
        self.seed = seed
        self.image_size = image_size
        self.source_fields = tuple(source_fields)
        self.target_fields = tuple(target_fields) + (VOLUME_FIELDS if with_volume else ())
        self._stored = stored_pair_indices(self.frames, pairs)
        self.stored = self._stored is not None
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if self._stored is not None:  # the stored list: the same pairs every epoch
            self.sources, self.targets = self._stored
            return
        self.sources = pair_indices(self.frames.person_ids, self.seed, epoch)
        self.targets = np.arange(len(self.frames), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self.targets):
            raise IndexError(f"pair {index} out of range 0..{len(self.targets) - 1}")
        target = self.frames.read(int(self.targets[index]), self.target_fields, self.image_size)
        source = self.frames.read(int(self.sources[index]), self.source_fields, self.image_size)
        item = {f"target_{k}": field_to_tensor(k, v) for k, v in target.items()}
        item.update({f"source_{k}": field_to_tensor(k, v) for k, v in source.items()})
        item["index"] = index
        return item
