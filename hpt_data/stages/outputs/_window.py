"""The body's window: how ``render-maps`` and ``voxelize`` store their full-frame arrays.

A maps file's S and D (``(N, N)``, the body a quarter of the frame at 1024) and a volume's
labels (``(64, 256, 256)``, the body ~5 % of the voxels) are mostly background. They are
stored as the smallest box holding every non-background element plus the box's origin and
the full shape; reading puts the background back, so readers get the same arrays as from
a full-frame file (and files written before, without a window, read as they are).
Deflating the box instead of the frame: the maps file's S and D ~2.5x faster, the volume
~3x, and both files smaller (docs/throughput.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["crop_window", "fill_window"]


def _span(flags: np.ndarray) -> tuple[int, int]:
    """First and one-past-last index where ``flags`` (1-D bool) holds; (0, 0) if none."""
    idx = np.flatnonzero(flags)
    return (int(idx[0]), int(idx[-1]) + 1) if idx.size else (0, 0)


def _not_background(a: np.ndarray, bg: float) -> np.ndarray:
    """``~(a == bg)``; for floats by their bits where ``bg`` has one pattern (``±inf``:
    numpy compares float16 one value at a time, ~6x slower than the bits)."""
    bits = {np.dtype(np.float16): np.uint16, np.dtype(np.float32): np.uint32}
    if a.dtype in bits and np.isinf(bg):
        return a.view(bits[a.dtype]) != np.array(bg, a.dtype).view(bits[a.dtype])
    return ~(a == bg)


def crop_window(
    arrays: Sequence[np.ndarray], backgrounds: Sequence[float]
) -> tuple[tuple[slice, ...], np.ndarray]:
    """The smallest box holding every element of ``arrays`` (all of one shape) that is not
    its background value (NaN counts as not background).

    Returns
    -------
    box : tuple of slices
        Index the arrays with it to get the stored blocks.
    window : (2, ndim) int32
        The box's origin and the full shape: what :func:`fill_window` needs.
    """
    shape = arrays[0].shape
    mask = np.zeros(shape, bool)
    for a, bg in zip(arrays, backgrounds, strict=True):
        if a.shape != shape:
            raise ValueError(f"arrays to window together differ in shape: {a.shape} {shape}")
        mask |= _not_background(a, bg)
    # project onto the last two axes first (one pass over the array), then the leading ones
    plane = mask.reshape(-1, *shape[-2:]).any(axis=0) if mask.ndim > 2 else mask
    y0, y1 = _span(plane.any(axis=1))
    x0, x1 = _span(plane.any(axis=0))
    box = (slice(y0, y1), slice(x0, x1))
    if mask.ndim == 3:
        z0, z1 = _span(mask[:, y0:y1, x0:x1].any(axis=(1, 2)))
        box = (slice(z0, z1), *box)
    elif mask.ndim != 2:
        raise ValueError(f"windows are for 2-D or 3-D arrays, got {mask.ndim}-D")
    window = np.array([[s.start for s in box], list(shape)], np.int32)
    return box, window


def fill_window(block: np.ndarray, window: np.ndarray, background: float) -> np.ndarray:
    """The full array from a stored ``block`` and its ``window`` (origin, full shape)."""
    origin, shape = (tuple(int(v) for v in row) for row in np.asarray(window))
    if len(origin) != block.ndim or len(shape) != block.ndim:
        raise ValueError(f"window {origin} {shape} does not fit a {block.ndim}-D block")
    if any(o < 0 or o + b > s for o, b, s in zip(origin, block.shape, shape, strict=True)):
        raise ValueError(f"block {block.shape} at {origin} is outside {shape}")
    out = np.full(shape, background, block.dtype)
    out[tuple(slice(o, o + b) for o, b in zip(origin, block.shape, strict=True))] = block
    return out
