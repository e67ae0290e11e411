"""Coarse-scale generation stage (§III-D-1): source image + informative maps → 512 image.

Input channels, in this order (concatenated on dim 1):

====================  ========  =========================================
tensor                channels  present when
====================  ========  =========================================
source image I_s      3         always, in [-1, 1]
target parsing S_t    7         ``"S" in variant.maps`` (one-hot, labels 0..6)
target depth D_t      1         ``"D" in variant.maps``
target heatmaps H_t   J         always (J = ``inputs.num_heatmaps``)
====================  ========  =========================================

Table IV's first rows (H, H+S, H+S+D) are this generator alone with fewer maps.
"""

from __future__ import annotations

from torch import Tensor, nn

from hpt_model.config import HPTConfig
from hpt_model.networks.generator import ResnetGenerator, check_channels, concat_inputs
from hpt_model.networks.maps import map_channels, select_maps


def coarse_in_channels(config: HPTConfig) -> int:
    """Number of input channels of the coarse generator for this config."""
    return 3 + map_channels(config)


class CoarseGenerator(nn.Module):
    """(I_s, S_t, D_t, H_t) at the coarse size → coarse image Ĩ_t (B, 3, h, w) in [-1, 1]."""

    def __init__(self, config: HPTConfig) -> None:
        super().__init__()
        self.config = config
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

        ``parsing``/``depth`` are required when the variant uses them and ignored otherwise.
        """
        maps = select_maps(self.config, parsing, depth, heatmaps)
        return self.net(concat_inputs([check_channels(source, "source", 3), *maps]))
