"""Deterministic LPIPS backbone weights and image pairs, shared by the reference script
(``tests/data/make_lpips_reference.py``, run with the official ``lpips`` package) and
``tests/test_metrics.py`` (run with ours).

numpy only, and no import of this project, so that the throwaway reference venv needs
nothing of it. The real ImageNet weights cannot be downloaded here; the comparison needs
the same weights on both sides, not good ones.
"""

from __future__ import annotations

import numpy as np

#: Conv layers of torchvision's ``alexnet().features`` / ``vgg16().features``:
#: (index in ``features``, out channels, in channels, kernel).
BACKBONE_CONVS: dict[str, tuple[tuple[int, int, int, int], ...]] = {
    "alex": (
        (0, 64, 3, 11), (3, 192, 64, 5), (6, 384, 192, 3), (8, 256, 384, 3), (10, 256, 256, 3),
    ),
    "vgg": (
        (0, 64, 3, 3), (2, 64, 64, 3), (5, 128, 64, 3), (7, 128, 128, 3),
        (10, 256, 128, 3), (12, 256, 256, 3), (14, 256, 256, 3),
        (17, 512, 256, 3), (19, 512, 512, 3), (21, 512, 512, 3),
        (24, 512, 512, 3), (26, 512, 512, 3), (28, 512, 512, 3),
    ),
}  # fmt: skip
BACKBONE_SEEDS: dict[str, int] = {"alex": 1234, "vgg": 5678}
IMAGE_SEED = 2018


def make_backbone_state(net: str, seed: int) -> dict[str, np.ndarray]:
    """``features.N.weight`` / ``features.N.bias`` float32 arrays of torchvision's layout.

    He-normal weights (std ``sqrt(2 / fan_in)``) keep the activations' scale through the
    ReLUs, so every layer contributes; small normal biases make some units inactive.
    """
    if net not in BACKBONE_CONVS:
        raise ValueError(f"unknown backbone {net!r}; expected one of {sorted(BACKBONE_CONVS)}")
    rng = np.random.default_rng(seed)
    state: dict[str, np.ndarray] = {}
    for index, out_c, in_c, k in BACKBONE_CONVS[net]:
        std = np.sqrt(2.0 / (in_c * k * k))
        w = rng.standard_normal((out_c, in_c, k, k)) * std
        state[f"features.{index}.weight"] = w.astype(np.float32)
        state[f"features.{index}.bias"] = (rng.standard_normal(out_c) * 0.05).astype(np.float32)
    return state


def _smooth(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """(3, h, w) smooth random field in [-1, 1]: bilinear upsampling of a coarse grid."""
    coarse = rng.uniform(-1, 1, (3, cells + 1, cells + 1))
    ys = np.linspace(0, cells, h)
    xs = np.linspace(0, cells, w)
    y0 = np.minimum(ys.astype(int), cells - 1)
    x0 = np.minimum(xs.astype(int), cells - 1)
    fy = (ys - y0)[:, None]
    fx = (xs - x0)[None, :]
    c = coarse
    top = c[:, y0][:, :, x0] * (1 - fx) + c[:, y0][:, :, x0 + 1] * fx
    bot = c[:, y0 + 1][:, :, x0] * (1 - fx) + c[:, y0 + 1][:, :, x0 + 1] * fx
    return top * (1 - fy) + bot * fy


def make_image_pairs(seed: int = IMAGE_SEED) -> list[tuple[np.ndarray, np.ndarray]]:
    """Batches of image pairs (x, y), each (B, 3, H, W) float64 in [-1, 1].

    Batch 0 (3 pairs, 64×64): a smooth image against itself plus noise, against an
    unrelated image, and against itself shifted by 3 pixels. Batch 1 (1 pair, 48×80): a
    non-square pair with a sharp-edged square moved by 6 pixels.
    """
    rng = np.random.default_rng(seed)
    a = _smooth(rng, 64, 64, 6)
    b = _smooth(rng, 64, 64, 4)
    noisy = np.clip(a + rng.normal(0, 0.15, a.shape), -1, 1)
    shifted = np.roll(a, 3, axis=2)
    x0 = np.stack([a, a, a])
    y0 = np.stack([noisy, b, shifted])
    c = _smooth(rng, 48, 80, 5) * 0.5
    d = c.copy()
    c[:, 10:30, 20:40] = 0.9
    d[:, 10:30, 26:46] = 0.9
    return [(x0, y0), (c[None], d[None])]
