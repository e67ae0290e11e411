"""Part-based layer generators (§III-C): one face, one arm and one leg generator.

Each generator takes square crops around one body part, at the fine scale (face 128, arm
256, leg 512 px in the paper), and predicts an OFFSET image Ǐ^n_t to add to the crop of the
upsampled coarse result: ``offset_scale · tanh`` so offsets lie in [-2, 2], the range of a
difference of two images in [-1, 1]. Offsets are not clamped further; the sum is clamped only
for display.

Input channel order of a part generator (concatenated on dim 1), all (B, C, s, s):

====================  ========  ===========================================
tensor                channels  note
====================  ========  ===========================================
source part I^n_s     3         the source image's crop of this part
target parsing S^n_t  7         one-hot, labels 0..6; if ``"S" in variant.maps``
target depth D^n_t    1         if ``"D" in variant.maps``
target heatmaps H^n_t J
coarse crop Ĩ^n_t     3         crop of the upsampled coarse result
other-side source     3         arm and leg only: the source crop of the other side
====================  ========  ===========================================

What S^n_t holds (complete part map for PL, visible parsing for PL⁻) is decided where the
crops are made (:mod:`hpt_model.method.inputs`); the generators are the same for both.

Left and right share ONE generator (§III-C). The shared arm/leg generators are trained in
the frame of the person's LEFT side; a right part is handled by mirroring: every input crop
is flipped horizontally, the left/right channels of S (3↔4, 5↔6) and of H
(``inputs.heatmap_flip_pairs``) are swapped, the generator runs, and its output is flipped
back. The other-side input of a right part is the left part's source crop (mirrored too).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from hpt_model.config import HPTConfig
from hpt_model.networks.generator import ResnetGenerator, check_channels, concat_inputs
from hpt_model.networks.maps import map_channels, select_maps

PART_NAMES: tuple[str, ...] = ("face", "left_arm", "right_arm", "left_leg", "right_leg")
PART_KIND: dict[str, str] = {
    "face": "face",
    "left_arm": "arm",
    "right_arm": "arm",
    "left_leg": "leg",
    "right_leg": "leg",
}
PART_LABEL: dict[str, int] = {
    "face": 1,
    "left_arm": 3,
    "right_arm": 4,
    "left_leg": 5,
    "right_leg": 6,
}  # the channel of S (and label of the parsing map) whose mask covers each layer
MIRRORED_PARTS: frozenset[str] = frozenset({"right_arm", "right_leg"})
PARSING_FLIP: tuple[int, ...] = (0, 1, 2, 4, 3, 6, 5)  # S channel i of the mirror = channel p[i]


def heatmap_flip_permutation(num_heatmaps: int, pairs: Sequence[Sequence[int]]) -> list[int]:
    """Channel permutation that swaps each (left, right) joint pair of H."""
    perm = list(range(num_heatmaps))
    for left, right in pairs:
        perm[left], perm[right] = right, left
    return perm


@dataclass
class PartCrops:
    """The crops of one body part, all (B, C, s, s) at the fine scale."""

    source: Tensor  # (B, 3, s, s) source image crop I^n_s
    parsing: Tensor  # (B, 7, s, s) target parsing S^n_t, one-hot
    depth: Tensor  # (B, 1, s, s) target depth D^n_t
    heatmaps: Tensor  # (B, J, s, s) target heatmaps H^n_t
    coarse: Tensor  # (B, 3, s, s) crop of the upsampled coarse result Ĩ^n_t
    other_source: Tensor | None = None  # (B, 3, s, s) other side's source crop (arm, leg)

    def mirrored(self, heatmap_perm: Sequence[int]) -> PartCrops:
        """Horizontally flipped crops with left/right channels of S and H swapped."""

        def flip(x: Tensor | None) -> Tensor | None:
            return None if x is None else torch.flip(x, dims=(-1,))

        return PartCrops(
            source=torch.flip(self.source, dims=(-1,)),
            parsing=torch.flip(self.parsing[:, list(PARSING_FLIP)], dims=(-1,)),
            depth=torch.flip(self.depth, dims=(-1,)),
            heatmaps=torch.flip(self.heatmaps[:, list(heatmap_perm)], dims=(-1,)),
            coarse=torch.flip(self.coarse, dims=(-1,)),
            other_source=flip(self.other_source),
        )


def part_in_channels(kind: str, config: HPTConfig) -> int:
    """Input channels of the ``face|arm|leg`` generator (see the module docstring)."""
    base = 3 + map_channels(config) + 3
    return base if kind == "face" else base + 3


class PartLayerGenerator(nn.Module):
    """One part generator: :class:`PartCrops` → offset (B, 3, s, s) in [-scale, scale]."""

    def __init__(self, kind: str, config: HPTConfig) -> None:
        super().__init__()
        config.inputs.part_size(kind)  # validates the kind
        self.kind = kind
        self.config = config
        self.net = ResnetGenerator.from_config(
            getattr(config.generators, kind),
            part_in_channels(kind, config),
            norm=config.generators.norm,
            output="offset",
            offset_scale=config.generators.offset_scale,
            offset_init_std=config.generators.offset_init_std,
        )

    def forward(self, crops: PartCrops) -> Tensor:
        tensors = [
            check_channels(crops.source, "source", 3),
            *select_maps(self.config, crops.parsing, crops.depth, crops.heatmaps),
            check_channels(crops.coarse, "coarse", 3),
        ]
        if self.kind != "face":
            tensors.append(check_channels(crops.other_source, "other_source", 3))
        elif crops.other_source is not None:
            raise ValueError("the face generator takes no other_source crop")
        return self.net(concat_inputs(tensors))


class PartLayers(nn.Module):
    """The three shared part generators; runs any of the five parts by name."""

    def __init__(self, config: HPTConfig) -> None:
        super().__init__()
        self.generators = nn.ModuleDict(
            {kind: PartLayerGenerator(kind, config) for kind in ("face", "arm", "leg")}
        )
        perm = heatmap_flip_permutation(
            config.inputs.num_heatmaps, config.inputs.heatmap_flip_pairs
        )
        self.heatmap_perm: tuple[int, ...] = tuple(perm)

    def generator_for(self, part: str) -> PartLayerGenerator:
        """The (shared) generator that runs ``part``."""
        if part not in PART_KIND:
            raise ValueError(f"unknown part {part!r}; expected one of {PART_NAMES}")
        return self.generators[PART_KIND[part]]  # type: ignore[return-value]

    def run_part(self, part: str, crops: PartCrops) -> Tensor:
        """Offset (B, 3, s, s) for one part, in that part's own (unmirrored) frame."""
        generator = self.generator_for(part)
        if part in MIRRORED_PARTS:
            return torch.flip(generator(crops.mirrored(self.heatmap_perm)), dims=(-1,))
        return generator(crops)

    def forward(self, crops: Mapping[str, PartCrops]) -> dict[str, Tensor]:
        """crops: part name (any of :data:`PART_NAMES`) → its crops; returns name → offset."""
        return {part: self.run_part(part, part_crops) for part, part_crops in crops.items()}
