"""SSIM (Wang et al. 2004, the paper's [56]) per image, through torchmetrics.

Settings are the standard ones: Gaussian window of 11 pixels with σ = 1.5, K1 = 0.01,
K2 = 0.03, the three colour channels averaged, on intensities: images are first mapped to
[0, 1] (uint8 ``v / 255``, [-1, 1] floats ``(v + 1) / 2``) with ``data_range = 1``. SSIM's
luminance term is not shift-invariant, so SSIM of [-1, 1] values with ``data_range = 2`` is
a different number (0.21 against 0.03 on one test pair); the mapping makes a float image and
its uint8 file score alike. torchmetrics computes the SSIM map (its SSIM needs no
torchvision); the mean is taken over the *valid* window positions only, i.e. the map
without its 5-pixel border, as Wang et al.'s reference code and scikit-image do.
torchmetrics' own mean also averages the border, where the window reaches into reflected
padding (``crop_border=False`` gives that value); a test checks both against scikit-image
and torchmetrics.
"""

from __future__ import annotations

import torch
from torch import Tensor

from hpt_model.metrics.images import check_batch, to_unit

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
_BORDER = (SSIM_WINDOW - 1) // 2  # torchmetrics: window int(3.5 σ + 0.5) * 2 + 1 = 11


def ssim(
    pred: Tensor,
    target: Tensor,
    crop_border: bool = True,
    dtype: torch.dtype = torch.float32,
    mask: Tensor | None = None,
) -> Tensor:
    """Per-image SSIM of ``pred`` against ``target``.

    Parameters
    ----------
    pred, target : (B, 3, H, W) tensors, both uint8 or both floats in [-1, 1]
        ``H, W >= 11``.
    crop_border : bool
        Average the SSIM map over valid window positions only (the standard); False keeps
        torchmetrics' mean over the whole map.
    dtype : torch.dtype
        Computation type. float32 agrees with scikit-image's float64 SSIM to about 1e-5
        (the local variances are differences of means of squares); float64 agrees to
        1e-12 but its convolutions ran 9 times slower on the CPU.
    mask : optional (B, 1, H, W) weights (1 on the person): the SSIM map is averaged over
        them instead of over the whole image (SSIM "on the person"; each window still sees
        its surroundings).

    Returns
    -------
    (B,) tensor of ``dtype``, 1 for identical images.
    """
    from torchmetrics.functional.image import structural_similarity_index_measure

    pred, target = check_batch(pred, "pred"), check_batch(target, "target")
    if pred.shape != target.shape:
        raise ValueError(f"image shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    if pred.dtype != target.dtype:
        raise ValueError(f"image types differ: {pred.dtype} vs {target.dtype}")
    if min(pred.shape[-2:]) < SSIM_WINDOW:
        raise ValueError(f"images must be at least {SSIM_WINDOW} pixels a side, got {pred.shape}")
    _, full = structural_similarity_index_measure(
        to_unit(pred, "pred", dtype),
        to_unit(target, "target", dtype),
        gaussian_kernel=True,
        sigma=SSIM_SIGMA,
        kernel_size=SSIM_WINDOW,
        data_range=1.0,
        k1=0.01,
        k2=0.03,
        reduction="none",
        return_full_image=True,
    )
    if crop_border:
        full = full[..., _BORDER:-_BORDER, _BORDER:-_BORDER]
    if mask is not None:  # the mean over the masked pixels (crop_border's window positions)
        weight = mask.to(full.dtype)
        weight = weight[..., _BORDER:-_BORDER, _BORDER:-_BORDER] if crop_border else weight
        weight = weight.expand_as(full).reshape(full.shape[0], -1)
        total = (full.reshape(full.shape[0], -1) * weight).sum(dim=-1)
        return total / weight.sum(dim=-1).clamp_min(1)
    return full.reshape(full.shape[0], -1).mean(dim=-1)
