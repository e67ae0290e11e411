"""Discriminators (§IV-B).

- :class:`NLayerDiscriminator`: the 70×70 PatchGAN (pix2pixHD layout, 4×4 convs);
- :class:`MultiscaleDiscriminator`: ``num_d`` PatchGANs on the input average-pooled 0, 1, …
  times (2 scales for the coarse stage, 3 for the fine stage), conditioned on the source
  image by channel concatenation (Eq. 4) and returning every intermediate feature for the
  feature-matching loss;
- :class:`PartDiscriminator`: the DCGAN completeness discriminator of a part layer (Eq. 1),
  conditioned on the source part crop; batch norm in its inner layers for the face, spectral
  normalisation instead for the arm and leg.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from hpt_model.config import HPTConfig
from hpt_model.networks.generator import NormFactory, get_norm_layer, init_weights

KERNEL = 4


def patchgan_layer_specs(n_layers: int) -> list[tuple[int, int]]:
    """(kernel, stride) of each conv of the n-layer PatchGAN, input to output."""
    return [(KERNEL, 2)] * n_layers + [(KERNEL, 1), (KERNEL, 1)]


def receptive_field(specs: list[tuple[int, int]]) -> int:
    """Receptive field in input pixels of one output unit of a conv stack.

    rf = 1 + Σ_i (k_i - 1) · Π_{j<i} s_j.
    """
    rf, jump = 1, 1
    for kernel, stride in specs:
        rf += (kernel - 1) * jump
        jump *= stride
    return rf


class NLayerDiscriminator(nn.Module):
    """PatchGAN: (B, C, H, W) → list of features; the last is the (B, 1, h, w) logit map.

    Layers: conv s2 + LeakyReLU; ``n_layers - 1`` × (conv s2, norm, LeakyReLU); conv s1,
    norm, LeakyReLU; conv s1 to one channel. With ``n_layers = 3`` each logit sees 70×70.
    """

    def __init__(
        self,
        in_channels: int,
        ndf: int = 64,
        n_layers: int = 3,
        norm_layer: NormFactory | None = None,
        max_channels: int = 512,
    ) -> None:
        super().__init__()
        norm_layer = norm_layer or get_norm_layer("instance")
        self.n_layers = n_layers
        stages: list[nn.Module] = [
            nn.Sequential(
                nn.Conv2d(in_channels, ndf, KERNEL, stride=2, padding=1),
                nn.LeakyReLU(0.2, inplace=True),
            )
        ]
        channels = ndf
        for n in range(1, n_layers + 1):
            out = min(ndf * 2**n, max_channels)
            stride = 2 if n < n_layers else 1
            stages.append(
                nn.Sequential(
                    nn.Conv2d(channels, out, KERNEL, stride=stride, padding=1),
                    norm_layer(out),
                    nn.LeakyReLU(0.2, inplace=True),
                )
            )
            channels = out
        stages.append(nn.Conv2d(channels, 1, KERNEL, stride=1, padding=1))
        self.stages = nn.ModuleList(stages)
        self.apply(init_weights)

    def forward(self, x: Tensor) -> list[Tensor]:
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features


class MultiscaleDiscriminator(nn.Module):
    """``num_d`` conditional PatchGANs at scales 1, 1/2, 1/4, …

    forward(image (B, 3, H, W), condition (B, Cc, H, W)) → ``features[scale][layer]``;
    ``features[k][-1]`` is scale k's logit map. Scale 0 is the full resolution.
    """

    def __init__(
        self,
        in_channels: int,
        num_d: int,
        ndf: int = 64,
        n_layers: int = 3,
        norm_layer: NormFactory | None = None,
        max_channels: int = 512,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.discriminators = nn.ModuleList(
            NLayerDiscriminator(in_channels, ndf, n_layers, norm_layer, max_channels)
            for _ in range(num_d)
        )
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def forward(self, image: Tensor, condition: Tensor) -> list[list[Tensor]]:
        if image.shape[0] != condition.shape[0] or image.shape[-2:] != condition.shape[-2:]:
            raise ValueError(
                f"image {tuple(image.shape)} and condition {tuple(condition.shape)} must share "
                "batch and spatial size; resize the source image to the stage's size"
            )
        x = torch.cat([image, condition], dim=1)
        if x.shape[1] != self.in_channels:
            raise ValueError(f"expected {self.in_channels} channels in total, got {x.shape[1]}")
        features = []
        for k, disc in enumerate(self.discriminators):
            if k > 0:
                x = self.downsample(x)
            features.append(disc(x))
        return features


class PartDiscriminator(nn.Module):
    """DCGAN completeness discriminator of one part layer (Eq. 1).

    forward(part (B, 3, s, s), source_part (B, 3, s, s)) → logits (B, 1). ``s`` must be the
    configured crop size (a power of two): log2(s) - 2 stride-2 4×4 convs take it to 4×4 and
    a final 4×4 valid conv to one logit. The first conv has no normalisation; the inner ones
    have batch norm, or, with ``spectral``, spectral normalisation of the conv instead.
    One arm and one leg discriminator serve both sides, like the generators: feed right parts
    (and their source crops) mirrored, in the frame of :class:`~hpt_model.networks.PartLayers`.
    """

    def __init__(
        self,
        size: int,
        in_channels: int = 6,
        ndf: int = 64,
        max_channels: int = 512,
        spectral: bool = False,
    ) -> None:
        super().__init__()
        if size < 8 or size & (size - 1):
            raise ValueError(f"PartDiscriminator size must be a power of two ≥ 8, got {size}")
        self.size = size
        self.in_channels = in_channels
        n_down = int(math.log2(size)) - 2
        layers: list[nn.Module] = []
        inner_convs: list[nn.Conv2d] = []
        channels = in_channels
        for i in range(n_down):
            out = min(ndf * 2**i, max_channels)
            inner = i > 0
            conv = nn.Conv2d(channels, out, KERNEL, stride=2, padding=1, bias=spectral or not inner)
            layers.append(conv)
            if inner:
                inner_convs.append(conv)
                if not spectral:
                    layers.append(nn.BatchNorm2d(out))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            channels = out
        layers.append(nn.Conv2d(channels, 1, KERNEL, stride=1, padding=0))
        self.model = nn.Sequential(*layers)
        self.apply(init_weights)
        if spectral:
            for conv in inner_convs:
                spectral_norm(conv)

    def forward(self, part: Tensor, source_part: Tensor) -> Tensor:
        x = torch.cat([part, source_part], dim=1)
        if x.shape[1] != self.in_channels or x.shape[-2:] != (self.size, self.size):
            raise ValueError(
                f"expected {self.in_channels} channels at {self.size}×{self.size} in total, got "
                f"{tuple(x.shape)}"
            )
        return self.model(x).flatten(1)


def build_patch_discriminator(config: HPTConfig, stage: str) -> MultiscaleDiscriminator:
    """The multi-scale PatchGAN of the ``coarse`` or ``fine`` stage: image (3) + source (3)."""
    d = config.discriminators
    if stage not in ("coarse", "fine"):
        raise ValueError(f"unknown stage {stage!r}; expected 'coarse' or 'fine'")
    num_d = d.coarse_num_d if stage == "coarse" else d.fine_num_d
    return MultiscaleDiscriminator(
        6, num_d, d.ndf, d.n_layers, get_norm_layer(d.norm), d.max_channels
    )


def build_part_discriminator(config: HPTConfig, kind: str) -> PartDiscriminator:
    """The completeness discriminator of the ``face``, ``arm`` or ``leg`` layer."""
    d = config.discriminators
    return PartDiscriminator(
        config.inputs.part_size(kind),
        in_channels=6,
        ndf=d.part_ndf,
        max_channels=d.part_max_channels,
        spectral=kind in d.spectral_norm_parts,
    )
