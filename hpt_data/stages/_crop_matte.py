"""remove-bg's crop as a blend of the frame's window and the person's matte
(:func:`crop_person`), the kept person's landmarks for the crop (:func:`crop_landmarks`) and
what its second landmark pass looks at (:func:`landmark_input`), and
the crop rebuilt from what remove-bg keeps with ``crop_file: matte`` (the 8-bit matte and
the crop window) and the sample-frames frame it was cut from.

Why: the crop's colour PNG was the largest file remove-bg wrote (about 0.17 MB per 1024
crop) and its encoding about a quarter of the stage's time, while every one of its pixels
follows from the frame (kept anyway, lossless) and the matte (~0.03 MB as a gray PNG):
``benchmarks/results/image_io.json``, ``docs/throughput.md``. The blend takes the matte
quantised to 8 bits, as stored, so the crop rebuilt when it is read equals, bit for bit,
the one remove-bg blended (and found the landmarks on).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from hpt_data.crop import CropWindow

if TYPE_CHECKING:  # remove_bg imports this module
    from hpt_data.perception.people import PersonDetection
    from hpt_data.stages.remove_bg import RemoveBgSettings, Segmentation


def quantise_matte(alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A soft matte (H, W) float in [0, 1] as stored, (H, W) uint8 (255 = person), and as
    the blend takes it back, (H, W) float32 (the stored value / 255)."""
    alpha8 = stored_matte(alpha)
    return alpha8, matte_from_uint8(alpha8)


def stored_matte(alpha: np.ndarray, unit: bool = False) -> np.ndarray:
    """:func:`quantise_matte`'s (H, W) uint8 matte alone. ``unit``: ``alpha`` is known to
    lie in [0, 1] (a resampled matte), and float32 is then scaled and rounded by OpenCV in
    one pass: the same bytes (every float32 in [0, 1.0001] checked), where numpy's cast
    would wrap values beyond [-0.5, 255.5] / 255 and OpenCV's saturate."""
    import cv2

    if unit and alpha.dtype == np.float32 and alpha.ndim == 2:
        return cv2.convertScaleAbs(alpha, alpha=255.0)
    scaled = np.asarray(alpha) * 255
    if scaled.dtype.kind == "f":  # rounded in place: one array less
        return np.rint(scaled, out=scaled).astype(np.uint8)
    return np.rint(scaled).astype(np.uint8)


def matte_from_uint8(alpha8: np.ndarray) -> np.ndarray:
    """(H, W) uint8 matte -> (H, W) float32 in [0, 1], the same values whoever calls it."""
    return alpha8.astype(np.float32) * np.float32(1 / 255)


def blend_crop(
    image: np.ndarray, alpha: np.ndarray, window: CropWindow, background_rgb: Sequence[int]
) -> np.ndarray:
    """The window of ``image`` ((H, W, 3) uint8 BGR frame), blended by ``alpha`` ((size,
    size) float32 in [0, 1], already in the crop) over ``background_rgb``: (size, size, 3)
    uint8 BGR."""

    part = _nonzero_part((alpha != 0).view(np.uint8))  # a resampled matte may dip below 0
    return _over_background(window.cut(image, 0), alpha[part], part, background_rgb)


def rebuild_crop(
    frame: np.ndarray, alpha8: np.ndarray, window: CropWindow, background_rgb: Sequence[int]
) -> np.ndarray:
    """The crop remove-bg blended with ``crop_file: matte``, from the ``frame`` ((H, W, 3)
    uint8 BGR) it was cut from and its stored (size, size) uint8 matte."""
    part = _nonzero_part(alpha8)
    alpha = matte_from_uint8(alpha8[part])
    return _over_background(window.cut(frame, 0), alpha, part, background_rgb)


def _nonzero_part(mask: np.ndarray) -> tuple[slice, slice]:
    """The (rows, columns) slices of the box of ``mask``'s nonzero pixels ((H, W) uint8;
    empty slices when none is)."""
    import cv2

    x, y, w, h = cv2.boundingRect(mask)
    return slice(y, y + h), slice(x, x + w)


def _over_background(
    crop: np.ndarray,
    alpha: np.ndarray,
    part: tuple[slice, slice],
    background_rgb: Sequence[int],
) -> np.ndarray:
    """``crop`` ((size, size, 3) uint8 BGR) over the background colour by ``alpha``, the
    matte's float32 values on ``part`` of the crop, exactly 0 elsewhere. Only the part is blended
    (a person fills about a quarter of their crop): where the matte is 0,
    ``cv2.blendLinear`` gives the background exactly (bg / (1 + 1e-5) rounds back to bg for
    every value), so the bytes are those of blending the whole crop."""
    import cv2

    out = np.empty_like(crop)
    # one row of the colour copied down (numpy broadcasting a (3,) colour is ~10 ms at 1024²)
    out[:] = np.tile(np.array(list(background_rgb)[::-1], np.uint8), (crop.shape[1], 1))
    if alpha.size:
        out[part] = cv2.blendLinear(crop[part], out[part], alpha, 1.0 - alpha)
    return out


def crop_person(
    image: np.ndarray,
    seg: Segmentation,
    settings: RemoveBgSettings,
    window: CropWindow | None = None,
) -> tuple[np.ndarray, np.ndarray, CropWindow]:
    """The square crop of one segmented frame: the person over ``settings.background``
    ((size, size, 3) uint8 BGR), the soft matte in the crop ((size, size) float32 in
    [0, 1]; with ``crop_file: matte``, quantised to 8 bits as stored, so that the crop
    rebuilt from it is this one) and the crop window (by default the one around the
    person, as the stage crops). Shared by the stage and the one-image pipelines."""
    alpha, _, window = crop_alpha(seg, settings, window)
    assert alpha is not None
    return blend_crop(image, alpha, window, settings.background), alpha, window


def crop_alpha(
    seg: Segmentation,
    settings: RemoveBgSettings,
    window: CropWindow | None = None,
    blend: bool = True,
) -> tuple[np.ndarray | None, np.ndarray, CropWindow]:
    """:func:`crop_person`'s matte (None without ``blend``: remove-bg blends no crop with
    ``crop_file: matte``, the crop is rebuilt when read) and window, and the matte as
    stored ((size, size) uint8, 255 = person)."""
    import cv2

    if seg.matte is None or seg.box is None:
        raise ValueError("crop_person needs a segmentation that found a person")
    if window is None:
        window = CropWindow.around(seg.box, settings.margin, settings.size)
    # area and linear resampling are convex: the matte stays in [0, 1]
    alpha = window.cut(
        seg.matte, 0.0, cv2.INTER_AREA if window.side > window.size else cv2.INTER_LINEAR
    )
    alpha8 = stored_matte(alpha, unit=True)
    if not blend:
        return None, alpha8, window
    if settings.crop_file == "matte":  # the stored value back, as the blend takes it
        return matte_from_uint8(alpha8), alpha8, window
    return alpha, alpha8, window


def landmark_input(
    image: np.ndarray, seg: Segmentation, window: CropWindow, settings: RemoveBgSettings
) -> np.ndarray:
    """What the landmark pass on the crop looks at (:func:`landmarks_on_crop`): the crop
    window of ``image`` ((H, W, 3) uint8 BGR) with the other people's pixels (``seg.others``)
    and the part beyond the frame replaced by ``settings.background``, the kept person's
    surroundings kept: (size, size, 3) uint8 BGR.

    Not the composite (the person over the background colour): there the matte's edge
    cuts into the limbs and a limb of the background's colour (white shoes, socks) loses its
    outline, and the landmarks move off the joints (the fit benchmark's dev clips, ankles
    most: ``docs/perception.md``)."""
    import cv2

    if seg.others is None:  # alone: the window, beyond the frame in the background colour
        return window.cut(image, np.array(settings.background[::-1], np.uint8))
    interpolation = cv2.INTER_AREA if window.side > window.size else cv2.INTER_LINEAR
    alpha = window.cut(1.0 - seg.others, 0.0, interpolation)
    return blend_crop(image, alpha, window, settings.background)


def mirror_look(mirror_pass: bool | str, pos: int) -> bool:
    """Whether frame ``pos``'s crop landmarks take the mirror look (``mirror_pass``: true,
    every frame; alternate, the odd frames; false, none)."""
    return mirror_pass is True or (mirror_pass == "alternate" and pos % 2 == 1)


def crop_landmarks(
    image: np.ndarray,
    seg: Segmentation,
    window: CropWindow,
    person: PersonDetection,
    settings: RemoveBgSettings,
    mirror: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The kept person's (33, 5) landmarks and (33, 4) world landmarks for the crop (of
    ``image``, (H, W, 3) uint8 BGR). With ``settings.reuse_follow_look``, where the look at
    the crop would see what the follow look saw, the frame's pixels only (the person alone
    in the frame, ``seg.others`` None, and the window inside the frame: no background
    colour), the follow look's, moved as the look at the crop would move them
    (:func:`~hpt_data.perception.follow.landmarks_on_frame`: one landmark run less);
    elsewhere found again on :func:`landmark_input`
    (:func:`~hpt_data.perception.follow.landmarks_on_crop`). ``mirror``: the follow look
    averaged with its mirror look (:func:`mirror_look`; None: ``mirror_pass`` true); with
    ``mirror_pass: alternate`` a follow look alone is moved to where that mean would sit
    (``centred``); the look at the crop is two looks with ``mirror_pass`` true or alternate."""
    from hpt_data.perception.follow import landmarks_on_crop, landmarks_on_frame

    h, w = image.shape[:2]
    x0, y0, x1, y1 = window.x0, window.y0, window.x0 + window.side, window.y0 + window.side
    inside = x0 >= 0 and y0 >= 0 and x1 <= w and y1 <= h
    alone = seg.others is None and person.world is not None
    if settings.reuse_follow_look and alone and inside:
        twice = settings.mirror_pass is True if mirror is None else mirror
        centred = settings.mirror_pass == "alternate" and not twice
        return landmarks_on_frame(image, window, person, twice, centred)
    look = landmark_input(image, seg, window, settings)
    return landmarks_on_crop(look, window, person, settings.mirror_pass is not False)
