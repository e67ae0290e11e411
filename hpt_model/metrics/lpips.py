"""LPIPS (Zhang et al., CVPR 2018, the paper's [57]), version 0.1, written without torchvision.

Why our own: the official ``lpips`` package and torchmetrics' LPIPS build their backbones
with torchvision, whose PyPI build does not import beside this project's pinned CPU torch
(DESIGN.md). The network is small, so it is written here with torchvision's layer layout
and state-dict keys (``features.N.weight`` / ``.bias``): a user's official
``alexnet-owt-7be5be79.pth`` or ``vgg16-397923af.pth`` loads as is (``classifier.*`` keys
are ignored). A test checks the distances against the official ``lpips`` 0.1.4 package on
the same weights (``docs/evaluation.md``).

Distance of images ``x, y`` (B, 3, H, W) in [-1, 1]: each is shifted and scaled by LPIPS'
input layer, run through the backbone; at each of 5 ReLU outputs ``l`` the features are
unit-normalised along channels, their squared difference is weighted per channel by the
learned 1×1 linear head ``w_l`` (no bias), averaged over space, and the 5 layers are summed:
``d = Σ_l mean_hw(Σ_c w_lc (x̂_lchw - ŷ_lchw)²)`` → (B,).

Weights: the linear heads are LPIPS' published v0.1 heads, read from the copies that ship
inside the torchmetrics wheel (``torchmetrics/functional/image/lpips_models/{alex,vgg}.pth``,
keys ``linK.model.1.weight``), located with ``importlib.util.find_spec`` so that torchmetrics'
image package (which imports torchvision) is never imported; a path may be given instead.
The backbone's ImageNet weights come from a path, or torch hub's cache, as torchvision
would store them; missing → :class:`MissingWeightsError`.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from hpt_model.errors import MissingWeightsError, WeightsFileError
from hpt_model.metrics.images import to_signed

logger = logging.getLogger(__name__)

#: torchvision's file names of the ImageNet weights (IMAGENET1K_V1) each backbone loads.
BACKBONE_FILENAMES: dict[str, str] = {
    "alex": "alexnet-owt-7be5be79.pth",
    "vgg": "vgg16-397923af.pth",
}
# ``features`` layouts, torchvision's: (out channels, kernel, stride, padding) per conv,
# "M" a 2×2 max-pool (VGG) or "M3" a 3×3 stride-2 max-pool (AlexNet); a ReLU after each conv.
_LAYOUTS: dict[str, tuple[tuple[int, int, int, int] | str, ...]] = {
    "alex": (
        (64, 11, 4, 2), "M3", (192, 5, 1, 2), "M3",
        (384, 3, 1, 1), (256, 3, 1, 1), (256, 3, 1, 1), "M3",
    ),
    "vgg": (
        (64, 3, 1, 1), (64, 3, 1, 1), "M",
        (128, 3, 1, 1), (128, 3, 1, 1), "M",
        (256, 3, 1, 1), (256, 3, 1, 1), (256, 3, 1, 1), "M",
        (512, 3, 1, 1), (512, 3, 1, 1), (512, 3, 1, 1), "M",
        (512, 3, 1, 1), (512, 3, 1, 1), (512, 3, 1, 1), "M",
    ),
}  # fmt: skip
#: Index in ``features`` of the ReLU outputs LPIPS compares (relu1..relu5 for AlexNet,
#: relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 for VGG-16).
TAPS: dict[str, tuple[int, ...]] = {"alex": (1, 4, 7, 9, 11), "vgg": (3, 8, 15, 22, 29)}
#: LPIPS' input layer: ``(x - shift) / scale`` on [-1, 1] images (ImageNet statistics).
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
_EPS = 1e-10  # LPIPS' channel-normalisation epsilon


def _features(net: str) -> nn.Sequential:
    """The backbone's ``features`` stack with torchvision's module indices."""
    layers: list[nn.Module] = []
    channels = 3
    for item in _LAYOUTS[net]:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        elif item == "M3":
            layers.append(nn.MaxPool2d(3, 2))
        else:
            out, k, s, p = item  # type: ignore[misc]
            layers += [nn.Conv2d(channels, out, k, s, p), nn.ReLU(inplace=False)]
            channels = out
    return nn.Sequential(*layers)


class LPIPS(nn.Module):
    """Frozen LPIPS v0.1 (build with :func:`load_lpips`).

    forward(x, y: (B, 3, H, W) in [-1, 1], or uint8 in [0, 255]) → (B,) distances, 0 for
    identical images; gradients flow to the inputs (usable as a loss), not to the weights.
    """

    def __init__(self, net: str = "alex") -> None:
        super().__init__()
        if net not in _LAYOUTS:
            raise ValueError(f"unknown LPIPS backbone {net!r}; expected one of {sorted(_LAYOUTS)}")
        self.net = net
        self.features = _features(net)
        self.taps = TAPS[net]
        widths = [self.features[i - 1].out_channels for i in self.taps]
        self.heads = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in widths)
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1), persistent=False)
        self.freeze()

    def freeze(self) -> LPIPS:
        """No gradients to the weights, eval mode."""
        for p in self.parameters():
            p.requires_grad_(False)
        return self.eval()

    def train(self, mode: bool = True) -> LPIPS:
        """Stays in eval mode: the metric is never trained."""
        return super().train(False)

    def _taps(self, x: Tensor) -> list[Tensor]:
        out = []
        x = (x - self.shift) / self.scale
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.taps:
                out.append(x)
                if i == self.taps[-1]:
                    break
        return out

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        dtype = self.heads[0].weight.dtype
        x, y = to_signed(x, "x", dtype), to_signed(y, "y", dtype)
        if x.shape != y.shape:
            raise ValueError(f"image shapes differ: {tuple(x.shape)} vs {tuple(y.shape)}")
        total = x.new_zeros(x.shape[0])
        for fx, fy, head in zip(self._taps(x), self._taps(y), self.heads, strict=True):
            nx = fx / (fx.pow(2).sum(dim=1, keepdim=True).sqrt() + _EPS)
            ny = fy / (fy.pow(2).sum(dim=1, keepdim=True).sqrt() + _EPS)
            total = total + head((nx - ny) ** 2).mean(dim=(1, 2, 3))
        return total


# ---------------------------------------------------------------------------- weights


def default_backbone_paths(net: str) -> list[Path]:
    """Where torchvision caches the backbone's file: torch hub's dir ($TORCH_HOME/hub),
    then ~/.cache/torch/hub."""
    name = BACKBONE_FILENAMES[net]
    paths = [Path(torch.hub.get_dir()) / "checkpoints" / name]
    torch_home = os.environ.get("TORCH_HOME")
    if torch_home:
        paths.append(Path(torch_home).expanduser() / "hub" / "checkpoints" / name)
    paths.append(Path("~/.cache/torch/hub/checkpoints").expanduser() / name)
    return list(dict.fromkeys(paths))


def torchmetrics_heads_path(net: str) -> Path | None:
    """The v0.1 linear-head file inside the installed torchmetrics wheel, or None.

    Found from torchmetrics' package directory without importing torchmetrics' image
    package (its LPIPS imports torchvision).
    """
    spec = importlib.util.find_spec("torchmetrics")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root) / "functional" / "image" / "lpips_models" / f"{net}.pth"
        if path.is_file():
            return path
    return None


def _read_state(path: Path, what: str) -> dict[str, Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors come in many types
        raise WeightsFileError(f"{path}: not a readable {what} weights file ({exc})") from exc
    if not isinstance(state, dict):
        raise WeightsFileError(f"{path}: not a state dict of {what} weights")
    return state


def _load_backbone(model: LPIPS, path: Path) -> None:
    state = _read_state(path, f"{model.net} backbone")
    feats = {k: v for k, v in state.items() if k.startswith("features.")}
    if not feats:  # the state dict of ``features`` alone
        feats = {f"features.{k}": v for k, v in state.items() if not k.startswith("classifier.")}
    own = {k: v for k, v in model.state_dict().items() if k.startswith("features.")}
    bad = sorted(set(own) ^ set(feats)) or [
        k for k in own if tuple(own[k].shape) != tuple(feats[k].shape)
    ]
    if bad:
        raise WeightsFileError(
            f"{path}: not torchvision {BACKBONE_FILENAMES[model.net]}-layout weights "
            f"(keys missing, extra or of the wrong shape: {', '.join(bad[:4])})"
        )
    model.load_state_dict(feats, strict=False)


def _load_heads(model: LPIPS, path: Path) -> None:
    state = _read_state(path, f"LPIPS {model.net} linear-head")
    for k, head in enumerate(model.heads):
        key = f"lin{k}.model.1.weight"
        if key not in state or tuple(state[key].shape) != tuple(head.weight.shape):
            raise WeightsFileError(
                f"{path}: expected {key} of shape {tuple(head.weight.shape)} "
                f"(LPIPS v0.1 {model.net} heads)"
            )
        head.weight.data.copy_(state[key])


def load_lpips(
    net: str = "alex",
    backbone_path: str | os.PathLike[str] | None = None,
    heads_path: str | os.PathLike[str] | None = None,
    allow_random: bool = False,
) -> LPIPS:
    """Frozen :class:`LPIPS` with ``net`` in ``{"alex", "vgg"}`` (``alex`` is LPIPS' default).

    Parameters
    ----------
    net : str
    backbone_path : path or None
        torchvision's ImageNet weights of the backbone (a full state dict, whose
        ``classifier.*`` is ignored, or that of ``features``). None: look in
        :func:`default_backbone_paths`. A path that does not exist is an error (no
        fallback).
    heads_path : path or None
        LPIPS v0.1 linear heads (``lin0..4.model.1.weight``); None: torchmetrics' copy.
    allow_random : bool
        For tests only: random backbone weights, with a loud warning, when none is found.

    Raises
    ------
    MissingWeightsError
        No backbone file (naming the files looked for and how to supply one), or no heads.
    WeightsFileError
        A file that is not the expected weights (naming it); a ValueError too.
    """
    model = LPIPS(net)
    heads = Path(heads_path).expanduser() if heads_path is not None else None
    if heads is None:
        heads = torchmetrics_heads_path(net)
        if heads is None:
            raise MissingWeightsError(
                f"LPIPS {net} linear heads not found: install torchmetrics (the `model` extra "
                f"ships them) or pass the official lpips weights/v0.1/{net}.pth"
            )
    elif not heads.is_file():
        raise MissingWeightsError(f"{heads}: LPIPS linear-head file not found")
    _load_heads(model, heads)
    name = BACKBONE_FILENAMES[net]
    if backbone_path is not None:
        candidates = [Path(backbone_path).expanduser()]
        if not candidates[0].is_file():
            raise MissingWeightsError(f"{candidates[0]}: LPIPS {net} backbone file not found")
    else:
        candidates = default_backbone_paths(net)
    for candidate in candidates:
        if candidate.is_file():
            _load_backbone(model, candidate)
            logger.info("LPIPS %s: backbone %s, heads %s", net, candidate, heads)
            return model.freeze()
    looked = ", ".join(str(c) for c in candidates)
    if not allow_random:
        raise MissingWeightsError(
            f"LPIPS {net} backbone weights not found (looked at: {looked}); download "
            f"torchvision's {name} and pass its path or put it in $TORCH_HOME/hub/checkpoints/"
        )
    message = (
        f"LPIPS {net} backbone weights not found (looked at: {looked}); using RANDOM "
        "backbone weights: the distances are meaningless, use only for tests"
    )
    warnings.warn(message, RuntimeWarning, stacklevel=2)
    logger.warning(message)
    return model.freeze()
