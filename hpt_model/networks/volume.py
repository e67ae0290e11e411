"""Volume generation network of Ours-V (§III-B): stacked hourglasses after BodyNet.

Two encoders, one for the source image and one for the target 3D pose, each a stem that
brings the input to 1/4 resolution and one hourglass. The pose is given as J heatmaps (the
projected joints of P_t on the volume's xy grid). Their features are concatenated, fused by
a 1×1 conv and decoded by ``num_stacks`` (2) stacked hourglasses; a head upsamples back to
the full xy resolution and predicts ``7·Z`` channels, reshaped into per-voxel logits.

Shapes, with X = ``volume.xy_size`` (256) and Z = ``volume.z_bins`` (64):

- image: (B, 3, X, X) in [-1, 1] (the source image resized to X);
- pose: (B, J, X, X) heatmaps;
- logits: (B, 7, Z, X, X); channel ``c·Z + z`` of the head is label c at depth bin z;
- target for :func:`hpt_model.losses.volume_cross_entropy`: (B, Z, X, X) uint8 labels 0..6.

The voxel grid's x, y are the image crop's at 1/4 of the fine scale (DESIGN.md).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hpt_model.config import NUM_PARTS, HPTConfig
from hpt_model.networks.generator import NormFactory, check_channels, get_norm_layer


class Residual(nn.Module):
    """Bottleneck residual module of Newell et al.: (B, cin, H, W) → (B, cout, H, W)."""

    def __init__(self, cin: int, cout: int, norm_layer: NormFactory) -> None:
        super().__init__()
        mid = cout // 2
        self.body = nn.Sequential(
            norm_layer(cin),
            nn.ReLU(inplace=False),
            nn.Conv2d(cin, mid, 1),
            norm_layer(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, mid, 3, padding=1),
            norm_layer(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, cout, 1),
        )
        self.skip = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.skip(x) + self.body(x)


class Hourglass(nn.Module):
    """Recursive hourglass of ``depth`` levels; keeps (B, C, H, W), H, W divisible by 2^depth."""

    def __init__(self, depth: int, channels: int, norm_layer: NormFactory) -> None:
        super().__init__()
        self.skip = Residual(channels, channels, norm_layer)
        self.down = nn.Sequential(nn.MaxPool2d(2), Residual(channels, channels, norm_layer))
        self.inner: nn.Module = (
            Hourglass(depth - 1, channels, norm_layer)
            if depth > 1
            else Residual(channels, channels, norm_layer)
        )
        self.up = nn.Sequential(
            Residual(channels, channels, norm_layer), nn.Upsample(scale_factor=2, mode="nearest")
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.skip(x) + self.up(self.inner(self.down(x)))


def _conv_block(cin: int, cout: int, kernel: int, norm_layer: NormFactory, stride: int = 1):
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2),
        norm_layer(cout),
        nn.ReLU(inplace=True),
    )


class HourglassEncoder(nn.Module):
    """Stem to 1/4 resolution then one hourglass: (B, cin, X, X) → (B, F, X/4, X/4)."""

    def __init__(self, cin: int, features: int, depth: int, norm_layer: NormFactory) -> None:
        super().__init__()
        half = features // 2
        self.net = nn.Sequential(
            _conv_block(cin, half // 2, 7, norm_layer, stride=2),
            Residual(half // 2, half, norm_layer),
            nn.MaxPool2d(2),
            Residual(half, half, norm_layer),
            Residual(half, features, norm_layer),
            Hourglass(depth, features, norm_layer),
            Residual(features, features, norm_layer),
            _conv_block(features, features, 1, norm_layer),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class VolumeNetwork(nn.Module):
    """(image (B, 3, X, X), pose (B, P, X, X)) → voxel logits (B, 7, Z, X, X); the target
    3D pose has P = 2J channels (heatmaps, then heatmaps × relative depth:
    ``hpt_model.method.inputs.pose_3d``), or J with ``volume.pose_depth`` off."""

    def __init__(self, config: HPTConfig) -> None:
        super().__init__()
        v = config.volume
        norm_layer = get_norm_layer(v.norm)
        f = v.features
        self.xy_size = v.xy_size
        self.z_bins = v.z_bins
        self.pose_channels = config.inputs.num_heatmaps * (2 if v.pose_depth else 1)
        self.image_encoder = HourglassEncoder(3, f, v.hourglass_depth, norm_layer)
        self.pose_encoder = HourglassEncoder(self.pose_channels, f, v.hourglass_depth, norm_layer)
        self.fuse = _conv_block(2 * f, f, 1, norm_layer)
        self.stacks = nn.ModuleList(
            nn.Sequential(
                Hourglass(v.hourglass_depth, f, norm_layer),
                Residual(f, f, norm_layer),
                _conv_block(f, f, 1, norm_layer),
            )
            for _ in range(v.num_stacks)
        )
        self.head = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"),
            _conv_block(f, f // 2, 3, norm_layer),
            nn.Upsample(scale_factor=2, mode="nearest"),
            _conv_block(f // 2, f // 4, 3, norm_layer),
            nn.Conv2d(f // 4, NUM_PARTS * v.z_bins, 1),
        )

    def forward(self, image: Tensor, pose: Tensor) -> Tensor:
        check_channels(image, "image", 3)
        check_channels(pose, "pose", self.pose_channels)
        for name, x in (("image", image), ("pose", pose)):
            if x.shape[-2:] != (self.xy_size, self.xy_size):
                raise ValueError(
                    f"{name}: expected {self.xy_size}×{self.xy_size}, got {tuple(x.shape[-2:])}"
                )
        x = self.fuse(torch.cat([self.image_encoder(image), self.pose_encoder(pose)], dim=1))
        for stack in self.stacks:
            x = x + stack(x)  # residual stacking keeps the fused features flowing through
        logits = self.head(x)  # (B, 7·Z, X, X)
        batch = logits.shape[0]
        return logits.view(batch, NUM_PARTS, self.z_bins, self.xy_size, self.xy_size)
