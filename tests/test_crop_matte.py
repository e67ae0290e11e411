"""remove-bg's ``crop_file: matte``: no colour crop on disk, the crop rebuilt from the
frame and the 8-bit matte when read, bit for bit the one remove-bg blended, and within one
grey level of the colour crop ``crop_file: image`` writes."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from frames_for_tests import portrait_frames, write_video

from hpt_data.crop import CropWindow
from hpt_data.errors import StageError
from hpt_data.sources.base import VideoRecord
from hpt_data.stages._crop_matte import (
    blend_crop,
    crop_person,
    landmark_input,
    matte_from_uint8,
    quantise_matte,
    rebuild_crop,
)
from hpt_data.stages.base import StageContext
from hpt_data.stages.outputs import Crops
from hpt_data.stages.remove_bg import RemoveBackground, RemoveBgSettings, Segmentation
from hpt_data.stages.sample_frames import SampleFrames, SampleFramesSettings


def _segmentation(h: int, w: int) -> Segmentation:
    """A soft elliptic matte (edges between 0 and 1) and its box, in an (h, w) frame."""
    sharp = np.zeros((h, w), np.uint8)
    cv2.ellipse(sharp, (w // 2, h // 2), (w // 5, h // 3), 15, 0, 360, 255, -1)
    matte = cv2.GaussianBlur(sharp.astype(np.float32) / 255, (0, 0), 3)
    ys, xs = np.nonzero(matte >= 0.5)
    box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    return Segmentation(None, matte, box, [], {})


def test_rebuilt_crop_equals_the_blend_bit_for_bit() -> None:
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    seg = _segmentation(240, 320)
    for size in (64, 512):  # the window shrunk, and enlarged
        matte = RemoveBgSettings(size=size, background=[10, 20, 30], crop_file="matte")
        crop, alpha, window = crop_person(frame, seg, matte)
        alpha8 = quantise_matte(alpha)[0]
        stored = CropWindow.from_json(window.to_json())  # as frames.json gives it back
        assert np.array_equal(rebuild_crop(frame, alpha8, stored, matte.background), crop)
        image = RemoveBgSettings(size=size, background=[10, 20, 30])
        colour, soft, _ = crop_person(frame, seg, image)
        assert np.abs(colour.astype(np.int16) - crop).max() <= 1  # the 8-bit matte's step
        assert np.array_equal(quantise_matte(soft)[0], alpha8)  # the same stored matte


def _remove_bg(folder: Path, video: Path, **settings: object) -> Crops:
    """sample-frames (every frame) then remove-bg, in a video folder's layout."""
    record = VideoRecord(video.stem, "p0", "test", str(video))
    frames, out = folder / "sample-frames", folder / "remove-bg"
    frames.mkdir(parents=True)
    out.mkdir()
    SampleFrames(SampleFramesSettings(mode="stride")).run(StageContext(record, {}, frames))
    stage = RemoveBackground(RemoveBgSettings(**settings))  # type: ignore[arg-type]
    stage.run(StageContext(record, {"sample-frames": frames}, out))
    return Crops.read(out)


def test_matte_crops_read_as_the_colour_crops(tmp_path: Path) -> None:
    clip = write_video(tmp_path / "hopper.avi", portrait_frames(3), 10, "FFV1")
    image = _remove_bg(tmp_path / "image", clip, size=256, max_edge_cut=1.0, crop_file="image")
    matte = _remove_bg(tmp_path / "matte", clip, size=256, max_edge_cut=1.0)  # the default
    out = tmp_path / "matte" / "remove-bg"
    assert not (out / "image").exists() and matte.crop_file == "matte"
    assert image.crop_file == "image"
    assert sum(e.has_crop for e in matte.frames) == 3
    for a, b in zip(image.frames, matte.frames, strict=True):
        assert b.image is None and b.alpha and a.crop == b.crop
        assert (tmp_path / "image" / "remove-bg" / a.mask).read_bytes() == (
            out / b.mask
        ).read_bytes()
        colour, rebuilt = image.image(a), matte.image(b)
        assert rebuilt.shape == colour.shape == (256, 256, 3)
        assert np.abs(rebuilt.astype(np.int16) - colour).max() <= 1
        # write-shards' read: the matte decoded once, the mask taken from it
        for crops, entry in ((image, a), (matte, b)):
            both = crops.image_and_mask(entry)
            mask = crops.mask(entry)
            assert mask is not None and both[1] is not None and both[1].dtype == mask.dtype
            assert np.array_equal(both[0], crops.image(entry)) and np.array_equal(both[1], mask)
    damaged = out / matte.frames[1].mask  # a mask file that cannot be decoded: named
    damaged.write_bytes(damaged.read_bytes()[:20])
    with pytest.raises(StageError, match=re.escape(f"{damaged}: cannot read the image")):
        matte.mask(matte.frames[1])
    (out / matte.frames[0].mask).unlink()  # no mask file: no mask, as Crops.mask says
    assert matte.image_and_mask(matte.frames[0])[1] is None
    assert matte.mask(matte.frames[0]) is None
    clip_set = out / "clips" / "p1"  # a person clip's crop set (person: all), read in place
    shutil.move(shutil.copytree(out, tmp_path / "p1"), clip_set)
    in_place = Crops.read(clip_set)
    assert np.array_equal(in_place.image(in_place.frames[0]), matte.image(matte.frames[0]))


def test_landmark_input_keeps_the_surroundings_and_drops_the_others() -> None:
    """The landmark pass on the crop sees the frame around the person (not the composite:
    a matte edge or a limb of the background's colour moved the points), with only what
    another person claims and what lies beyond the frame in the background colour."""
    rng = np.random.default_rng(5)
    h, w = 240, 320
    frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    seg = _segmentation(h, w)
    others = np.zeros((h, w), np.float32)
    others[:, 200:] = 1.0  # someone on the right
    seg.others = others
    settings = RemoveBgSettings(size=256, background=[10, 20, 30])
    window = CropWindow(-40, -20, 280, 256)  # beyond the frame's top and left
    got = landmark_input(frame, seg, window, settings)
    scene = window.cut(frame, 0)  # as remove-bg cuts the crop
    bg = np.array([30, 20, 10], np.uint8)  # BGR
    pts = window.to_crop(np.array([[20.0, 120.0], [150.0, 10.0], [60.0, 220.0]]))
    for x, y in np.rint(pts).astype(int):  # off the person, in the frame, nobody else's
        assert seg.matte[int(y / window.scale) - 20, int(x / window.scale) - 40] < 0.01
        assert np.array_equal(got[y, x], scene[y, x])
    beyond = window.to_crop(np.array([[-20.0, 100.0], [100.0, -10.0]]))
    claimed = window.to_crop(np.array([[220.0, 120.0], [230.0, 30.0]]))
    for x, y in np.rint(np.concatenate([beyond, claimed])).astype(int):
        assert np.array_equal(got[y, x], bg)
    # the kept person's own matte plays no part
    seg.matte = np.zeros_like(seg.matte)
    assert np.array_equal(landmark_input(frame, seg, window, settings), got)
    seg.others = None  # alone: the whole window of the frame
    alone = landmark_input(frame, seg, window, settings)
    for x, y in np.rint(np.concatenate([pts, claimed])).astype(int):
        assert np.array_equal(alone[y, x], scene[y, x])
    for x, y in np.rint(beyond).astype(int):
        assert np.array_equal(alone[y, x], bg)


def test_the_crop_blended_in_the_mattes_box_is_the_whole_crop_blended() -> None:
    """Only the matte's nonzero box is blended: the bytes are those of ``cv2.blendLinear``
    over the whole crop (where the matte is 0 it gives the background exactly), for every
    background value, a matte that dips below 0 (a cubic resampling), an empty matte,
    and the crop rebuilt from the stored 8-bit matte."""
    rng = np.random.default_rng(11)
    frame = rng.integers(0, 256, (300, 260, 3), dtype=np.uint8)
    window = CropWindow(20, 30, 200, 256)

    def whole(alpha: np.ndarray, rgb: tuple[int, int, int]) -> np.ndarray:
        crop = window.cut(frame, 0)
        bg = np.empty_like(crop)
        bg[:] = rgb[::-1]
        return cv2.blendLinear(crop, bg, alpha, 1.0 - alpha)

    alpha = np.zeros((256, 256), np.float32)
    alpha[60:200, 90:150] = rng.random((140, 60), dtype=np.float32)
    alpha[100, 40] = -0.01  # below 0, outside the main blob
    for value in range(256):
        rgb = (value, 255 - value, (value * 7) % 256)
        assert np.array_equal(blend_crop(frame, alpha, window, rgb), whole(alpha, rgb))
    empty = np.zeros((256, 256), np.float32)
    assert np.array_equal(blend_crop(frame, empty, window, (0, 255, 0)), whole(empty, (0, 255, 0)))
    alpha8 = (alpha.clip(0, 1) * 255).round().astype(np.uint8)
    got = rebuild_crop(frame, alpha8, window, (255, 255, 255))
    assert np.array_equal(got, whole(matte_from_uint8(alpha8), (255, 255, 255)))
