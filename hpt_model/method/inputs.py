"""One batch of :class:`~hpt_model.data.PairDataset` at shard resolution → each stage's inputs.

The method's inputs (S, D, H at each scale, the part crops) are made here, for training,
inference and evaluation alike. The shards hold everything at the 1024 crop (parsing and
depth also at 512); the config asks for its own sizes (``inputs.coarse_size``,
``fine_size``, part sizes, the volume grid). :func:`build_stage_inputs` is the single place
where that conversion happens, on the model's device:

- images: area-averaged to the stage size (bilinear when enlarging), values in [-1, 1];
- parsing S: one-hot (7 channels) then area-averaged, so part borders are soft; for large
  reductions the labels are first subsampled to 4× the output size (4×4 samples per pixel);
- depth D: relative depth, i.e. metres minus the mean depth of the person's pixels (+inf
  marks the background in the shards), 0 on
  the background (absolute distance to the camera says nothing about the pose), then
  area-averaged;
- heatmaps H: one Gaussian per keypoint, the first ``inputs.num_heatmaps`` of
  ``target_keypoints`` (SMPL's 24 joints, then nose, eyes, ears; 1024-frame pixels),
  ``exp(-d² / 2σ²)`` with σ = ``heatmap_sigma`` in 1024-frame pixels (so the blob covers the
  same part of the body at every resolution), rendered directly at the output size with
  pixel centres at ``i + 0.5``. Shards from before keypoints (schema < 4) serve a 24-joint
  config from ``target_joints2d`` and are refused in one line otherwise;
- part crops: the shard's ``part_boxes`` (``[x0, y0, size]`` in the 1024 frame) give each
  part's centre; the crop is the config's part size (face 128, arm 256, leg 512 at a fine
  size of 1024) centred there, in fine-frame pixels. The source part crop comes from the
  source's own box, the target crops (S, D, H, ground truth) from the target's;
- complete part maps: ``target_layer_mask_<part>`` (the part rendered alone in its box)
  pasted into the 1024 frame, resized and cropped like the other maps; a part is
  *unoccluded* when its visible pixels in the target parsing cover at least
  ``complete_threshold`` of the complete map;
- the part generator's parsing S^n_t and depth D^n_t: with complete part layers (PL, the
  full method) the crop with the complete part map laid on top, ``S·(1 − C) +
  onehot(part)·C``, and the part's own depth (``target_layer_depth_<part>``, the part
  rendered alone, relative to the person's mean depth as D_t, 0 off the part), so the
  generator is told the whole part's extent and shape "regardless of the occlusion"
  (§III-C); with PL⁻ the plain (visible) crops;
- which stages exist follows ``config.variant``: a layer stage of a variant without part
  layers is a ValueError; ``fine``/``e2e`` give everything the variant's final image needs
  (coarse maps, fine maps, and the five parts when it has layers), whatever the variant;
- volume: the source image and the target 3D pose at ``volume.xy_size`` — the heatmaps,
  then (``volume.pose_depth``) each heatmap times its keypoint's depth relative to the
  pelvis in metres, so two poses with one 2D projection but another depth order differ —
  and the voxel labels (64, 256, 256) nearest-resampled to (``z_bins``, ``xy_size``,
  ``xy_size``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor

from hpt_data.shards.schema import CROP, HEATMAP_SIGMA_1024, NUM_JOINTS, PART_LAYERS
from hpt_model.config import NUM_PARTS, HPTConfig
from hpt_model.data.pairs import decode_pair_batch
from hpt_model.errors import ModelError
from hpt_model.networks.fusion import crop_boxes, paste_box
from hpt_model.networks.layers import PART_KIND, PART_LABEL

STAGES: tuple[str, ...] = ("coarse", "face", "arm", "leg", "fine", "e2e", "volume")
LAYER_STAGES: tuple[str, ...] = ("face", "arm", "leg")
OTHER_SIDE: dict[str, str] = {
    "left_arm": "right_arm",
    "right_arm": "left_arm",
    "left_leg": "right_leg",
    "right_leg": "left_leg",
}
PART_INDEX: dict[str, int] = {name: i for i, name in enumerate(PART_LAYERS)}  # rows of part_boxes

T = TypeVar("T")


@dataclass
class MapSet:
    """Images and informative maps of one pair at one square resolution R."""

    source: Tensor  # (B, 3, R, R) source image I_s in [-1, 1]
    target: Tensor  # (B, 3, R, R) ground truth Î_t in [-1, 1]
    parsing: Tensor  # (B, 7, R, R) S_t, soft one-hot
    depth: Tensor  # (B, 1, R, R) D_t, relative metres
    heatmaps: Tensor  # (B, J, R, R) H_t in [0, 1]


@dataclass
class PartInputs:
    """One body part's crops, all (B, C, s, s) at the fine scale; right parts unmirrored."""

    box: Tensor  # (B, 3) int64 [x0, y0, s] of the target crop, fine-frame pixels
    source: Tensor  # (B, 3, s, s) source part crop I^n_s
    other_source: Tensor | None  # (B, 3, s, s) the other side's source crop (arm, leg)
    parsing: Tensor  # (B, 7, s, s) S^n_t as the generator sees it: complete (PL) or visible
    depth: Tensor  # (B, 1, s, s) D^n_t
    heatmaps: Tensor  # (B, J, s, s) H^n_t
    target: Tensor  # (B, 3, s, s) ground-truth crop Î^n_t
    visible: Tensor  # (B, 1, s, s) the part's channel of S^n_t: where Eq. 2 is evaluated
    complete: Tensor  # (B, 1, s, s) the complete part map (from layer_mask_<part>)
    unoccluded: Tensor  # (B,) bool: visible covers ≥ complete_threshold of complete


@dataclass
class StageInputs:
    """What one stage's step needs; fields a stage does not use are None / empty."""

    coarse: MapSet | None = None
    fine: MapSet | None = None
    parts: dict[str, PartInputs] = field(default_factory=dict)
    volume_image: Tensor | None = None  # (B, 3, X, X)
    volume_pose: Tensor | None = None  # (B, J or 2J, X, X): the 3D pose (see pose_3d)
    volume_target: Tensor | None = None  # (B, Z, X, X) int64 labels
    source_voxels: Tensor | None = None  # (B, Z, X, X) int64, when the batch has them


def need(value: T | None, what: str) -> T:
    """``value``, or a ValueError naming what the stage inputs lack (a caller built them for
    another stage)."""
    if value is None:
        raise ValueError(f"the stage inputs lack the {what}")
    return value


def stage_parts(stage: str, config: HPTConfig | None = None) -> tuple[str, ...]:
    """The body parts a stage runs: face → (face,), arm → both arms, fine/e2e → all five
    (none when ``config``'s variant has no part layers)."""
    if stage in LAYER_STAGES:
        return tuple(p for p in PART_LAYERS if PART_KIND[p] == stage)
    if stage in ("fine", "e2e") and (config is None or config.variant.has_layers):
        return tuple(PART_LAYERS)
    return ()


# --------------------------------------------------------------------------- resampling


def resize(x: Tensor, size: int) -> Tensor:
    """(B, C, H, W) → (B, C, size, size): area average when shrinking, bilinear otherwise."""
    if x.shape[-2:] == (size, size):
        return x
    if x.shape[-1] > size:
        return F.interpolate(x, size=(size, size), mode="area")
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


def one_hot_parsing(labels: Tensor, size: int) -> Tensor:
    """(B, H, W) int labels 0..6 → (B, 7, size, size) soft one-hot (area-averaged).

    When the labels shrink by a whole factor f (1024 → 256: every layer and e2e step),
    each output pixel's class fractions are counted straight from its f×f labels: the same
    numbers as the area average of the one-hot map, without the (B, 7, H, W) one-hot at
    full size (int64, then float), which cost ~90 ms a step on one CPU thread."""
    factor = labels.shape[-1] // size
    if factor > 4:  # 4×4 label samples per output pixel are plenty
        stride = factor // 4
        labels = labels[:, stride // 2 :: stride, stride // 2 :: stride]
    b, h, w = labels.shape
    if h == w and h > size and h % size == 0:
        f = h // size
        blocks = labels.long().view(b, size, f, size, f).permute(0, 1, 3, 2, 4)
        blocks = blocks.reshape(b, size, size, f * f)
        ones = torch.ones((), device=labels.device).expand(blocks.shape)
        counts = torch.zeros(b, size, size, NUM_PARTS, device=labels.device)
        counts.scatter_add_(3, blocks, ones)
        return (counts / (f * f)).permute(0, 3, 1, 2)
    onehot = F.one_hot(labels.long(), NUM_PARTS).permute(0, 3, 1, 2).float()
    return resize(onehot, size)


def person_mean_depth(depth: Tensor) -> Tensor:
    """(B, 1, H, W) metres, +inf = background → (B, 1, 1, 1) mean depth of the person's
    pixels: the reference every relative depth (D_t, D^n_t, the joints' z) is taken from."""
    fg = torch.isfinite(depth)
    count = fg.sum(dim=(1, 2, 3), keepdim=True).clamp_min(1)
    return torch.where(fg, depth, torch.zeros_like(depth)).sum(dim=(1, 2, 3), keepdim=True) / count


def relative_depth(depth: Tensor, mean: Tensor | None = None) -> Tensor:
    """(B, 1, H, W) metres, +inf = background → metres minus the person's mean depth
    (``mean`` (B, 1, 1, 1), default this map's own), 0 off it (the shards' z is relative to
    the body, so it may be 0 or negative on the person)."""
    fg = torch.isfinite(depth)
    if mean is None:
        mean = person_mean_depth(depth)
    return torch.where(fg, depth - mean, torch.zeros_like(depth))


def render_heatmaps(joints: Tensor, size: int, sigma: float) -> Tensor:
    """Gaussian heatmaps: joints (B, J, 2) x, y in 1024-frame pixels → (B, J, size, size).

    ``sigma`` is in 1024-frame pixels; pixel i of the output covers [i, i+1)·1024/size.
    """
    if sigma <= 0:
        raise ValueError(f"heatmap sigma must be > 0, got {sigma}")
    scale = CROP / size
    centres = (torch.arange(size, device=joints.device, dtype=torch.float32) + 0.5) * scale
    x = joints[..., 0:1].float()  # (B, J, 1)
    y = joints[..., 1:2].float()
    gx = torch.exp(-((centres - x) ** 2) / (2 * sigma**2))  # (B, J, size) along x
    gy = torch.exp(-((centres - y) ** 2) / (2 * sigma**2))  # along y
    return gy.unsqueeze(-1) * gx.unsqueeze(-2)  # (B, J, size(y), size(x))


class MissingKeypointsError(ModelError, ValueError):
    """A batch without the target keypoints the config needs (shards of schema < 4)."""


def target_keypoints(batch: Mapping[str, Any], count: int) -> Tensor:
    """(B, count, 3): the first ``count`` target keypoints, x, y 1024-frame pixels and z
    camera-frame metres. Shards written before keypoints existed (NaN, or no field) serve
    ``count ≤ 24`` from ``target_joints2d`` with z NaN; otherwise MissingKeypointsError."""
    points = batch.get("target_keypoints")
    if points is not None and points.shape[1] >= count and torch.isfinite(points[:, :count]).all():
        return points[:, :count].float()
    if count <= NUM_JOINTS and "target_joints2d" in batch:
        joints = batch["target_joints2d"][:, :count].float()
        return torch.cat([joints, torch.full_like(joints[..., :1], float("nan"))], dim=-1)
    raise MissingKeypointsError(
        f"the batch lacks the {count} target keypoints (joints and face points) this config's "
        "heatmaps need: shards written before schema 4 have none; rebuild them (hpt-data "
        "render-maps and write-shards), or use a checkpoint's own 24-joint config"
    )


def pose_3d(keypoints: Tensor, size: int, sigma: float, depth: bool) -> Tensor:
    """The volume network's target 3D pose: keypoints (B, J, 3) → (B, J, size, size) heatmaps,
    then, with ``depth``, (B, J, size, size) of each heatmap times the keypoint's z minus the
    pelvis's (keypoint 0), metres: the depth order the 2D heatmaps cannot show (§III-B)."""
    heat = render_heatmaps(keypoints[..., :2], size, sigma)
    if not depth:
        return heat
    z = keypoints[..., 2] - keypoints[:, :1, 2]  # (B, J), relative to the pelvis
    if not torch.isfinite(z).all():
        raise MissingKeypointsError(
            "the batch lacks the target keypoints' depth that the volume network's 3D pose "
            "needs (shards written before schema 4): rebuild them, or set volume.pose_depth "
            "false"
        )
    return torch.cat([heat, heat * z[..., None, None]], dim=1)


def scale_boxes(boxes: Tensor, fine_size: int, part_size: int) -> Tensor:
    """(B, 3) [x0, y0, size] in the 1024 frame → (B, 3) crop of ``part_size`` in the fine
    frame, centred on the same point."""
    k = fine_size / CROP
    centre = boxes[:, :2].double() + boxes[:, 2:3].double() / 2
    x0y0 = torch.round(centre * k - part_size / 2).long()
    size = torch.full_like(x0y0[:, :1], part_size)
    return torch.cat([x0y0, size], dim=1)


def complete_map(layer_mask: Tensor, shard_box: Tensor, fine_size: int, box: Tensor) -> Tensor:
    """Complete part map (B, 1, b, b) at its 1024-frame ``shard_box`` (B, 3) → the fine-frame
    crop ``box`` (B, 3): pasted into the 1024 frame, resized like every other map, cropped
    like them, so it lines up with the visible part to the pixel. Also serves the complete
    part's relative depth (0 off the part)."""
    frame = paste_box(layer_mask.float(), shard_box, CROP, CROP)
    return crop_boxes(resize(frame, fine_size), box)


def complete_parsing(parsing: Tensor, complete: Tensor, label: int) -> Tensor:
    """The part laid on top of the parsing: (B, 7, s, s) soft one-hot and the complete part
    map (B, 1, s, s) in [0, 1] → ``S·(1 − C) + onehot(label)·C``, still summing to one."""
    c = complete.clamp(0, 1)
    out = parsing * (1 - c)
    return torch.cat([out[:, :label], out[:, label : label + 1] + c, out[:, label + 1 :]], dim=1)


# --------------------------------------------------------------------------- the builder


def _map_set(
    batch: Mapping[str, Any], size: int, sigma: float, use_512: bool, num_heatmaps: int
) -> MapSet:
    suffix = "_512" if use_512 else ""
    labels = batch[f"target_parsing{suffix}"]
    depth = batch[f"target_depth{suffix}"]
    return MapSet(
        source=resize(batch["source_image"], size),
        target=resize(batch["target_image"], size),
        parsing=one_hot_parsing(labels, size),
        depth=resize(relative_depth(depth.float()), size),
        heatmaps=render_heatmaps(target_keypoints(batch, num_heatmaps)[..., :2], size, sigma),
    )


def _part_inputs(
    batch: Mapping[str, Any],
    fine: MapSet,
    part: str,
    config: HPTConfig,
    complete_threshold: float,
    depth_mean: Tensor,
) -> PartInputs:
    fine_size = config.inputs.fine_size
    size = config.inputs.part_size(PART_KIND[part])
    row = PART_INDEX[part]
    box = scale_boxes(batch["target_part_boxes"][:, row], fine_size, size)
    source_box = scale_boxes(batch["source_part_boxes"][:, row], fine_size, size)
    other = None
    if part in OTHER_SIDE:
        other_box = scale_boxes(
            batch["source_part_boxes"][:, PART_INDEX[OTHER_SIDE[part]]], fine_size, size
        )
        other = crop_boxes(fine.source, other_box)
    parsing = crop_boxes(fine.parsing, box)
    label = PART_LABEL[part]
    visible = parsing[:, label : label + 1]
    complete = complete_map(
        batch[f"target_layer_mask_{part}"], batch["target_part_boxes"][:, row], fine_size, box
    )
    area = complete.sum(dim=(1, 2, 3))
    covered = torch.minimum(visible, complete).sum(dim=(1, 2, 3))
    unoccluded = (area > 0) & (covered >= complete_threshold * area)
    depth = crop_boxes(fine.depth, box)
    if config.variant.layers == "complete":
        parsing = complete_parsing(parsing, complete, label)
        # D^n_t of the part alone, "regardless of the occlusion": the shard's complete depth
        # (layer_depth_<part>) relative to the same person mean as D_t
        own = relative_depth(batch[f"target_layer_depth_{part}"].float(), depth_mean)
        depth = complete_map(own, batch["target_part_boxes"][:, row], fine_size, box)
    return PartInputs(
        box=box,
        source=crop_boxes(fine.source, source_box),
        other_source=other,
        parsing=parsing,
        depth=depth,
        heatmaps=crop_boxes(fine.heatmaps, box),
        target=crop_boxes(fine.target, box),
        visible=visible,
        complete=complete,
        unoccluded=unoccluded,
    )


def _voxels(voxels: Tensor, z_bins: int, xy: int) -> Tensor:
    """(B, 64, 256, 256) labels → (B, z_bins, xy, xy) int64, nearest."""
    if voxels.shape[-3:] == (z_bins, xy, xy):
        return voxels.long()
    out = F.interpolate(voxels[:, None].float(), size=(z_bins, xy, xy), mode="nearest")
    return out[:, 0].long()


def build_stage_inputs(
    batch: Mapping[str, Any],
    config: HPTConfig,
    stage: str,
    heatmap_sigma: float = HEATMAP_SIGMA_1024,
    complete_threshold: float = 0.95,
) -> StageInputs:
    """Everything ``stage`` needs from a (device-resident) PairDataset batch; see the module
    docstring for each conversion. ``fine`` (or ``e2e``) gives what the config's final image
    needs, for every variant; a layer stage needs a variant with part layers."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; expected one of {STAGES}")
    if stage in LAYER_STAGES:
        config.variant.check_stage(stage)
    batch = decode_pair_batch(dict(batch))  # uint8/float16 over the wire, widened here
    inputs = config.inputs
    out = StageInputs()
    if stage == "volume":
        v = config.volume
        out.volume_image = resize(batch["source_image"], v.xy_size)
        points = target_keypoints(batch, inputs.num_heatmaps)
        out.volume_pose = pose_3d(points, v.xy_size, heatmap_sigma, v.pose_depth)
        out.volume_target = _voxels(batch["target_voxels"], v.z_bins, v.xy_size)
        if "source_voxels" in batch:
            out.source_voxels = _voxels(batch["source_voxels"], v.z_bins, v.xy_size)
        return out
    use_512 = inputs.coarse_size <= 512 and "target_parsing_512" in batch
    j = inputs.num_heatmaps
    out.coarse = _map_set(batch, inputs.coarse_size, heatmap_sigma, use_512, j)
    if stage in ("fine", "e2e") or stage in LAYER_STAGES:
        fine = _map_set(batch, inputs.fine_size, heatmap_sigma, False, j)
        if stage in ("fine", "e2e"):
            out.fine = fine
        parts = stage_parts(stage, config)
        mean = person_mean_depth(batch["target_depth"].float())
        out.parts = {
            p: _part_inputs(batch, fine, p, config, complete_threshold, mean) for p in parts
        }
    return out


def to_device(
    batch: Mapping[str, Any], device: torch.device, channels_last: bool = False
) -> dict[str, Any]:
    """Move a collated batch's tensors to ``device`` (4-D float ones channels_last if asked)."""
    out: dict[str, Any] = {}
    for key, value in batch.items():
        if isinstance(value, Tensor):
            value = value.to(device, non_blocking=True)
            if channels_last and value.dim() == 4 and value.is_floating_point():
                value = value.contiguous(memory_format=torch.channels_last)
        out[key] = value
    return out
