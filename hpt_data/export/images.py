"""The images the pose-transfer formats hold, cut from the shards' 1024 square crop.

Both layouts come from DeepFashion In-shop photos whose person fills the middle 176 of 256
columns: PATN/GFLA store that middle at 256×176 (Pose-Transfer
``tool/generate_fashion_datasets.py`` crops the 256×256 photo to ``(40, 0, 216, 256)``);
NTED/PIDM start from ``img_highres`` (the same middle, taller) and resize it with bicubic
to each LMDB size, stored as PNG (Neural-Texture-Extraction-Distribution
``scripts/prepare_data.py``). Here both take columns 160..863 of the 1024 crop (40/256 of
it off each side).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from hpt_data.export.coco18 import PATN_CROP, SIDE
from hpt_data.shards.schema import CROP

MARGIN = CROP * PATN_CROP // SIDE  # 160 columns off each side of the 1024 crop


def patn_image(rgb: np.ndarray) -> np.ndarray:
    """(1024, 1024, 3) uint8 → (256, 176, 3): a box-filter downscale to 256 (each pixel
    the mean of a 4×4 block), then columns 40..215, as PATN crops its 256 photos."""
    small = Image.fromarray(np.ascontiguousarray(rgb)).resize((SIDE, SIDE), Image.BOX)
    return np.asarray(small)[:, PATN_CROP : SIDE - PATN_CROP]


def middle(rgb: np.ndarray) -> Image.Image:
    """The middle 704×1024 of the crop, the region of DeepFashion's ``img_highres``."""
    return Image.fromarray(np.ascontiguousarray(rgb[:, MARGIN : CROP - MARGIN]))


def png_at(img: Image.Image, size: tuple[int, int]) -> bytes:
    """``img`` resized (bicubic, as NTED's ``Resizer``) to ``size`` = (height, width),
    as PNG bytes."""
    h, w = size
    buf = io.BytesIO()
    img.resize((w, h), Image.BICUBIC).save(buf, format="PNG")
    return buf.getvalue()


def jpeg_bytes(rgb: np.ndarray, quality: int = 95) -> bytes:
    """(H, W, 3) uint8 as JPEG (4:4:4, like the shards)."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(
        buf, format="JPEG", quality=quality, subsampling=0
    )
    return buf.getvalue()


def png_bytes(gray: np.ndarray) -> bytes:
    """(H, W) uint8 as a lossless 8-bit PNG."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(gray, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()
