"""Coarse-scale generation stage (§III-D-1): source image + informative maps → 512 image.

Input channels, in this order (concatenated on dim 1):

====================  ========  =========================================
tensor                channels  present when
====================  ========  =========================================
source image I_s      3         always, in [-1, 1]
target parsing S_t    7         ``inputs.use_parsing`` (one-hot, labels 0..6)
target depth D_t      1         ``inputs.use_depth``
target heatmaps H_t   J         always (J = ``inputs.num_heatmaps``)
====================  ========  =========================================

The switches give Table IV's first variants as configs: H (both off), H+S, H+S+D.
"""

from __future__ import annotations

from torch import Tensor, nn

from hpt_model.config import NUM_PARTS, HPTConfig
from hpt_model.networks.generator import ResnetGenerator, check_channels, concat_inputs


def coarse_in_channels(config: HPTConfig) -> int:
    """Number of input channels of the coarse generator for this config."""
    inputs = config.inputs
    return 3 + NUM_PARTS * inputs.use_parsing + 1 * inputs.use_depth + inputs.num_heatmaps


class CoarseGenerator(nn.Module):
    """(I_s, S_t, D_t, H_t) at the coarse size → coarse image Ĩ_t (B, 3, h, w) in [-1, 1]."""

    def __init__(self, config: HPTConfig) -> None:
        super().__init__()
        self.use_parsing = config.inputs.use_parsing
        self.use_depth = config.inputs.use_depth
        self.num_heatmaps = config.inputs.num_heatmaps
        self.net = ResnetGenerator.from_config(
            config.generators.coarse,
            coarse_in_channels(config),
            norm=config.generators.norm,
            output="tanh",
        )

    def forward(
        self,
        source: Tensor,
        heatmaps: Tensor,
        parsing: Tensor | None = None,
        depth: Tensor | None = None,
    ) -> Tensor:
        """source (B, 3, h, w), heatmaps (B, J, h, w), parsing (B, 7, h, w), depth (B, 1, h, w).

        ``parsing``/``depth`` are required when their switch is on and ignored otherwise.
        """
        parts = [source]
        if self.use_parsing:
            parts.append(check_channels(parsing, "parsing", NUM_PARTS))
        if self.use_depth:
            parts.append(check_channels(depth, "depth", 1))
        parts.append(check_channels(heatmaps, "heatmaps", self.num_heatmaps))
        return self.net(concat_inputs(parts))
