"""Johnson et al. residual generator, shared by every stage (§IV-B), and its building blocks.

Layout: reflection-pad + 7×7 conv, ``n_downsample`` stride-2 3×3 convs (channels doubled,
capped), ``n_blocks`` residual blocks, as many upsampling convs, reflection-pad + 7×7 conv to
the output channels, then the output activation:

- ``"tanh"``: an image in [-1, 1] (the coarse stage);
- ``"offset"``: ``offset_scale · tanh``, an offset image (part layers, fine fusion). With
  images in [-1, 1] a target minus a prediction lies in [-2, 2], so the default scale is 2.
  ``offset_init_std`` sets the last conv's initial weights: with pix2pixHD's 0.02 a new
  offset generator adds noise of mean magnitude ~0.55 to the image it refines (measured at
  every stage of the ``small`` config), which a stage trained for few steps never removes;
  a small std starts it near the identity (the refined image passed through);
- ``"none"``: raw values.

The normalisation is injected as a factory ``norm_layer(num_channels) -> nn.Module``
(see :func:`get_norm_layer`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import Tensor, nn

from hpt_model.config import GeneratorConfig

NormFactory = Callable[[int], nn.Module]

OUTPUT_ACTIVATIONS = ("tanh", "offset", "none")


def _no_norm(num_channels: int) -> nn.Module:
    return nn.Identity()


def get_norm_layer(name: str) -> NormFactory:
    """Norm factory by name: ``instance`` (no affine, as pix2pixHD), ``batch`` or ``none``."""
    if name == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    if name == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True)
    if name == "none":
        return _no_norm
    raise ValueError(f"unknown norm {name!r}; expected 'instance', 'batch' or 'none'")


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    """DCGAN/pix2pixHD initialisation: conv weights N(0, std), norm scales N(1, std)."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Conv3d):
        nn.init.normal_(module.weight, 0.0, std)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d | nn.InstanceNorm2d) and module.weight is not None:
        nn.init.normal_(module.weight, 1.0, std)
        nn.init.zeros_(module.bias)


class ResnetBlock(nn.Module):
    """``x + conv(relu(norm(conv(x))))`` with reflection padding; keeps (B, C, H, W)."""

    def __init__(self, channels: int, norm_layer: NormFactory) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            norm_layer(channels),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            norm_layer(channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def _upsample(in_ch: int, out_ch: int, mode: str) -> nn.Module:
    if mode == "transpose":
        return nn.ConvTranspose2d(in_ch, out_ch, 3, stride=2, padding=1, output_padding=1)
    if mode == "nearest":
        return nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.ReflectionPad2d(1),
            nn.Conv2d(in_ch, out_ch, 3),
        )
    raise ValueError(f"unknown upsample mode {mode!r}; expected 'transpose' or 'nearest'")


class ResnetGenerator(nn.Module):
    """Johnson et al. generator: (B, in_channels, H, W) → (B, out_channels, H, W).

    H and W must be divisible by ``2**n_downsample``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int = 3,
        ngf: int = 64,
        n_downsample: int = 3,
        n_blocks: int = 9,
        norm_layer: NormFactory | None = None,
        output: str = "tanh",
        offset_scale: float = 2.0,
        upsample: str = "transpose",
        max_channels: int = 1024,
        offset_init_std: float = 0.001,
    ) -> None:
        super().__init__()
        if output not in OUTPUT_ACTIVATIONS:
            raise ValueError(f"unknown output {output!r}; expected one of {OUTPUT_ACTIVATIONS}")
        norm_layer = norm_layer or get_norm_layer("instance")
        self.in_channels = in_channels
        self.n_downsample = n_downsample
        self.output = output
        self.offset_scale = offset_scale

        widths = [min(ngf * 2**i, max_channels) for i in range(n_downsample + 1)]
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_channels, widths[0], 7),
            norm_layer(widths[0]),
            nn.ReLU(inplace=True),
        ]
        for i in range(n_downsample):
            layers += [
                nn.Conv2d(widths[i], widths[i + 1], 3, stride=2, padding=1),
                norm_layer(widths[i + 1]),
                nn.ReLU(inplace=True),
            ]
        layers += [ResnetBlock(widths[-1], norm_layer) for _ in range(n_blocks)]
        for i in reversed(range(n_downsample)):
            layers += [
                _upsample(widths[i + 1], widths[i], upsample),
                norm_layer(widths[i]),
                nn.ReLU(inplace=True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(widths[0], out_channels, 7)]
        self.model = nn.Sequential(*layers)
        self.apply(init_weights)
        if output == "offset":
            init_weights(self.model[-1], std=offset_init_std)

    @classmethod
    def from_config(
        cls,
        cfg: GeneratorConfig,
        in_channels: int,
        norm: str = "instance",
        output: str = "tanh",
        offset_scale: float = 2.0,
        out_channels: int = 3,
        offset_init_std: float = 0.001,
    ) -> ResnetGenerator:
        """Build from one stage's :class:`~hpt_model.config.GeneratorConfig`."""
        return cls(
            in_channels,
            out_channels,
            ngf=cfg.ngf,
            n_downsample=cfg.n_downsample,
            n_blocks=cfg.n_blocks,
            norm_layer=get_norm_layer(norm),
            output=output,
            offset_scale=offset_scale,
            upsample=cfg.upsample,
            max_channels=cfg.max_channels,
            offset_init_std=offset_init_std,
        )

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, in_channels, H, W) → (B, out_channels, H, W)."""
        if x.shape[1] != self.in_channels:
            raise ValueError(f"expected {self.in_channels} input channels, got {x.shape[1]}")
        step = 2**self.n_downsample
        if x.shape[-1] % step or x.shape[-2] % step:
            raise ValueError(f"input size {tuple(x.shape[-2:])} is not divisible by {step}")
        y = self.model(x)
        if self.output == "tanh":
            return torch.tanh(y)
        if self.output == "offset":
            return self.offset_scale * torch.tanh(y)
        return y


def check_channels(x: Tensor | None, name: str, channels: int) -> Tensor:
    """Return ``x`` if it is (B, channels, H, W), else raise a ValueError naming it."""
    if x is None:
        raise ValueError(f"{name} is required by this config but was None")
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(f"{name}: expected (B, {channels}, H, W), got {tuple(x.shape)}")
    return x


def concat_inputs(tensors: list[Tensor]) -> Tensor:
    """Concatenate (B, C_i, H, W) tensors on channels after checking B, H, W agree."""
    first = tensors[0]
    for t in tensors[1:]:
        if t.shape[0] != first.shape[0] or t.shape[-2:] != first.shape[-2:]:
            shapes = [tuple(t.shape) for t in tensors]
            raise ValueError(f"inputs disagree in batch or spatial size: {shapes}")
    return torch.cat(tensors, dim=1)
