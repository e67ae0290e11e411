"""remove-bg's landmark pass on the crop looks at the region and at its mirror image
(``mirror_pass``, remove-bg version 9): on a real photograph and the same photograph
flipped left to right, the crop's landmarks are each other's mirror image.

One look alone is not: MediaPipe's sampling (``MEDIAPIPE_SAMPLING``) puts the model's
points about half a sampled pixel right and down of where pixel-centre sampling would, so
the look at a flipped photo, flipped back, sits that far to the *left*: 0.3-1.4 source
pixels on the fit benchmark's dev clips (docs/perception.md, "Where the crop pass's
points sit")."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from hpt_data.crop import CropWindow
from hpt_data.perception.follow import landmarks_on_crop
from hpt_data.perception.heatmap import MIRROR_ORDER
from hpt_data.perception.people import landmarks_in_roi
from hpt_data.stages._crop_matte import landmark_input
from hpt_data.stages.remove_bg import RemoveBgSettings, find_frame_people, segment_kept

PHOTO = Path(__file__).parent / "data" / "real" / "astronaut.jpg"
#: shoulders to wrists and the face: the points inside this portrait
SEEN = [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16]


@pytest.fixture(scope="module")
def both_ways() -> dict:
    """The crop pass's inputs for the photo and for its mirror image."""
    image = cv2.imread(str(PHOTO))
    s = RemoveBgSettings()
    people = find_frame_people(image, s)
    assert people, "the astronaut is found"
    seg = segment_kept(image, people, 0, s)
    assert seg.box is not None
    window = CropWindow.around(seg.box, s.margin, s.size)
    look = landmark_input(image, seg, window, s)
    width = image.shape[1]
    flipped_window = CropWindow(width - window.x0 - window.side, window.y0, window.side, s.size)
    roi = np.array(people[0].roi, np.float64)
    roi[0], roi[3] = width - roi[0], -roi[3]
    return {
        "width": width,
        "plain": (look, window, people[0]),
        "flipped": (cv2.flip(look, 1), flipped_window, dataclasses.replace(people[0], roi=roi)),
    }


def unflip(lms: np.ndarray, width: int) -> np.ndarray:
    """Landmarks found on the flipped photo, as points of the photo: x mirrored, the
    person's left and right swapped."""
    out = lms[MIRROR_ORDER[:33]].copy()
    out[:, 0] = width - out[:, 0]
    return out


def test_crop_landmarks_of_a_mirrored_photo_are_mirrored(both_ways: dict) -> None:
    mirror = RemoveBgSettings().mirror_pass  # the stage's default
    assert mirror
    a, _ = landmarks_on_crop(*both_ways["plain"], mirror)
    b, _ = landmarks_on_crop(*both_ways["flipped"], mirror)
    gap = np.abs(unflip(b, both_ways["width"])[SEEN, :2] - a[SEEN, :2])
    assert gap.max() < 0.05, gap  # source pixels (the crop is ~2x the photo's)


def test_one_look_alone_is_off_to_one_side(both_ways: dict) -> None:
    """Without the mirrored look, the flipped photo's points sit left of the photo's (the
    sampling offset, twice): what the mirrored look cancels."""
    a, _ = landmarks_on_crop(*both_ways["plain"], False)
    b, _ = landmarks_on_crop(*both_ways["flipped"], False)
    dx = unflip(b, both_ways["width"])[SEEN, 0] - a[SEEN, 0]
    assert np.median(dx) < -0.15, dx


def test_a_mirrored_look_gives_no_mask() -> None:
    from hpt_data.perception.follow import landmark_model

    with pytest.raises(ValueError, match="mirrored"):
        landmarks_in_roi(
            np.zeros((64, 64, 3), np.uint8),
            np.array([32.0, 32.0, 64.0, 0.0, 25.0]),
            landmark_model(),
            mask=True,
            mirror=True,
        )
