"""remove-bg's crop as a blend of the frame's window and the person's matte, and the crop
rebuilt from what remove-bg keeps with ``crop_file: matte`` (the 8-bit matte and the crop
window) and the sample-frames frame it was cut from.

Why: the crop's colour PNG was the largest file remove-bg wrote (about 0.17 MB per 1024
crop) and its encoding about a quarter of the stage's time, while every one of its pixels
follows from the frame (kept anyway, lossless) and the matte (~0.03 MB as a gray PNG):
``benchmarks/results/image_io.json``, ``docs/throughput.md``. The blend takes the matte
quantised to 8 bits, as stored, so the crop rebuilt when it is read equals, bit for bit,
the one remove-bg blended (and found the landmarks on).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hpt_data.crop import CropWindow


def quantise_matte(alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A soft matte (H, W) float in [0, 1] as stored, (H, W) uint8 (255 = person), and as
    the blend takes it back, (H, W) float32 (the stored value / 255)."""
    alpha8 = np.rint(np.asarray(alpha) * 255).astype(np.uint8)
    return alpha8, matte_from_uint8(alpha8)


def matte_from_uint8(alpha8: np.ndarray) -> np.ndarray:
    """(H, W) uint8 matte -> (H, W) float32 in [0, 1], the same values whoever calls it."""
    return alpha8.astype(np.float32) * np.float32(1 / 255)


def blend_crop(
    image: np.ndarray, alpha: np.ndarray, window: CropWindow, background_rgb: Sequence[int]
) -> np.ndarray:
    """The window of ``image`` ((H, W, 3) uint8 BGR frame), blended by ``alpha`` ((size,
    size) float32 in [0, 1], already in the crop) over ``background_rgb``: (size, size, 3)
    uint8 BGR."""
    import cv2

    crop = window.cut(image, 0)
    bg = np.empty_like(crop)
    # one row of the colour copied down (numpy broadcasting a (3,) colour is ~10 ms at 1024²)
    bg[:] = np.tile(np.array(list(background_rgb)[::-1], np.uint8), (crop.shape[1], 1))
    return cv2.blendLinear(crop, bg, alpha, 1.0 - alpha)


def rebuild_crop(
    frame: np.ndarray, alpha8: np.ndarray, window: CropWindow, background_rgb: Sequence[int]
) -> np.ndarray:
    """The crop remove-bg blended with ``crop_file: matte``, from the ``frame`` ((H, W, 3)
    uint8 BGR) it was cut from and its stored (size, size) uint8 matte."""
    return blend_crop(frame, matte_from_uint8(alpha8), window, background_rgb)
