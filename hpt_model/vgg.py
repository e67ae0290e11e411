"""Frozen VGG-19 feature extractor for the perceptual losses (Eqs. 2, 5), no torchvision.

The layer list and state-dict keys match torchvision's ``vgg19().features``
(``features.N.weight`` / ``features.N.bias`` for the 16 convs), so the official weights
file ``vgg19-dcbb9e9d.pth`` loads as is; its ``classifier.*`` keys are ignored. torchvision
itself is not used: its PyPI build does not import beside this project's pinned CPU torch,
and only the conv stack is needed.

The paper's feature layers (footnote 1): relu1_2, relu2_2, relu3_2, relu4_2, relu5_2, i.e.
the outputs of ``features`` modules 3, 8, 13, 22 and 31.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from hpt_model.errors import MissingWeightsError

logger = logging.getLogger(__name__)

VGG19_FILENAME = "vgg19-dcbb9e9d.pth"  # torchvision's IMAGENET1K_V1 weights
# torchvision's ``cfgs["E"]``: conv widths, "M" = 2×2 max-pool.
_VGG19_LAYOUT: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
    512, 512, 512, 512, "M", 512, 512, 512, 512, "M",
)  # fmt: skip
FEATURE_LAYERS: dict[str, int] = {  # name → index in ``features`` of that ReLU
    "relu1_2": 3,
    "relu2_2": 8,
    "relu3_2": 13,
    "relu4_2": 22,
    "relu5_2": 31,
}
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class VGG19Features(nn.Module):
    """Frozen VGG-19 conv stack.

    forward(x (B, 3, H, W) in [-1, 1]) → [relu1_2, relu2_2, relu3_2, relu4_2, relu5_2] with
    shapes (B, 64, H, W), (B, 128, H/2, W/2), (B, 256, H/4, W/4), (B, 512, H/8, W/8),
    (B, 512, H/16, W/16). Inputs are mapped to [0, 1] and ImageNet-normalised first.
    """

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for item in _VGG19_LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, int(item), 3, padding=1), nn.ReLU(inplace=True)]
                channels = int(item)
        self.features = nn.Sequential(*layers)
        mean = torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1)
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)
        self.outputs = tuple(FEATURE_LAYERS.values())
        self.freeze()

    def freeze(self) -> VGG19Features:
        """No gradients to the weights, eval mode (gradients still flow to the input)."""
        for p in self.parameters():
            p.requires_grad_(False)
        return self.eval()

    def train(self, mode: bool = True) -> VGG19Features:
        """Stays in eval mode: the extractor is never trained."""
        return super().train(False)

    def forward(self, x: Tensor) -> list[Tensor]:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"expected (B, 3, H, W) images in [-1, 1], got {tuple(x.shape)}")
        x = ((x + 1) / 2 - self.mean) / self.std
        features = []
        last = self.outputs[-1]
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.outputs:  # no later layer is in-place on these (pool or conv next)
                features.append(x)
            if i == last:
                break
        return features


def default_weight_paths() -> list[Path]:
    """Where torchvision caches ``vgg19-dcbb9e9d.pth``: $TORCH_HOME, then ~/.cache/torch."""
    paths = [Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILENAME]
    torch_home = os.environ.get("TORCH_HOME")
    if torch_home:
        paths.append(Path(torch_home).expanduser() / "hub" / "checkpoints" / VGG19_FILENAME)
    paths.append(Path("~/.cache/torch/hub/checkpoints").expanduser() / VGG19_FILENAME)
    unique: list[Path] = []
    for p in paths:
        if p not in unique:
            unique.append(p)
    return unique


def _features_state_dict(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Keep ``features.*`` of a torchvision vgg19 state dict (or prefix a bare one)."""
    if any(k.startswith("features.") for k in state):
        return {k: v for k, v in state.items() if k.startswith("features.")}
    return {f"features.{k}": v for k, v in state.items() if not k.startswith("classifier.")}


def load_vgg19(
    path: str | os.PathLike[str] | None = None, allow_random: bool = False
) -> VGG19Features:
    """Frozen :class:`VGG19Features` with weights from ``path`` or torchvision's cache.

    Looks at ``path`` if given, then :func:`default_weight_paths`. Accepts a full torchvision
    ``vgg19`` state dict (``features.*``, ``classifier.*``: the classifier is ignored) or the
    state dict of ``vgg19().features``. If none exists: raises :class:`MissingWeightsError`,
    or with ``allow_random`` returns random weights with a loud warning.
    """
    candidates = ([Path(path).expanduser()] if path is not None else []) + default_weight_paths()
    model = VGG19Features()
    for candidate in candidates:
        if candidate.is_file():
            state = torch.load(candidate, map_location="cpu", weights_only=True)
            model.load_state_dict(_features_state_dict(state), strict=True)
            logger.info("loaded VGG-19 weights from %s", candidate)
            return model.freeze()
    looked = ", ".join(str(c) for c in candidates)
    if not allow_random:
        raise MissingWeightsError(
            f"VGG-19 weights not found (looked at: {looked}); download torchvision's "
            f"{VGG19_FILENAME} and pass its path, or pass --allow-random-vgg to use random "
            "weights (the perceptual loss is then meaningless)"
        )
    message = (
        f"VGG-19 weights not found (looked at: {looked}); using RANDOM weights: the "
        "perceptual loss is meaningless, use only for tests"
    )
    warnings.warn(message, RuntimeWarning, stacklevel=2)
    logger.warning(message)
    return model.freeze()
