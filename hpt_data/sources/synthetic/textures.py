"""Procedural textures for floors and walls: wood, tiles, carpet, concrete, paint, brick.

Pure numpy (and OpenCV for resizing), seeded by the caller's generator, so the same clip
gets the same room. Every function returns an ``(S, S, 3) uint8`` sRGB image that tiles
seamlessly where its pattern does.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np


def value_noise(rng: np.random.Generator, size: int, cells: int, octaves: int = 3) -> np.ndarray:
    """Smooth noise in about [-1, 1]: random grids upsampled bicubically, summed over octaves.

    Returns
    -------
    (size, size) float32
    """
    out = np.zeros((size, size), np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        n = max(2, cells * 2**o)
        grid = rng.uniform(-1, 1, size=(n, n)).astype(np.float32)
        grid = np.pad(grid, 1, mode="wrap")
        up = cv2.resize(
            grid, (size + 2 * size // n, size + 2 * size // n), interpolation=cv2.INTER_CUBIC
        )
        s = size // n
        out += amp * up[s : s + size, s : s + size]
        total += amp
        amp *= 0.5
    return out / total


def _tint(base: np.ndarray, shade: np.ndarray) -> np.ndarray:
    """Colour (3,) 0..1 modulated by a (S, S) brightness factor -> (S, S, 3) uint8."""
    img = np.clip(base[None, None, :] * shade[..., None], 0.0, 1.0)
    return (img * 255.0 + 0.5).astype(np.uint8)


def wood(rng: np.random.Generator, size: int = 512) -> np.ndarray:
    """Floor planks along the texture's v axis with per-plank tone and grain."""
    base = np.array(
        [rng.uniform(0.45, 0.75), rng.uniform(0.3, 0.5), rng.uniform(0.15, 0.3)]
    ) * rng.uniform(0.7, 1.1)
    planks = int(rng.integers(4, 8))
    u = np.arange(size)[None, :].repeat(size, 0)
    v = np.arange(size)[:, None].repeat(size, 1)
    plank = u * planks // size
    tone = rng.uniform(0.82, 1.12, size=planks)[plank]
    grain = np.sin((u % (size // planks)) * 0.9 + 6 * value_noise(rng, size, 4, 2)) * 0.05
    seam = ((u % (size // planks)) < 2) | (((v + plank * 97) % size) < 2)
    shade = tone * (1.0 + grain + 0.06 * value_noise(rng, size, 8))
    shade[seam] *= 0.55
    return _tint(base, shade)


def tiles(rng: np.random.Generator, size: int = 512) -> np.ndarray:
    """Square tiles with grout lines and a slight per-tile tone change."""
    light = rng.random() < 0.6
    base = np.array(rng.uniform(0.75, 0.95, 3)) if light else np.array(rng.uniform(0.25, 0.6, 3))
    base = base * 0.8 + base.mean() * 0.2
    n = int(rng.choice([2, 4]))
    cell = size // n
    u = np.arange(size)
    tile_id = (u[:, None] // cell) * n + u[None, :] // cell
    tone = rng.uniform(0.93, 1.05, size=n * n)[tile_id]
    shade = tone * (1.0 + 0.04 * value_noise(rng, size, 16))
    grout = ((u[:, None] % cell) < 4) | ((u[None, :] % cell) < 4)
    img = _tint(base, shade)
    img[grout] = (np.array([0.55, 0.55, 0.52]) * 255 * (0.7 if light else 0.5)).astype(np.uint8)
    return img


def carpet(rng: np.random.Generator, size: int = 512) -> np.ndarray:
    """Fibrous carpet: a muted colour with fine and coarse noise."""
    base = np.array(rng.uniform(0.2, 0.65, 3))
    base = base * 0.6 + base.mean() * 0.4
    shade = 1.0 + 0.08 * value_noise(rng, size, 64, 2) + 0.06 * value_noise(rng, size, 6)
    return _tint(base, shade)


def concrete(rng: np.random.Generator, size: int = 512) -> np.ndarray:
    """Grey concrete with blotches."""
    g = rng.uniform(0.45, 0.75)
    base = np.array([g, g * rng.uniform(0.97, 1.02), g * rng.uniform(0.94, 1.0)])
    shade = 1.0 + 0.1 * value_noise(rng, size, 6, 4) + 0.03 * value_noise(rng, size, 96, 1)
    return _tint(base, shade)


def paint(rng: np.random.Generator, size: int = 512) -> np.ndarray:
    """A painted wall: a plausible wall colour with very light unevenness."""
    palette = np.array(
        [
            [0.92, 0.9, 0.85],
            [0.85, 0.82, 0.74],
            [0.78, 0.83, 0.86],
            [0.7, 0.76, 0.68],
            [0.88, 0.78, 0.66],
            [0.6, 0.64, 0.7],
            [0.95, 0.95, 0.95],
            [0.45, 0.5, 0.55],
            [0.76, 0.62, 0.55],
        ]
    )
    base = palette[rng.integers(len(palette))] * rng.uniform(0.85, 1.05)
    shade = 1.0 + 0.025 * value_noise(rng, size, 4, 3)
    return _tint(base, shade)


def wallpaper(rng: np.random.Generator, size: int = 512) -> np.ndarray:
    """Vertical stripes of two close tones."""
    img = paint(rng, size).astype(np.float32)
    n = int(rng.choice([8, 12, 16]))
    stripe = ((np.arange(size) * n // size) % 2 == 0)[None, :, None]
    factor = rng.uniform(0.8, 0.92)
    return np.where(stripe, img * factor, img).astype(np.uint8)


def brick(rng: np.random.Generator, size: int = 512) -> np.ndarray:
    """Running-bond brick with mortar joints."""
    base = np.array([rng.uniform(0.5, 0.7), rng.uniform(0.25, 0.38), rng.uniform(0.18, 0.28)])
    if rng.random() < 0.3:  # painted brick
        base = np.array([0.85, 0.84, 0.8])
    rows, cols = 8, 4
    bh, bw = size // rows, size // cols
    v = np.arange(size)[:, None].repeat(size, 1)
    u = np.arange(size)[None, :].repeat(size, 0)
    row = v // bh
    shifted = (u + (row % 2) * bw // 2) % size
    bid = row * cols + shifted // bw
    tone = rng.uniform(0.8, 1.15, size=rows * cols)[bid]
    shade = tone * (1.0 + 0.07 * value_noise(rng, size, 32, 2))
    mortar = ((v % bh) < 5) | ((shifted % bw) < 5)
    img = _tint(base, shade)
    img[mortar] = (np.array([0.7, 0.68, 0.64]) * 255).astype(np.uint8)
    return img


FLOORS: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "wood": wood,
    "tiles": tiles,
    "carpet": carpet,
    "concrete": concrete,
}
WALLS: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "paint": paint,
    "wallpaper": wallpaper,
    "brick": brick,
    "concrete": concrete,
}
