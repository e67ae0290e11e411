"""remove-bg version 10 (``reuse_follow_look``): where the look at the crop would see what
the follow look saw (the kept person alone in the frame, the crop window inside it), the
crop's landmarks are the follow look's and its mirror look's on the frame, moved by the
sampling offset the look at the crop adds (½(1 − 1/k) source pixels down, the crop k times
the frame): one landmark-model run a frame less. Elsewhere the crop pass runs as before. On
the real astronaut photo on a white canvas (the window inside), the two agree on the face
and shoulders within the model's own noise between two samplings (measured: 1.4 px at
most, 0.3 median)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from hpt_data.crop import CropWindow
from hpt_data.perception import people as people_module
from hpt_data.perception.follow import landmarks_on_crop, landmarks_on_frame
from hpt_data.perception.tflite import TfliteModel
from hpt_data.stages._crop_matte import crop_landmarks, landmark_input
from hpt_data.stages.remove_bg import RemoveBgSettings, find_frame_people, segment_kept

PHOTO = Path(__file__).parent / "data" / "real" / "astronaut.jpg"
#: the face and shoulders: the points this portrait shows whole
SEEN = [0, 2, 5, 7, 8, 11, 12]
PAD = 200  # white canvas around the photo: the crop window lies inside it


def _setup(pad: int) -> tuple:
    photo = cv2.imread(str(PHOTO))
    image = cv2.copyMakeBorder(photo, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(255,) * 3)
    s = RemoveBgSettings()
    people = find_frame_people(image, s)
    assert people, "the astronaut is found"
    seg = segment_kept(image, people, 0, s)
    assert seg.box is not None and seg.others is None
    return image, seg, CropWindow.around(seg.box, s.margin, s.size), people[0], s


@pytest.fixture(scope="module")
def canvas() -> tuple:
    return _setup(PAD)


def _crop_pass(image, seg, window, person, s) -> tuple[np.ndarray, np.ndarray]:
    return landmarks_on_crop(landmark_input(image, seg, window, s), window, person, True)


def test_the_follow_look_agrees_with_the_crop_pass(canvas: tuple) -> None:
    image, seg, window, person, s = canvas
    assert s.reuse_follow_look and s.mirror_pass  # the defaults
    assert window.x0 >= 0 and window.y0 >= 0 and window.x0 + window.side <= image.shape[1]
    two, world = crop_landmarks(image, seg, window, person, s)
    three, _ = crop_landmarks(
        image, seg, window, person, dataclasses.replace(s, reuse_follow_look=False)
    )
    gap = np.linalg.norm((two - three)[SEEN, :2], axis=1)
    assert gap.max() < 3.0 and np.median(gap) < 0.75, gap  # source pixels
    assert np.array_equal(world, person.world)  # the follow look's


def test_one_landmark_run_less(canvas: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    image, seg, window, person, s = canvas
    runs = []  # the landmark model's runs, whole or without its mask (TfliteModel.without)
    run = TfliteModel.run
    monkeypatch.setattr(TfliteModel, "run", lambda *a, **k: runs.append(1) or run(*a, **k))
    crop_landmarks(image, seg, window, person, s)
    assert len(runs) == 1  # the mirror look alone
    crop_landmarks(image, seg, window, person, dataclasses.replace(s, reuse_follow_look=False))
    assert len(runs) == 3  # the look at the crop and its mirror look


def test_the_sampling_offset_is_added(canvas: tuple) -> None:
    """Alone, the follow look moved by ½(1 − 1/k) right and down; with the mirror look,
    their mean moved down only (the mirror cancels the x part)."""
    image, _, window, person, _ = canvas
    shift = 0.5 * (1 - 1 / window.scale)
    assert 0.1 < shift < 0.5
    one, _ = landmarks_on_frame(image, window, person, mirror=False)
    assert np.allclose(one[:, :2], person.landmarks[:, :2] + shift)
    assert np.array_equal(one[:, 2:], person.landmarks[:, 2:])
    both, _ = landmarks_on_frame(image, window, person, mirror=True)
    seen = people_module.landmarks_in_roi(
        image, person.roi, people_module.landmark_model(), bgr=True, mirror=True
    )
    mean = (person.landmarks[:, :2] + seen.landmarks[:, :2]) / 2
    assert np.allclose(both[:, :2], mean + np.array([0.0, shift]))


def test_the_crop_pass_stays_where_others_were_painted_out(canvas: tuple) -> None:
    image, seg, window, person, s = canvas
    crowded = dataclasses.replace(seg, others=np.zeros(image.shape[:2], np.float32))
    got = crop_landmarks(image, crowded, window, person, s)
    want = _crop_pass(image, crowded, window, person, s)
    assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))


def test_the_crop_pass_stays_where_the_window_leaves_the_frame() -> None:
    """The photo as it is: the portrait's window reaches beyond it (the look at the crop
    sees the background colour there, the follow look the frame's edge repeated)."""
    image, seg, window, person, s = _setup(0)
    assert window.x0 < 0 or window.y0 < 0 or window.x0 + window.side > image.shape[1]
    got = crop_landmarks(image, seg, window, person, s)
    want = _crop_pass(image, seg, window, person, s)
    assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))
