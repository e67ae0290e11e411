"""remove-bg's ``mirror_pass: alternate``: the mirror look on every other frame (the odd
ones), one look on the others moved to where its mean with the mirror look would sit
(MediaPipe's sampling puts the plain look ``(r cos θ − 1, r sin θ) / 2`` frame pixels from
that mean, ``r`` the region's frame pixels a tensor pixel): half a landmark run a frame
less than ``true``. The look at the crop (others painted out, a window leaving the frame)
keeps both looks. Measured on the astronaut photo on a white canvas (the window inside):
the moved look sits 0.1 / 0.2 px (x / y, median of the face and shoulders) from the mean,
the look as it is 1.1 / 0.5 px."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from frames_for_tests import write_video

from hpt_data.crop import CropWindow
from hpt_data.perception.follow import landmarks_on_frame
from hpt_data.perception.tflite import TfliteModel
from hpt_data.sources.base import VideoRecord
from hpt_data.stages._crop_matte import crop_landmarks, mirror_look
from hpt_data.stages.base import StageContext
from hpt_data.stages.outputs.people import People
from hpt_data.stages.remove_bg import (
    RemoveBackground,
    RemoveBgSettings,
    find_frame_people,
    segment_kept,
)
from hpt_data.stages.sample_frames import SampleFrames, SampleFramesSettings

PHOTO = Path(__file__).parent / "data" / "real" / "astronaut.jpg"
SEEN = [0, 2, 5, 7, 8, 11, 12]  # the face and shoulders: the points the portrait shows whole
PAD = 200  # white canvas around the photo: the crop window lies inside it


def _canvas(shift: int = 0) -> np.ndarray:
    photo = cv2.imread(str(PHOTO))
    left, right = PAD + shift, PAD - shift
    return cv2.copyMakeBorder(photo, PAD, PAD, left, right, cv2.BORDER_CONSTANT, value=(255,) * 3)


@pytest.fixture(scope="module")
def astronaut() -> tuple:
    image = _canvas()
    s = RemoveBgSettings(mirror_pass="alternate")
    people = find_frame_people(image, s)
    assert people, "the astronaut is found"
    seg = segment_kept(image, people, 0, s)
    return image, seg, CropWindow.around(seg.box, s.margin, s.size), people[0], s


def test_which_frames_take_the_mirror_look() -> None:
    assert [mirror_look("alternate", pos) for pos in range(4)] == [False, True, False, True]
    assert all(mirror_look(True, pos) for pos in range(4))
    assert not any(mirror_look(False, pos) for pos in range(4))


def test_the_single_look_is_moved_to_the_mean(astronaut: tuple) -> None:
    image, _, window, person, _ = astronaut
    mean, _ = landmarks_on_frame(image, window, person, mirror=True)
    moved, world = landmarks_on_frame(image, window, person, mirror=False, centred=True)
    plain, _ = landmarks_on_frame(image, window, person, mirror=False)
    r, rot = person.roi[2] / 256, person.roi[3]
    assert r > 2  # a region of over 512 frame pixels: the offset is worth a pixel here
    shift = 0.5 * (1 - 1 / window.scale)
    want = person.landmarks[:, :2] + [(1 - r * np.cos(rot)) / 2, shift - r * np.sin(rot) / 2]
    assert np.allclose(moved[:, :2], want)
    assert np.array_equal(moved[:, 2:], person.landmarks[:, 2:])
    assert np.array_equal(world, person.world)
    off_moved = np.median(moved[SEEN, :2] - mean[SEEN, :2], axis=0)
    off_plain = np.median(plain[SEEN, :2] - mean[SEEN, :2], axis=0)
    assert abs(off_moved[0]) < 0.5 < abs(off_plain[0]), (off_moved, off_plain)
    assert np.linalg.norm(off_moved) < np.linalg.norm(off_plain)


def test_odd_frames_look_twice_even_frames_once(
    astronaut: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    image, seg, window, person, s = astronaut
    runs = []  # the landmark model's runs, whole or without its mask (TfliteModel.without)
    run = TfliteModel.run
    monkeypatch.setattr(TfliteModel, "run", lambda *a, **k: runs.append(1) or run(*a, **k))
    crop_landmarks(image, seg, window, person, s, mirror_look(s.mirror_pass, 0))
    assert len(runs) == 0  # the follow look alone
    crop_landmarks(image, seg, window, person, s, mirror_look(s.mirror_pass, 1))
    assert len(runs) == 1  # and its mirror look
    crowded = dataclasses.replace(seg, others=np.zeros(image.shape[:2], np.float32))
    crop_landmarks(image, crowded, window, person, s, mirror_look(s.mirror_pass, 0))
    assert len(runs) == 3  # others painted out: the look at the crop and its mirror, as before


def _remove_bg(tmp: Path, video: Path, mirror_pass) -> tuple[Path, People]:
    record = VideoRecord(video.stem, "p0", "test", str(video))
    frames, out = tmp / "sample-frames", tmp / "remove-bg"
    if not frames.exists():
        frames.mkdir(parents=True)
        SampleFrames(SampleFramesSettings(mode="stride")).run(StageContext(record, {}, frames))
    out.mkdir(exist_ok=True)
    stage = RemoveBackground(RemoveBgSettings(mirror_pass=mirror_pass))
    stage.run(StageContext(record, {"sample-frames": frames}, out))
    return out, People.read(out)


@pytest.mark.slow
def test_a_clip_alternates_and_a_rerun_gives_the_same_landmarks(tmp_path: Path) -> None:
    """Four frames of the astronaut moving 4 px a frame: with ``alternate`` frames 1 and 3
        are ``true``'s to the bit, frames 0 and 2 the single look near it (the model's noise
    between two looks: the mirror look moves the cut-off right shoulder 5 px); a frame
        redone alone (its mask deleted) gets the landmarks the first run gave it."""
    video = write_video(tmp_path / "astronaut.avi", [_canvas(4 * i) for i in range(4)], 10, "FFV1")
    _, both = _remove_bg(tmp_path / "true", video, True)
    out, alt = _remove_bg(tmp_path / "alt", video, "alternate")
    assert np.array_equal(alt.kept, both.kept) and (alt.kept >= 0).all()
    for pos in (1, 3):
        assert np.array_equal(alt.crop_landmarks[pos], both.crop_landmarks[pos])
    index = json.loads((out / "frames.json").read_text())["frames"]
    for pos in (0, 2):  # the follow look (people.npz's row), moved as the test above says
        row = alt.kept[pos]
        r, rot = alt.rois[row, 2] / 256, alt.rois[row, 3]
        shift = 0.5 * (1 - 1 / index[pos]["crop"]["scale"])
        move = [(1 - r * np.cos(rot)) / 2, shift - r * np.sin(rot) / 2]
        want = alt.landmarks[row, :, :2].astype(np.float64) + move
        assert np.allclose(alt.crop_landmarks[pos, :, :2], want, atol=1e-3)
        gap = np.linalg.norm((alt.crop_landmarks[pos] - both.crop_landmarks[pos])[SEEN, :2], axis=1)
        assert 0 < np.median(gap) < 4.0, gap  # the model's noise between two looks
    first = alt.crop_landmarks.copy()
    (out / index[2]["mask"]).unlink()
    _, again = _remove_bg(tmp_path / "alt", video, "alternate")
    assert (out / index[2]["mask"]).is_file()  # redone
    assert np.array_equal(again.crop_landmarks, first)
