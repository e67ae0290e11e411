"""Losses of the three stages and of the volume network.

Every function returns an UNWEIGHTED scalar; the trainer multiplies by the λ of
:class:`hpt_model.config.LossConfig` (λ_FM = λ_per = 10 for Eqs. 3 and 7, 1 for the part
layers' L^n = L^n_adv + L^n_per).

- :class:`GANLoss`: the paper's log form (Eqs. 1, 4, 7) is the binary cross-entropy on
  logits; ``"lsgan"`` swaps in least squares. The generator uses the non-saturating form
  (fake labelled real). Over the scales of a multi-scale discriminator the losses are
  SUMMED, as pix2pixHD does, whose λ values the paper adopts.
- :func:`feature_matching_loss`: pix2pixHD's L1 between discriminator features of the fake
  and the (detached) real image, every intermediate layer of every scale.
- :class:`VGGPerceptualLoss`: L1 between VGG-19 features at relu1_2 … relu5_2 (footnote 1),
  optionally restricted to a mask (Eq. 2: the visible part S^n_t), layer weights from the
  config. The default (``"paper"``) is Eqs. 2/5's plain sum over the five layers;
  ``loss.vgg_layer_weights = "pix2pixhd"`` takes pix2pixHD's (1/32, 1/16, 1/8, 1/4, 1),
  which damps the shallow layers (whose L1 is largest and most sensitive to pixel
  misalignment) — an option, not measured here against the plain sum.
- :func:`volume_cross_entropy`: per-voxel cross-entropy of the volume network (§III-B).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hpt_model.config import GAN_MODES, PAPER_VGG_WEIGHTS
from hpt_model.vgg import VGG19Features

DiscriminatorOutput = Tensor | Sequence[Tensor] | Sequence[Sequence[Tensor]]


def _logit_maps(prediction: DiscriminatorOutput) -> list[Tensor]:
    """Logits per scale: a Tensor; a list of per-scale logits; or features[scale][layer]."""
    if isinstance(prediction, Tensor):
        return [prediction]
    return [p if isinstance(p, Tensor) else p[-1] for p in prediction]


def gan_loss(prediction: DiscriminatorOutput, target_is_real: bool, mode: str = "bce") -> Tensor:
    """Sum over scales of the mean GAN loss of each logit map against a constant label."""
    if mode not in GAN_MODES:
        raise ValueError(f"unknown GAN mode {mode!r}; expected one of {GAN_MODES}")
    total = None
    for logits in _logit_maps(prediction):
        target = torch.full_like(logits, 1.0 if target_is_real else 0.0)
        if mode == "bce":
            loss = F.binary_cross_entropy_with_logits(logits, target)
        else:
            loss = F.mse_loss(logits, target)
        total = loss if total is None else total + loss
    if total is None:
        raise ValueError("empty discriminator output")
    return total


class GANLoss(nn.Module):
    """Module form of :func:`gan_loss`: ``loss(prediction, target_is_real)``."""

    def __init__(self, mode: str = "bce") -> None:
        super().__init__()
        if mode not in GAN_MODES:
            raise ValueError(f"unknown GAN mode {mode!r}; expected one of {GAN_MODES}")
        self.mode = mode

    def forward(self, prediction: DiscriminatorOutput, target_is_real: bool) -> Tensor:
        return gan_loss(prediction, target_is_real, self.mode)


def feature_matching_loss(
    fake_features: Sequence[Sequence[Tensor]], real_features: Sequence[Sequence[Tensor]]
) -> Tensor:
    """pix2pixHD feature matching: ``1/num_D · Σ_scales 4/L · Σ_layers L1(fake, real)``.

    features[scale][layer] as returned by
    :class:`~hpt_model.networks.discriminators.MultiscaleDiscriminator`; the last entry of
    each scale (the logits) is skipped, L is the number of intermediate layers (4 for the
    70×70 PatchGAN, so each layer weighs 1). Real features are detached.
    """
    if len(fake_features) != len(real_features) or not fake_features:
        raise ValueError("fake and real features must have the same, non-zero number of scales")
    num_d = len(fake_features)
    total = fake_features[0][0].new_zeros(())
    for fake, real in zip(fake_features, real_features, strict=True):
        layers = len(fake) - 1
        for f, r in zip(fake[:-1], real[:-1], strict=True):
            total = total + (4.0 / layers / num_d) * F.l1_loss(f, r.detach())
    return total


def resize_mask(mask: Tensor, size: tuple[int, int]) -> Tensor:
    """(B, 1, H, W) mask → (B, 1, h, w) by area averaging (soft at part borders)."""
    if mask.shape[-2:] == size:
        return mask
    return F.interpolate(mask, size=size, mode="area")


def perceptual_distance(
    pred_features: Sequence[Tensor],
    target_features: Sequence[Tensor],
    weights: Sequence[float],
    mask: Tensor | None = None,
    eps: float = 1e-8,
) -> Tensor:
    """Σ_l w_l · mean L1 between feature maps (B, C_l, h_l, w_l).

    With ``mask`` (B, 1, H, W) in [0, 1] the mean is taken over the masked region only:
    ``Σ m·|Δ| / (C_l · Σ m)``, the mask resized to each map. An all-zero mask gives 0.
    """
    if not len(pred_features) == len(target_features) == len(weights):
        raise ValueError(
            f"{len(pred_features)} predicted, {len(target_features)} target feature maps and "
            f"{len(weights)} weights"
        )
    total = pred_features[0].new_zeros(())
    for p, t, w in zip(pred_features, target_features, weights, strict=True):
        diff = (p - t).abs()
        if mask is None:
            term = diff.mean()
        else:
            m = resize_mask(mask.to(diff.dtype), (diff.shape[-2], diff.shape[-1]))
            term = (diff * m).sum() / (m.sum() * diff.shape[1]).clamp_min(eps)
        total = total + w * term
    return total


class VGGPerceptualLoss(nn.Module):
    """Eqs. 2 and 5: ``loss(pred, target, mask=None)``, images (B, 3, H, W) in [-1, 1].

    The VGG is passed in (see :func:`hpt_model.vgg.load_vgg19`) so one frozen copy serves
    every stage. Target features are computed without gradient.
    """

    def __init__(
        self,
        vgg: VGG19Features,
        layer_weights: Sequence[float] = PAPER_VGG_WEIGHTS,
        cpu_bf16: bool = False,
    ) -> None:
        super().__init__()
        if len(layer_weights) != 5:
            raise ValueError(f"need 5 layer weights (relu1_2 .. relu5_2), got {layer_weights}")
        self.vgg = vgg
        self.layer_weights = tuple(float(w) for w in layer_weights)
        self.cpu_bf16 = cpu_bf16

    def _features(self, x: Tensor) -> list[Tensor]:
        """VGG features; with ``cpu_bf16`` the frozen network's convolutions run in bf16 on
        the CPU (oneDNN's native bf16: ~1.8× faster on one thread), the distances in fp32."""
        if not (self.cpu_bf16 and x.device.type == "cpu"):
            return self.vgg(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return [f.float() for f in self.vgg(x)]

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        if pred.shape != target.shape:
            raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
        if mask is not None and (mask.dim() != 4 or mask.shape[1] != 1):
            raise ValueError(f"mask: expected (B, 1, H, W), got {tuple(mask.shape)}")
        with torch.no_grad():
            target_features = self._features(target)
        return perceptual_distance(self._features(pred), target_features, self.layer_weights, mask)


def volume_cross_entropy(
    logits: Tensor, target: Tensor, class_weights: Tensor | None = None
) -> Tensor:
    """Mean per-voxel cross-entropy: logits (B, 7, Z, X, Y), target (B, Z, X, Y) uint8 0..6."""
    if logits.dim() != 5 or target.shape != (logits.shape[0], *logits.shape[2:]):
        raise ValueError(
            f"logits (B, 7, Z, X, Y) and target (B, Z, X, Y) disagree: {tuple(logits.shape)} vs "
            f"{tuple(target.shape)}"
        )
    return F.cross_entropy(logits, target.long(), weight=class_weights)
