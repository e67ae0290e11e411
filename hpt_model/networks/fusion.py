"""Fine-scale fusion stage (§III-D-2) and the crop-box helpers shared with the part layers.

Box format, everywhere: one integer row ``[x0, y0, size]`` per sample, shape (B, 3), the
top-left corner and side of a square crop in pixels of the fine (1024) frame. A box may
reach outside the frame: crops are zero-padded there and pastes drop what falls outside.

Eq. 6 (:func:`initial_fusion`)::

    İ_t = up(Ĩ_t) + Σ_n paste(Ǐ^n_t, box_n) ⊙ S^n_t

with ``up`` a bilinear upsampling of the coarse result to the fine size and S^n_t the
parsing channel of part n (head for the face, 3..6 for the limbs). The fine generator then
predicts an offset from [İ_t, S_t, D_t, H_t] and the result is ``I_t = İ_t + offset``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hpt_model.config import NUM_PARTS, HPTConfig
from hpt_model.networks.generator import ResnetGenerator, check_channels, concat_inputs
from hpt_model.networks.layers import PART_LABEL
from hpt_model.networks.maps import map_channels, select_maps


def _check_boxes(boxes: Tensor, batch: int) -> list[list[int]]:
    if boxes.shape != (batch, 3):
        raise ValueError(f"boxes: expected (B={batch}, 3) [x0, y0, size], got {tuple(boxes.shape)}")
    if torch.is_floating_point(boxes) and not torch.equal(boxes, boxes.round()):
        raise ValueError("boxes must hold integer pixel coordinates")
    rows = [[int(v) for v in row] for row in boxes.tolist()]
    if any(size <= 0 for _, _, size in rows):
        raise ValueError("box sizes must be positive")
    return rows


def _overlap(start: int, size: int, limit: int) -> tuple[int, int]:
    """Intersection [lo, hi) of [start, start + size) with [0, limit), in frame coordinates."""
    return max(start, 0), min(start + size, limit)


def crop_boxes(image: Tensor, boxes: Tensor) -> Tensor:
    """Differentiable square crops: image (B, C, H, W), boxes (B, 3) → (B, C, s, s).

    All boxes of a batch must share one size ``s``; pixels outside the frame are zero.
    """
    batch, _, height, width = image.shape
    rows = _check_boxes(boxes, batch)
    sizes = {size for _, _, size in rows}
    if len(sizes) != 1:
        raise ValueError(f"boxes of one batch must share one size, got {sorted(sizes)}")
    out = []
    for b, (x0, y0, size) in enumerate(rows):
        xa, xb = _overlap(x0, size, width)
        ya, yb = _overlap(y0, size, height)
        if xa >= xb or ya >= yb:
            out.append(image.new_zeros(image.shape[1], size, size))
            continue
        region = image[b, :, ya:yb, xa:xb]
        pad = (xa - x0, x0 + size - xb, ya - y0, y0 + size - yb)
        out.append(F.pad(region, pad))
    return torch.stack(out)


def paste_box(patch: Tensor, boxes: Tensor, height: int, width: int) -> Tensor:
    """Differentiable paste of (B, C, s, s) patches into zero (B, C, height, width) frames."""
    batch, channels, ph, pw = patch.shape
    rows = _check_boxes(boxes, batch)
    out = []
    for b, (x0, y0, size) in enumerate(rows):
        if size != ph or size != pw:
            raise ValueError(f"box size {size} does not match the patch size {(ph, pw)}")
        xa, xb = _overlap(x0, size, width)
        ya, yb = _overlap(y0, size, height)
        if xa >= xb or ya >= yb:
            out.append(patch.new_zeros(channels, height, width))
            continue
        region = patch[b, :, ya - y0 : yb - y0, xa - x0 : xb - x0]
        out.append(F.pad(region, (xa, width - xb, ya, height - yb)))
    return torch.stack(out)


def paste_offsets(
    canvas: Tensor,
    offsets: Sequence[Tensor],
    boxes: Sequence[Tensor],
    masks: Sequence[Tensor],
) -> Tensor:
    """Eq. 6 on a canvas: ``canvas + Σ_n paste(offsets[n], boxes[n]) ⊙ masks[n]``.

    canvas (B, C, H, W); offsets[n] (B, C, s_n, s_n); boxes[n] (B, 3) ``[x0, y0, size]`` in
    canvas pixels; masks[n] (B, 1, H, W) part masks in the canvas frame. Pure and
    differentiable in canvas, offsets and masks.
    """
    if not len(offsets) == len(boxes) == len(masks):
        raise ValueError(
            f"need one box and one mask per offset: {len(offsets)} offsets, "
            f"{len(boxes)} boxes, {len(masks)} masks"
        )
    batch, _, height, width = canvas.shape
    result = canvas
    for offset, box, mask in zip(offsets, boxes, masks, strict=True):
        if mask.shape != (batch, 1, height, width):
            raise ValueError(
                f"mask: expected (B, 1, H, W) = {(batch, 1, height, width)}, got "
                f"{tuple(mask.shape)}"
            )
        result = result + paste_box(offset, box, height, width) * mask
    return result


def initial_fusion(
    coarse: Tensor,
    offsets: Mapping[str, Tensor],
    boxes: Mapping[str, Tensor],
    parsing: Tensor,
) -> Tensor:
    """İ_t of Eq. 6: coarse (B, 3, h, w) upsampled to parsing's (H, W), plus the part
    offsets (name → (B, 3, s, s)) pasted at their boxes (name → (B, 3)) and masked by their
    parsing channel. parsing: (B, 7, H, W) one-hot. Returns (B, 3, H, W).
    """
    unknown = sorted(set(offsets) - set(PART_LABEL))
    if unknown:
        raise ValueError(f"unknown part(s) {unknown}; expected names from {sorted(PART_LABEL)}")
    missing = sorted(set(offsets) - set(boxes))
    if missing:
        raise ValueError(f"no box for part(s) {missing}")
    check_channels(parsing, "parsing", NUM_PARTS)
    up = F.interpolate(coarse, size=parsing.shape[-2:], mode="bilinear", align_corners=False)
    names = list(offsets)
    return paste_offsets(
        up,
        [offsets[n] for n in names],
        [boxes[n] for n in names],
        [parsing[:, PART_LABEL[n] : PART_LABEL[n] + 1] for n in names],
    )


@dataclass
class FusionOutput:
    """What the fine stage returns; all (B, 3, H, W) at the fine size."""

    initial: Tensor  # İ_t, Eq. 6
    offset: Tensor  # Ǐ_t predicted by the fine generator, in [-scale, scale]
    image: Tensor  # I_t = İ_t + Ǐ_t (not clamped: clamp for display only)


def fine_in_channels(config: HPTConfig) -> int:
    """[İ_t (3), S_t (7), D_t (1), H_t (J)], S and D only if the variant uses them."""
    return 3 + map_channels(config)


class FineFusionGenerator(nn.Module):
    """Eq. 6 followed by the fine generator predicting an offset from [İ_t, S_t, D_t, H_t].

    The parsing is needed for Eq. 6's masks whether or not S is a generator input.
    """

    def __init__(self, config: HPTConfig) -> None:
        super().__init__()
        self.config = config
        self.net = ResnetGenerator.from_config(
            config.generators.fine,
            fine_in_channels(config),
            norm=config.generators.norm,
            output="offset",
            offset_scale=config.generators.offset_scale,
            offset_init_std=config.generators.offset_init_std,
        )

    def forward(
        self,
        coarse: Tensor,
        offsets: Mapping[str, Tensor],
        boxes: Mapping[str, Tensor],
        parsing: Tensor,
        depth: Tensor | None,
        heatmaps: Tensor,
    ) -> FusionOutput:
        """coarse (B, 3, h, w); offsets/boxes per part; parsing (B, 7, H, W), depth
        (B, 1, H, W) (None if the variant has no D), heatmaps (B, J, H, W) at the fine size."""
        initial = initial_fusion(coarse, offsets, boxes, parsing)
        x = concat_inputs([initial, *select_maps(self.config, parsing, depth, heatmaps)])
        offset = self.net(x)
        return FusionOutput(initial=initial, offset=offset, image=initial + offset)
