"""The informative maps a config's generators take, in one place for all three stages.

Table IV's variants differ first in which target maps reach the generators: ``H`` (pose
heatmaps, J channels, always), ``S`` (parsing, 7 one-hot channels) and ``D`` (relative depth,
1 channel). ``config.variant.maps`` selects them for the coarse generator, the part-layer
generators and the fine generator alike; the channels are always concatenated in the order
S, D, H, so a variant's networks differ from the full method's only in their first conv.
"""

from __future__ import annotations

from torch import Tensor

from hpt_model.config import NUM_PARTS, HPTConfig
from hpt_model.networks.generator import check_channels


def map_channels(config: HPTConfig) -> int:
    """Channels of the informative maps this config feeds a generator: 7·S + 1·D + J."""
    variant = config.variant
    parsing = NUM_PARTS if variant.uses("S") else 0
    depth = 1 if variant.uses("D") else 0
    return parsing + depth + config.inputs.num_heatmaps


def select_maps(
    config: HPTConfig, parsing: Tensor | None, depth: Tensor | None, heatmaps: Tensor
) -> list[Tensor]:
    """[S (B, 7, h, w), D (B, 1, h, w), H (B, J, h, w)], each only if the variant uses it.

    A map the variant uses must be given (ValueError naming it); the others may be None.
    """
    variant = config.variant
    out = []
    if variant.uses("S"):
        out.append(check_channels(parsing, "parsing", NUM_PARTS))
    if variant.uses("D"):
        out.append(check_channels(depth, "depth", 1))
    out.append(check_channels(heatmaps, "heatmaps", config.inputs.num_heatmaps))
    return out
